"""`hub sink` that SIGKILLs itself after its first acknowledged INSERT, before the commit.

The crash the delivery test recovers from: rows in ClickHouse whose offsets were never
committed. Takes the arguments of ``hub sink``:

    python tests/support/sink_failpoint.py --exit-when-idle 5 --no-metrics
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from sinks.cli import parse, run_sink
from sinks.clickhouse.batching import Buffer
from streams.settings import Settings


def kill_before_commit(batch: Buffer) -> None:
    logging.getLogger("insurance_hub.sink").warning(
        "failpoint kill-before-commit: SIGKILL after the insert, before commit"
    )
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    args = parse(["sink", *argv])
    return run_sink(args, Settings.from_env(), after_insert=kill_before_commit)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
