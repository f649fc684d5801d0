"""How fast the ClickHouse sink lands rows, and what batch size costs in latency (not a test).

Three measurements, each on a private ClickHouse 18.16 server (the stack's binary and
config, its own data directory) and fresh Kafka topics on the stack's broker:

1. ``insert``: clickhouse-driver columnar INSERTs of ready-made ``events`` rows, by batch
   size: what ClickHouse and the driver alone sustain (rows/s, ms per INSERT).
2. ``drain``: the whole sink (Kafka consume → decode → rows → INSERT → commit) emptying a
   backlog of generator events, by ``batch_max_rows``: rows/s from its first record to its
   last acknowledged INSERT.
3. ``latency``: events produced at a steady rate while the sink runs, by (batch_max_rows,
   batch_max_seconds): latency from the broker's append time (topics set to LogAppendTime)
   to ClickHouse's acknowledgement of the INSERT holding the event (p50, p99, max), and
   INSERTs per second.

Every configuration is repeated (``--repeat``, default 3) and reported as median and
spread (min-max). JSON goes to ``--out`` (and stdout with ``--json``), a table to stdout.

    .venv/bin/python bench/bench_sink.py --repeat 3 --out bench/results/sink.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import stats
from support.clickhouse import (  # tests/support/ (common puts tests/ on the path)
    create_hub_topics,
    delete_hub_topics,
    isolated,
    private_server,
)

from schemas import Codec
from schemas.topics import INPUTS
from sinks.clickhouse.batching import Buffer
from sinks.clickhouse.columns import EVENTS, Meta, PiiHasher
from sinks.clickhouse.migrate import migrate, writer_client
from sinks.clickhouse.sink import ClickHouseSink
from streams.ops.publish import EventPublisher
from streams.settings import Settings
from streams.simulator import GeneratorConfig, InsurerSimulation


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _generated(customers: int, days: float, seed: int, live: bool) -> list[tuple[str, str, bytes]]:
    """(logical topic, key, value) of a generator run's valid events, encoded once up front.

    ``live=False`` keeps the generator's event times: a year of backfilled policies plus
    the simulated month, so a batch spans many monthly partitions (a replay or backfill).
    ``live=True`` restamps them to the last minutes, as a running hub sees them: a batch
    touches one partition.
    """
    codec = Codec()
    sim = InsurerSimulation(GeneratorConfig(seed=seed, customers=customers, days=days), codec=codec)
    events = [ev for ev in sim if ev.injection is None and ev.value is not None]
    now_ms = int(time.time() * 1000)
    out: list[tuple[str, str, bytes]] = []
    for i, ev in enumerate(events):
        value = ev.value
        if live and value is not None:
            value = {**value, "occurred_at": now_ms - (len(events) - i) * 10}
        out.append((ev.topic, ev.key, codec.encode(ev.topic, value or {}, validate=False)))
    return out


def _truncate(server: Settings) -> None:
    """Empty the events table so that background merges of earlier runs do not interfere."""
    client = writer_client(server)
    try:
        client.execute("TRUNCATE TABLE events")
    finally:
        client.disconnect()


# -- 1. raw inserts ----------------------------------------------------------------------------


def bench_insert(server: Settings, records: list[tuple[str, str, bytes]], sizes: list[int],
                 repeat: int) -> list[dict[str, Any]]:  # fmt: skip
    codec, pii = Codec(), PiiHasher(server.pii_key)
    build = {t.logical: EVENTS.builder(pii, t) for t in INPUTS}
    rows = []
    for n, (topic, _key, value) in enumerate(records):
        meta = Meta(topic, 0, n, 0)
        rows.append(build[topic](codec.decode(topic, value), meta))
    client = writer_client(server)
    sql = f"INSERT INTO {EVENTS.name} ({', '.join(EVENTS.names)}) VALUES"
    out: list[dict[str, Any]] = []
    for size in sizes:
        rates, per_insert = [], []
        for _ in range(repeat):
            _truncate(server)
            total, started = 0, time.perf_counter()
            durations: list[float] = []
            while total < max(20_000, 3 * size) and (
                len(durations) < 3 or time.perf_counter() - started < 5.0
            ):
                chunk = rows[total % len(rows) :][:size]
                if len(chunk) < size:
                    chunk = chunk + rows[: size - len(chunk)]
                columns = [list(c) for c in zip(*chunk, strict=True)]
                t = time.perf_counter()
                client.execute(sql, columns, columnar=True)
                durations.append(time.perf_counter() - t)
                total += size
            rates.append(total / (time.perf_counter() - started))
            per_insert.append(1000 * statistics.median(durations))
        out.append({"batch_rows": size, "rows_per_s": stats(rates, 0),
                    "ms_per_insert": stats(per_insert, 2)})  # fmt: skip
        print(f"  insert {size:>6} rows/batch: {out[-1]['rows_per_s']['median']:>9,.0f} rows/s",
              file=sys.stderr)  # fmt: skip
    client.disconnect()
    return out


# -- 2. draining a backlog -------------------------------------------------------------------


class Timing:
    """The sink's ``after_insert`` hook: when it took its first record (time.monotonic) and
    when each batch was acknowledged."""

    def __init__(self) -> None:
        self.first_record: float | None = None
        self.last_ack = 0.0
        self.latencies_ms: list[float] = []
        self.inserts = 0

    def __call__(self, batch: Buffer) -> None:
        now_ms = time.time() * 1000
        self.last_ack = time.monotonic()
        if batch.first_at is not None:
            self.first_record = min(self.first_record or batch.first_at, batch.first_at)
        self.inserts += 1
        self.latencies_ms.extend(now_ms - m.timestamp_ms for m in batch.metas)


def _publish(settings: Settings, records: list[tuple[str, str, bytes]]) -> None:
    with EventPublisher(settings, validate=False) as pub:
        for topic, key, value in records:
            pub.publish_raw(topic, value, key=key)
        pub.flush()


def bench_drain(server: Settings, records: list[tuple[str, str, bytes]], sizes: list[int],
                repeat: int) -> list[dict[str, Any]]:  # fmt: skip
    out: list[dict[str, Any]] = []
    for size in sizes:
        rates = []
        for _ in range(repeat):
            s = isolated(server, "bench-drain", batch_max_rows=size, batch_max_seconds=1.0)
            create_hub_topics(s)
            _truncate(server)
            try:
                _publish(s, records)
                timing = Timing()
                sink = ClickHouseSink(
                    s, serve_metrics=False, migrate_on_start=False, after_insert=timing
                )
                done = sink.run(exit_when_idle=1.0)
                assert done.rows_inserted == len(records), done
                assert timing.first_record is not None
                rates.append(done.rows_inserted / (timing.last_ack - timing.first_record))
            finally:
                delete_hub_topics(s)
        out.append({"batch_rows": size, "rows": len(records), "rows_per_s": stats(rates, 0)})
        print(f"  drain  {size:>6} rows/batch: {out[-1]['rows_per_s']['median']:>9,.0f} rows/s",
              file=sys.stderr)  # fmt: skip
    return out


# -- 3. latency at a steady rate -------------------------------------------------------------


def bench_latency(server: Settings, records: list[tuple[str, str, bytes]],
                  configs: list[tuple[int, float]], rate: int, seconds: float,
                  repeat: int) -> list[dict[str, Any]]:  # fmt: skip
    out: list[dict[str, Any]] = []
    wanted = int(rate * seconds)
    for rows, secs in configs:
        p50s, p99s, maxes, inserts = [], [], [], []
        for _ in range(repeat):
            s = isolated(server, "bench-lat", batch_max_rows=rows, batch_max_seconds=secs)
            create_hub_topics(s)  # inputs stamped with the broker's append time
            _truncate(server)
            try:
                timing = Timing()
                sink = ClickHouseSink(
                    s, serve_metrics=False, migrate_on_start=False, after_insert=timing
                )
                stop = threading.Event()
                thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
                thread.start()
                while not sink.assigned:
                    time.sleep(0.05)
                time.sleep(0.5)
                with EventPublisher(s, validate=False, linger_ms=5) as pub:
                    started = time.perf_counter()
                    for i in range(wanted):
                        topic, key, value = records[i % len(records)]
                        due = started + i / rate
                        while time.perf_counter() < due:
                            time.sleep(0.0005)
                        pub.publish_raw(topic, value, key=key)
                        if i % 20 == 0:
                            pub.poll()  # send what has lingered: a steady stream, not bursts
                    pub.flush()
                deadline = time.monotonic() + 60
                while len(timing.latencies_ms) < wanted and time.monotonic() < deadline:
                    time.sleep(0.05)
                stop.set()
                thread.join(timeout=30)
                lat = timing.latencies_ms[:wanted]
                p50s.append(_quantile(lat, 0.5))
                p99s.append(_quantile(lat, 0.99))
                maxes.append(max(lat))
                inserts.append(timing.inserts / seconds)
            finally:
                delete_hub_topics(s)
        out.append({
            "batch_max_rows": rows, "batch_max_seconds": secs, "rate_per_s": rate,
            "latency_ms_p50": stats(p50s, 0), "latency_ms_p99": stats(p99s, 0),
            "latency_ms_max": stats(maxes, 0), "inserts_per_s": stats(inserts, 2),
        })  # fmt: skip
        p50, p99 = out[-1]["latency_ms_p50"]["median"], out[-1]["latency_ms_p99"]["median"]
        print(f"  latency {rows}:{secs}: p50 {p50:.0f} ms, p99 {p99:.0f} ms", file=sys.stderr)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--customers", type=int, default=5000, help="generator size (backlog)")
    parser.add_argument("--insert-sizes", default="100,1000,5000,10000,50000")
    parser.add_argument("--drain-sizes", default="500,1000,5000,10000")
    parser.add_argument(
        "--latency",
        default="500:1.0,5000:1.0,5000:0.2,20000:5.0",
        help="batch_max_rows:batch_max_seconds pairs",
    )
    parser.add_argument("--rate", type=int, default=2000, help="events/s for the latency runs")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of a latency run")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="also print the JSON to stdout")
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.ERROR)
    base = Settings.from_env()
    live = _generated(args.customers, 30, seed=3, live=True)
    backfill = _generated(args.customers, 30, seed=3, live=False)
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "events": len(live),
        "repeat": args.repeat,
    }
    with tempfile.TemporaryDirectory() as tmp, private_server(base, Path(tmp)) as server:
        s = server.settings
        migrate(s)
        ((version,),) = writer_client(s).execute("SELECT version()")
        result["clickhouse"] = version
        sizes = [int(x) for x in args.insert_sizes.split(",")]
        result["insert"] = {
            "live": bench_insert(s, live, sizes, args.repeat),
            "backfill": bench_insert(s, backfill, sizes, args.repeat),
        }
        sizes = [int(x) for x in args.drain_sizes.split(",")]
        result["drain"] = {
            "live": bench_drain(s, live, sizes, args.repeat),
            "backfill": bench_drain(s, backfill, sizes, args.repeat),
        }
        configs = [(int(r), float(t)) for r, t in (p.split(":") for p in args.latency.split(","))]
        result["latency"] = bench_latency(s, live, configs, args.rate, args.seconds, args.repeat)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    _table(result)
    return 0


def _spread(st: dict[str, float]) -> str:
    return f"{st['median']:>9,.0f} ({st['min']:,.0f}-{st['max']:,.0f})"


def _table(r: dict[str, Any]) -> None:
    print(
        f"\nClickHouse {r['clickhouse']}, {r['machine']['cpus']} CPUs, {r['events']} events; "
        f"median (min-max) of {r['repeat']} runs. live: one monthly partition per batch; "
        "backfill: the generator's year of history, many partitions per batch."
    )
    print("\n1. INSERT only (clickhouse-driver, columnar, `events` rows), rows/s")
    print(f"{'rows/batch':>10}  {'live':>28}  {'backfill':>28}  {'ms/insert live':>14}")
    for a, b in zip(r["insert"]["live"], r["insert"]["backfill"], strict=True):
        ms = a["ms_per_insert"]["median"]
        print(
            f"{a['batch_rows']:>10}  {_spread(a['rows_per_s']):>28}  "
            f"{_spread(b['rows_per_s']):>28}  {ms:>14.1f}"
        )
    print("\n2. The whole sink draining a backlog (Kafka -> decode -> INSERT -> commit), rows/s")
    print(f"{'rows/batch':>10}  {'live':>28}  {'backfill':>28}")
    for a, b in zip(r["drain"]["live"], r["drain"]["backfill"], strict=True):
        print(
            f"{a['batch_rows']:>10}  {_spread(a['rows_per_s']):>28}  {_spread(b['rows_per_s']):>28}"
        )
    rate = r["latency"][0]["rate_per_s"] if r["latency"] else 0
    print(f"\n3. End-to-end latency at {rate} events/s (produced -> INSERT acknowledged), ms")
    print(f"{'max rows':>9} {'max s':>6}  {'p50':>6} {'p99':>6} {'max':>6}  {'inserts/s':>9}")
    for x in r["latency"]:
        print(
            f"{x['batch_max_rows']:>9} {x['batch_max_seconds']:>6}  "
            f"{x['latency_ms_p50']['median']:>6.0f} {x['latency_ms_p99']['median']:>6.0f} "
            f"{x['latency_ms_max']['median']:>6.0f}  {x['inserts_per_s']['median']:>9.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
