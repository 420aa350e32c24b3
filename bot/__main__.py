"""`python -m bot` runs the bot; `python -m bot check` validates the configuration without Telegram."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from services.catalog import CatalogError, load_catalog
from services.settings import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("command", nargs="?", choices=("run", "check"), default="run")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        catalog = load_catalog(settings.catalog_path)
    except (ConfigError, CatalogError) as error:
        print(error, file=sys.stderr)
        print("See .env.example and README.md for every setting.", file=sys.stderr)
        return 2

    if args.command == "check":
        from bot.check import report

        text, usable = report(settings, catalog)
        print(text)
        return 0 if usable else 1

    from bot.app import run

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(settings, catalog))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
