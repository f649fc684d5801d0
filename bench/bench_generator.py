"""How fast the generator publishes to Kafka on one core (not a test).

Each repetition publishes one full run (default: the default config, 20,000 customers over
30 simulated days, backfill included) to fresh topics and times it from the start of the
simulation to the broker's last acknowledgement. The process is pinned to one CPU; the
broker runs in its own process. Also reported, to show where the time goes: the same run
generated without Kafka, and encoded without Kafka.

    .venv/bin/python bench/bench_generator.py --repeat 5 > bench/results/generator.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas import INPUT_TOPICS, Codec
from streams.ops.topics import create_topics, delete_prefixed_topics
from streams.settings import Settings
from streams.simulator import GeneratorConfig, InsurerSimulation
from streams.simulator.recording import load, record, replay
from streams.simulator.runner import RunResult, run


def _stats(values: list[float]) -> dict[str, float]:
    median = statistics.median(values)
    return {
        "median": round(median, 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
        "stdev": round(statistics.stdev(values), 1) if len(values) > 1 else 0.0,
        "spread_pct": round(100 * (max(values) - min(values)) / median, 1) if median else 0.0,
    }


def one_run(
    base: Settings, config: GeneratorConfig, compression: str | None, recording: Path | None = None
) -> dict[str, Any]:
    """One live run (or one replay of ``recording``) to fresh topics."""
    prefix = f"bench-gen-{uuid.uuid4().hex[:8]}."
    settings = dataclasses.replace(base, kafka=dataclasses.replace(base.kafka, topic_prefix=prefix))
    create_topics(settings)
    try:
        cpu0 = time.process_time()
        result: RunResult
        if recording is not None:
            result = replay(load(recording), settings, create=False, progress=False)
        else:
            result = run(
                config, settings, create=False, progress=False, compression_type=compression
            )
        cpu = time.process_time() - cpu0
    finally:
        delete_prefixed_topics(settings)
    return {
        "records": result.records,
        "events": result.ground_truth.total_events,
        "megabytes": round(result.bytes / 1e6, 2),
        "seconds": round(result.elapsed_s, 3),
        "records_per_s": round(result.rate, 1),
        "cpu_seconds": round(cpu, 3),
        "cpu_us_per_record": round(cpu / result.records * 1e6, 2),
    }


def breakdown(config: GeneratorConfig) -> dict[str, Any]:
    """Generation alone, then encoding alone, for the same run."""
    t0 = time.perf_counter()
    sim = InsurerSimulation(config)
    t_init = time.perf_counter() - t0
    events = list(sim)
    t_gen = time.perf_counter() - t0
    codec = Codec()
    encoders: dict[str, Callable[[Any], bytes]] = {
        t: codec.schema(t).encode_unchecked for t in INPUT_TOPICS
    }
    t1 = time.perf_counter()
    for ev in events:
        if ev.raw is None:
            if ev.encoding == "json":
                codec.encode_json(ev.topic, ev.value)  # type: ignore[arg-type]
            else:
                encoders[ev.topic](ev.value)
    t_enc = time.perf_counter() - t1
    n = len(events)
    return {
        "records": n,
        "generate_records_per_s": round(n / t_gen, 1),
        "generate_init_seconds": round(t_init, 3),
        "encode_records_per_s": round(n / t_enc, 1),
        "generate_us_per_record": round(t_gen / n * 1e6, 2),
        "encode_us_per_record": round(t_enc / n * 1e6, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--customers", type=int, default=GeneratorConfig().customers)
    parser.add_argument("--days", type=float, default=GeneratorConfig().days)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--compression", default=None, help="e.g. gzip, lz4 (if installed)")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to; -1: no pinning")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    settings = Settings.from_env()
    config = GeneratorConfig(customers=args.customers, days=args.days, seed=args.seed)
    run(
        config.with_(customers=200, days=2),
        dataclasses.replace(  # warm-up (imports, JIT-free)
            settings, kafka=dataclasses.replace(settings.kafka, topic_prefix="bench-warmup.")
        ),
        progress=False,
    )
    delete_prefixed_topics(
        dataclasses.replace(
            settings, kafka=dataclasses.replace(settings.kafka, topic_prefix="bench-warmup.")
        )
    )
    runs = [one_run(settings, config, args.compression) for _ in range(args.repeat)]
    rates = [r["records_per_s"] for r in runs]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.hubrec"
        t0 = time.perf_counter()
        record(config, path)
        record_s = time.perf_counter() - t0
        replays = [one_run(settings, config, None, path) for _ in range(args.repeat)]
    report = {
        "benchmark": "generator to Kafka (live: simulate + encode + publish)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "pinned_cpu": args.cpu if args.cpu >= 0 else None,
        },
        "broker": settings.kafka.bootstrap,
        "config": {
            "customers": args.customers,
            "days": args.days,
            "seed": args.seed,
            "compression": args.compression,
            "acks": "all",
            "idempotence": True,
        },
        "records_per_s": _stats(rates),
        "cpu_us_per_record": _stats([r["cpu_us_per_record"] for r in runs]),
        "runs": runs,
        "replay": {
            "what": "the same run recorded once (untimed), then published from memory",
            "record_seconds": round(record_s, 3),
            "records_per_s": _stats([r["records_per_s"] for r in replays]),
            "cpu_us_per_record": _stats([r["cpu_us_per_record"] for r in replays]),
            "runs": replays,
        },
        "without_kafka": breakdown(config),
    }
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
