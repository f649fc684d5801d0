"""The `hub` command: each subcommand lives in the module that does its work."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from streams.settings import Settings

# Modules that define `register(subparsers)`; each sets `func(args, settings) -> int`.
COMMAND_MODULES = (
    "streams.stack.cli",
    "streams.topics",
    "streams.generator.cli",
    "streams.tail",
    "streams.worker",
    "streams.demo",
    "sinks.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="insurance-hub command line")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not exc.name or not name.startswith(exc.name):
                raise
            continue  # a subcommand not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kafka-python logs every connection, and warns when its own admin calls block its loop.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
