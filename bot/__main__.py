"""`python -m bot` runs the bot; `python -m bot check` validates the configuration without Telegram;
`python -m bot health` tells whether the running bot's heartbeat is fresh (the container health check);
`python -m bot generate ...` and `python -m bot batch FILE.jsonl ...` make videos for the operator
(bot/cli.py; `python -m bot generate --help`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.exit_status import ExitCode
from services.catalog import CatalogError, load_catalog
from services.providers.registry import DESCRIPTORS
from services.settings import ConfigError, load_settings

log = logging.getLogger("bot")

#: Subcommands of the operator CLI, handed to bot/cli.py with their own flags.
OPERATOR_COMMANDS = ("generate", "batch")


def main(argv: list[str] | None = None) -> int:
    """The exit status is an ExitCode (README, "Exit status")."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in OPERATOR_COMMANDS:
        from bot.cli import main as operator_main

        return operator_main(argv)
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("command", nargs="?", choices=("run", "check", "health"), default="run")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        catalog = load_catalog(settings.catalog_path, providers=DESCRIPTORS)
    except (ConfigError, CatalogError) as error:
        print(error, file=sys.stderr)
        print("See .env.example and README.md for every setting.", file=sys.stderr)
        return ExitCode.CONFIG

    if args.command == "check":
        from bot.check import check

        return check(settings, catalog)

    if args.command == "health":
        from services.heartbeat import check_health

        return check_health(settings)

    from bot.app import run
    from bot.startup import RedactingFormatter, describe_failure

    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", settings))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    try:
        asyncio.run(run(settings, catalog))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return ExitCode.CONFIG
    except KeyboardInterrupt:
        pass
    except Exception as error:
        log.debug("the bot stopped on this error", exc_info=error)
        failure = describe_failure(error, settings)
        print(failure, file=sys.stderr)
        return failure.code
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
