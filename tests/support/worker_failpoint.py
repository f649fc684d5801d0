"""`hub worker` that SIGKILLs itself between a commit's state write and the offset commit.

The crash the state cache must survive: the changed customer states (and the clocks) of
everything processed so far are in the changelog, acknowledged by Kafka, while the input
offsets that produced them are not committed. Armed by a file: the first commit after
``HUB_FAILPOINT_ARMED`` (a path) exists is the last one.

    python tests/support/worker_failpoint.py
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from faust.types import TP

from streams.settings import Settings
from streams.worker.app import HubWorker
from streams.worker.cli import run
from streams.worker.topics import ensure_worker_topics


def kill_after_state_write(worker: HubWorker, armed: Path) -> None:
    async def hook(
        offsets: Mapping[TP, int],
    ) -> None:  # runs after the worker's own hook: the states are written
        if not armed.exists():
            return
        await worker.customers.acknowledged()
        await worker.clock_table.acknowledged()
        logging.getLogger("insurance_hub.worker").warning(
            "failpoint kill-after-state-write: SIGKILL after the state write, before the commit"
        )
        os.kill(os.getpid(), signal.SIGKILL)

    worker.app.before_commit.append(hook)


def main() -> int:
    settings = Settings.from_env()
    armed = Path(os.environ["HUB_FAILPOINT_ARMED"])
    ensure_worker_topics(settings)
    run(settings, lambda worker: kill_after_state_write(worker, armed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
