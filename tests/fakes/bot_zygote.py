"""A fork server for `python -m bot`: imports the bot once, then forks one real process per request.

Importing aiogram builds ~400 pydantic models (seconds of CPU on the CI machine); the process tests start
the bot about thirty times. Each child is still a real OS process running `python -m bot`'s own
`__main__` with the test's argv, environment, working directory and pipes: signals, exit statuses and
output are its own. Only the imports are shared, done before any thread or event loop exists.

Protocol over the Unix socket given as argv[1]: the client sends a JSON request with three file
descriptors (stdin, stdout, stderr) attached; the server answers `{"pid": N}` and, when the child has
ended, `{"returncode": N}` (negative: killed by that signal), then closes the connection. The server
ends when its stdin reaches EOF, i.e. when the test process that started it is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import os
import random
import runpy
import selectors
import signal
import socket
import sys
import traceback

#: Imported once here, so that no child pays for them: what `python -m bot` imports on its way to run.
#: (Not bot.__main__ itself: runpy runs that fresh in each child, as `-m` does.)
PRELOAD = ("bot.app", "bot.check", "bot.startup", "bot.exit_status", "services.catalog", "services.settings")


def child(request: dict[str, object], fds: list[int]) -> None:
    """Become `python -m bot ARGS` and never return."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
    random.seed()
    sys.argv = ["-m", *map(str, request["args"])]  # type: ignore[call-overload]
    code = 0
    try:
        runpy.run_module("bot", run_name="__main__", alter_sys=True)
    except SystemExit as done:
        if isinstance(done.code, int):
            code = done.code
        elif done.code is not None:
            print(done.code, file=sys.stderr)
            code = 1
    except BaseException:  # as the interpreter does for an uncaught exception
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def serve(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    os.set_blocking(wake_read, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)  # EOF: the test run is over (or died)
    waiting: dict[int, socket.socket] = {}
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sys.stdin:
                if not os.read(sys.stdin.fileno(), 512):
                    return
            elif key.fileobj is listener:
                connection, _ = listener.accept()
                message, fds, _flags, _addr = socket.recv_fds(connection, 1 << 20, 3)
                if not message:  # the client went away before asking
                    for fd in fds:
                        os.close(fd)
                    connection.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    connection.close()
                    child(json.loads(message), fds)
                for fd in fds:
                    os.close(fd)
                connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                waiting[pid] = connection
            else:
                while True:  # drain the wakeup pipe
                    try:
                        if not os.read(wake_read, 512):
                            break
                    except BlockingIOError:
                        break
        while waiting:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            connection = waiting.pop(pid, None)
            if connection is not None:
                answer = {"returncode": os.waitstatus_to_exitcode(status)}
                with contextlib.suppress(OSError):  # the test stopped listening
                    connection.sendall(json.dumps(answer).encode() + b"\n")
                connection.close()


if __name__ == "__main__":
    for name in PRELOAD:
        importlib.import_module(name)
    serve(sys.argv[1])
