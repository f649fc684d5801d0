"""Worker start-up: seconds from ``hub worker``'s process start to its first consumed event.

Not a test. Each repetition is a fresh deployment (bench/common.py ``isolated``: a new topic
prefix, a new app id so a brand-new consumer group with no commits, its own state
directory): its topics are created just before (``ensure_worker_topics``, which ``hub
worker`` also runs itself), ``hub worker`` starts as a subprocess, a few valid events are
published to an input topic, and the worker's ``/metrics`` is polled every 0.1 s until
``hub_worker_events_consumed_total`` is above 0. Also read from the worker's log: when Faust
logged "Worker ready", and how long its "Seek stream partitions to committed offsets" step
took. Each deployment's topics and groups are deleted afterwards.

When the events are published matters. By default (``--publish ready``) the worker starts
on empty topics, as on a fresh stack where it comes up before the sources publish, and the
events go out once it logged Ready. ``--publish before`` gives it a backlog instead; then
aiokafka holds prefetched records while Faust starts, and fetches that would otherwise
long-poll on empty partitions, delaying start-up, are not sent: that mode can hide the
start-up delay this benchmark was written for (streams/worker/faust_app.py,
``seek_all_to_committed``).

Reported: median and min-max of each figure, with the machine's load average
(``os.getloadavg``) before each run and the busy cores during it. JSON on stdout, progress
and a summary on stderr.

    .venv/bin/python bench/bench_start.py                 # 3 runs
    .venv/bin/python bench/bench_start.py --repeat 5 --keep
    .venv/bin/python bench/bench_start.py --tree /tmp/old  # another source tree's worker

``--tree DIR`` runs the worker from another checkout (e.g. ``git worktree add --detach
/tmp/old REV``); topics are still created by this tree's ``ensure_worker_topics``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    REPO_ROOT,
    HubProcess,
    MachineLoad,
    cleanup,
    isolated,
    log,
    stats,
    wait_for_broker,
    wait_until,
)
from prometheus_client.parser import text_string_to_metric_families
from support.scenario import event, publish  # tests/support/ (common puts tests/ on the path)

from streams.settings import Settings
from streams.worker.topics import ensure_worker_topics

CONSUMED = "hub_worker_events_consumed"  # the parser drops the counter's _total
SEEK_STARTED = "Seek stream partitions to committed offsets"
READY = "[^---Recovery]: Worker ready"


def consumed(port: int) -> float:
    """Events the worker has accepted so far (0 while its metrics server is not up)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == CONSUMED
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def log_time(log_path: Path, marker: str) -> float | None:
    """Epoch seconds of the first worker log line containing ``marker`` (Faust's format:
    ``[2026-11-30 23:32:13,840] [pid] [INFO] ...``, local time)."""
    for line in log_path.read_text(errors="replace").splitlines():
        if marker in line and line.startswith("["):
            stamp = line[1 : line.index("]")]
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def publish_events(s: Settings, count: int) -> None:
    now = int(time.time() * 1000)
    publish(
        s,
        [
            event("sales", "policy_issued", f"C{i:07d}", now - 1000 + i, policy_id=f"P{i:09d}")
            for i in range(count)
        ],
    )


def one_run(
    base: Settings, work: Path, tree: Path, events: int, when: str, timeout_s: float
) -> dict[str, Any]:
    s = isolated(base, work / "state", "start")
    try:
        ensure_worker_topics(s)
        if when == "before":
            publish_events(s, events)
        load_before = os.getloadavg()
        t0 = time.time()
        proc = HubProcess(s, ["worker"], work / "worker.log", cwd=tree)
        machine = MachineLoad({"worker": proc.proc.pid})
        try:
            if when == "ready":
                logged_ready = lambda: log_time(proc.log, READY) is not None  # noqa: E731
                wait_until(logged_ready, timeout_s, "worker ready", [proc], 0.1)
                publish_events(s, events)
            port = s.prometheus.worker_metrics_port
            first = wait_until(lambda: consumed(port) > 0, timeout_s, "first event", [proc], 0.1)
            t_first = time.time() - (time.monotonic() - first)
            load = machine.done()
        finally:
            proc.stop()
        seek, ready = log_time(proc.log, SEEK_STARTED), log_time(proc.log, READY)
        return {
            "first_event_s": round(t_first - t0, 2),
            "ready_s": round(ready - t0, 2) if ready else None,
            "seek_step_s": round(ready - seek, 2) if ready and seek else None,
            "loadavg_before": [round(x, 2) for x in load_before],
            "machine": load,
        }
    finally:
        cleanup(s)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--events", type=int, default=6, help="events published (policy_issued)")
    ap.add_argument(
        "--publish",
        choices=("ready", "before"),
        default="ready",
        help="publish the events once the worker logged Ready (it starts on empty topics, "
        "the default) or before the worker starts (a backlog waiting for it)",
    )
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per run at most")
    ap.add_argument("--tree", type=Path, default=REPO_ROOT, help="source tree of the worker")
    ap.add_argument("--keep", action="store_true", help="keep the worker logs (path printed)")
    args = ap.parse_args()
    base = Settings.from_env()
    if not wait_for_broker(base):
        log("no broker: run `hub stack up` first")
        return 1
    work = Path(tempfile.mkdtemp(prefix="hub-bench-start-"))
    runs = []
    try:
        for i in range(args.repeat):
            r = one_run(
                base, work / f"run{i + 1}", args.tree, args.events, args.publish, args.timeout
            )
            runs.append(r)
            log(
                f"run {i + 1}: first event after {r['first_event_s']} s (ready {r['ready_s']} s, "
                f"seek step {r['seek_step_s']} s), load {r['loadavg_before'][0]}, "
                f"busy cores {r['machine']['busy_cores']}"
            )
    finally:
        if args.keep:
            log(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    def figure(key: str) -> dict[str, Any]:
        return stats([r[key] for r in runs if r[key] is not None], digits=2)

    report = {
        "tree": str(args.tree),
        "publish": args.publish,
        "cpus": os.cpu_count(),
        "first_event_s": figure("first_event_s"),
        "ready_s": figure("ready_s"),
        "seek_step_s": figure("seek_step_s"),
        "loadavg_before_1m": stats([r["loadavg_before"][0] for r in runs], digits=2),
        "runs": runs,
    }
    print(json.dumps(report, indent=1))
    for key in ("first_event_s", "ready_s", "seek_step_s", "loadavg_before_1m"):
        f = report[key]
        if f.get("n"):
            log(f"{key}: median {f['median']} (min {f['min']}, max {f['max']}, n={f['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
