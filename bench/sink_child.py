"""One sink drain in a process of its own, for ``bench_sink.py``'s drain (not a test).

    python bench/sink_child.py TREE        # settings from HUB_* (support.clickhouse.sink_env)

Runs ``ClickHouseSink`` from the source tree ``TREE`` (put first on ``sys.path``, so an older
checkout's sink can be measured against this one's on the same backlog) until it has been
idle for 1 s, and prints one JSON line: records read, rows landed, the first record's and
last acknowledgement's times, and the process's CPU seconds over the run. Imports nothing
from this repository's ``bench/`` or ``tests/`` (they would put this tree's packages first).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any


class Timing:
    """The sink's ``after_insert`` hook: when it took its first record (time.monotonic), when
    each batch was acknowledged, and the process's CPU time at the last acknowledgement."""

    def __init__(self) -> None:
        self.first_record: float | None = None
        self.last_ack = 0.0
        self.cpu_at_last_ack = 0.0
        self.threads_at_last_ack: dict[str, float] = {}
        self.latencies_ms: list[float] = []
        self.inserts = 0

    def __call__(self, batch: Any) -> None:
        now_ms = time.time() * 1000
        self.last_ack = time.monotonic()
        self.cpu_at_last_ack = time.process_time()
        self.threads_at_last_ack = _thread_cpu()
        if batch.first_at is not None:
            self.first_record = min(self.first_record or batch.first_at, batch.first_at)
        self.inserts += 1
        self.latencies_ms.extend(now_ms - m.timestamp_ms for m in batch.metas)


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process so far: ``main`` and the others by id
    (kafka-python's network I/O runs in a thread of its own)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        name = "main" if int(task.name) == os.getpid() else task.name
        out[name] = round((int(fields[11]) + int(fields[12])) / tick, 2)
    return out


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> int:
    tree = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(tree))
    logging.basicConfig(level=logging.ERROR)
    import sinks
    from sinks.clickhouse.sink import ClickHouseSink
    from streams.settings import Settings

    assert Path(sinks.__file__).resolve().is_relative_to(tree), sinks.__file__
    timing = Timing()
    sink = ClickHouseSink(
        Settings.from_env(), serve_metrics=False, migrate_on_start=False, after_insert=timing
    )
    cpu0 = time.process_time()
    done = sink.run(exit_when_idle=1.0)
    cpu = time.process_time() - cpu0
    first = timing.first_record
    out = {
        "tree": str(tree),
        "records": done.records,
        "rows_inserted": done.rows_inserted,
        "rows_rejected": done.rows_rejected,
        "records_skipped": done.records_skipped,
        "inserts": timing.inserts,
        "seconds": None if first is None else timing.last_ack - first,
        # from sink.run's start (group join included: a few ms of CPU) to the last INSERT
        "cpu_seconds": timing.cpu_at_last_ack - cpu0 if timing.inserts else cpu,
        "cpu_seconds_with_idle_exit": cpu,
        "loadavg_end": os.getloadavg(),
        "thread_cpu_seconds_at_last_ack": timing.threads_at_last_ack,
        "peak_rss_mib": _peak_rss_mib(),
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
