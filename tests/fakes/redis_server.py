"""A real `redis-server` for the test session (Debian's `redis-server` package; .ci/run and the README's
test command install it when it is missing), for the FSM storage the bot uses when REDIS_URL is set.

One server per session, started on first use on a free loopback port with its files in a temporary
directory (no persistence), stopped and removed at the end; each test gets it emptied (`redis_url`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A throwaway redis-server on 127.0.0.1; `stop()` ends it and deletes its directory."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: apt-get install -y redis-server (as .ci/run does)"
            )
        root = Path(tempfile.mkdtemp(prefix="videobot-redis-"))
        port = _free_port()
        log = open(root / "redis.log", "wb")  # noqa: SIM115 - owned by the server process
        args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", ""]
        process = subprocess.Popen(
            [binary, *args, "--appendonly", "no", "--daemonize", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        log.close()
        server = cls(root, port, process)
        try:
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout: float = 30.0) -> None:
        """Bounded readiness poll with PING (starting a server is the one place we wait)."""
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self.log_tail()}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not become ready: {self.log_tail()}")
                time.sleep(0.05)
        finally:
            client.close()

    def log_tail(self) -> str:
        try:
            return (self.root / "redis.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def flush(self) -> None:
        with redis.Redis(host="127.0.0.1", port=self.port) as client:
            client.flushall()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
