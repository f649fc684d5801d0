"""The `hub` command: each subcommand lives in the module that does its work."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from streams.settings import Settings

# Modules that define `register(subparsers)`; each sets `func(args, settings) -> int`.
COMMAND_MODULES = (
    "streams.ops.stack.cli",
    "streams.ops.topics",
    "streams.simulator.cli",
    "streams.ops.tail",
    "streams.worker.cli",
    "streams.ops.demo",
    "sinks.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="insurance-hub command line")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kafka-python logs every connection attempt (errors while a broker starts, too); the
    # hub reports what matters itself.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
