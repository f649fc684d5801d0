"""Worker throughput by producer linger (``HUB_WORKER_LINGER_MS``), side by side (not a test).

Each output record of the worker (profile, breach, outcome, anomaly) and each changelog
record goes through one aiokafka producer; the linger decides how many share a produce
request. One backlog is recorded once and drained by a fresh 1-process worker per linger
value, repetitions interleaved (5, 50, 100, 5, 50, 100, ...) so a noisy minute hits every
value alike. Reported per value: events/s and CPU µs per event, median (min-max).

``--rev REV`` also runs, interleaved with this tree's, the worker of git revision REV (from
a temporary worktree) at every linger: a change's cost or gain measured side by side.

    .venv/bin/python bench/bench_linger.py --lingers 5,50,100 --repeat 3
    .venv/bin/python bench/bench_linger.py --lingers 100 --rev HEAD~1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, log, stats, wait_for_broker
from drain import Backlog, drain

from streams.settings import Settings
from streams.simulator import GeneratorConfig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lingers", default="5,50,100", help="comma-separated milliseconds")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--customers", type=int, default=6000)
    ap.add_argument("--rev", help="also run this git revision's worker, side by side")
    args = ap.parse_args()
    base = Settings.from_env()
    if not wait_for_broker(base):
        log("no broker: run `hub stack up` first")
        return 1
    lingers = [int(x) for x in args.lingers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="hub-bench-linger-"))
    backlog = Backlog.record(
        GeneratorConfig(customers=args.customers, days=30, seed=11), work / "backlog.hubrec"
    )
    trees = {"this tree": REPO_ROOT}
    git = ["git", "-C", str(REPO_ROOT)]
    if args.rev:
        trees[args.rev] = work / "rev"
        subprocess.run(
            [*git, "worktree", "add", "--detach", str(trees[args.rev]), args.rev],
            check=True,
            stdout=sys.stderr,  # git's "HEAD is now at" is not the JSON report
        )
    # Variant labels: "100 ms" for this tree, "100 ms @ REV" for the other.
    variants = [
        (f"{ms} ms" + ("" if name == "this tree" else f" @ {name}"), ms, tree)
        for ms in lingers
        for name, tree in trees.items()
    ]
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in variants}
    try:
        for i in range(args.repeat):
            for label, ms, tree in variants:
                os.environ["HUB_WORKER_LINGER_MS"] = str(ms)  # the worker processes inherit it
                r = drain(
                    base,
                    backlog,
                    work / f"{label.replace(' ', '').replace('@', '-')}-{i}",
                    tree=tree,
                )
                runs[label].append(r)
                log(
                    f"{label}, run {i + 1}: {r['worker_events_per_s']:,.0f} events/s, "
                    f"{r['worker_cpu_us_per_event']:,.0f} µs CPU/event, "
                    f"load {r['machine']['loadavg_1m']}"
                )
    finally:
        if args.rev:
            subprocess.run(
                [*git, "worktree", "remove", "--force", str(trees[args.rev])], check=False
            )
    report = {
        label: {
            "worker_events_per_s": stats([r["worker_events_per_s"] for r in rs]),
            "worker_cpu_us_per_event": stats([r["worker_cpu_us_per_event"] for r in rs]),
            # None where the revision's worker does not count verdicts on /metrics.
            "worker_events_per_s_to_last_input": [
                r["worker_events_per_s_to_last_input"] for r in rs
            ],
            "loadavg_1m": [r["machine"]["loadavg_1m"] for r in rs],
            "steal_cores": [r["machine"]["steal_cores"] for r in rs],
        }
        for label, rs in runs.items()
    }
    print(json.dumps({"records": backlog.records, "rev": args.rev, "runs": report}, indent=1))
    for label, r in report.items():
        e, c = r["worker_events_per_s"], r["worker_cpu_us_per_event"]
        log(
            f"{label}: {e['median']:,.0f} events/s ({e['min']:,.0f}-{e['max']:,.0f}), "
            f"{c['median']:,.0f} µs CPU/event ({c['min']:,.0f}-{c['max']:,.0f}), n={e['n']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
