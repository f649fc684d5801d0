"""How fast the ClickHouse sink lands rows, what it costs, and what batch size costs in
latency (not a test).

Three measurements, each on a private ClickHouse 18.16 server (the stack's binary and
config, its own data directory) and fresh Kafka topics on the stack's broker:

1. ``insert``: clickhouse-driver columnar INSERTs of ready-made ``events`` rows, by batch
   size: what ClickHouse and the driver alone sustain (rows/s, ms per INSERT).
2. ``drain``: the whole sink (Kafka consume → decode → rows → INSERT → commit) emptying a
   backlog, by ``batch_max_rows``, in a process of its own (``bench/sink_child.py``): rows/s
   from its first record to its last acknowledged INSERT, and CPU µs per record (the sink
   process's CPU time over the run / records read), with the machine's load average before
   and after each run. Backlogs (``--backlogs``): ``live`` and ``backfill``, the generator's
   valid events (restamped to the last minutes, or at their own times over a year of
   history); ``mix``, what the sink reads end to end: every generator record (duplicates
   and malformed ones included) plus the worker's outputs computed in process (a profile per
   applied event, breaches, outcomes, anomalies, a dead letter per refused record): ~2.2
   records per input event, as in ``bench/run.py --only e2e``. ``--trees NAME=PATH,...``
   runs the sink of other source trees (e.g. a ``git worktree`` of an older revision) on the
   same backlogs, interleaved run by run. ``--profile DIR`` runs each drain under
   ``py-spy record`` (raw collapsed stacks, one file per run).
3. ``latency``: events produced at a steady rate while the sink runs, by (batch_max_rows,
   batch_max_seconds): latency from the broker's append time (topics set to LogAppendTime)
   to ClickHouse's acknowledgement of the INSERT holding the event (p50, p99, max), and
   INSERTs per second.

Every configuration is repeated (``--repeat``, default 3) and reported as median and
spread (min-max). JSON goes to ``--out`` (and stdout with ``--json``), a table to stdout.

    .venv/bin/python bench/bench_sink.py --repeat 3 --out bench/results/sink.json
    .venv/bin/python bench/bench_sink.py --only drain --backlogs mix --customers 12000 \
        --drain-sizes 5000 --trees before=/tmp/sink-before,after=.   # old vs new sink
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import REPO_ROOT, cpu_seconds, stack_pids, stats
from sink_child import Timing
from support.clickhouse import (  # tests/support/ (common puts tests/ on the path)
    create_hub_topics,
    delete_hub_topics,
    isolated,
    private_server,
    sink_env,
)

from schemas import Codec
from schemas.topics import DEAD_LETTER_TOPIC, INPUTS, PROFILE_TOPIC, of_name
from sinks.clickhouse.columns import EVENTS, TABLES, Meta, PiiHasher
from sinks.clickhouse.migrate import migrate, writer_client
from sinks.clickhouse.sink import ClickHouseSink
from streams.domain.anomaly.detect import AnomalyConfig
from streams.domain.customer import CustomerState, profile_record
from streams.domain.processor import CustomerProcessor
from streams.domain.sla.rules import load_rules
from streams.events import normalise
from streams.ingest import Rejection, TimeBounds, accept, dead_letter_record
from streams.ops.publish import EventPublisher
from streams.settings import Settings
from streams.simulator import GeneratorConfig, InsurerSimulation

#: (logical topic, key, value): encoded bytes, or a dead letter to encode once the run's
#: topic prefix is known (its ``topic`` field names the refused record's physical topic).
Records = list[tuple[str, str, bytes | dict[str, Any]]]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _generated(customers: int, days: float, seed: int, live: bool) -> Records:
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
    out: Records = []
    for i, ev in enumerate(events):
        value = ev.value
        if live and value is not None:
            value = {**value, "occurred_at": now_ms - (len(events) - i) * 10}
        out.append((ev.topic, ev.key, codec.encode(ev.topic, value or {}, validate=False)))
    return out


def _mix(customers: int, days: float, seed: int, pii_key: str) -> tuple[Records, int]:
    """What the sink reads end to end, and how many of its records it skips.

    Every record of a generator run (its duplicates, late and malformed records included),
    each followed by what the worker sends for it, computed with the worker's own code (as
    bench/plain_loop.py does): the records of ``CustomerProcessor.on_event`` and the
    customer's profile for an applied event (the worker coalesces profiles per 0.25 s, about
    one per event under a backlog), or, for a refused one, its dead letter as the worker
    makes it (``streams.ingest.dead_letter_record``; the sink skips the refused record on
    its input topic).
    """
    codec, rules = Codec(), load_rules()
    bounds = TimeBounds.of(rules)
    processor = CustomerProcessor(rules, AnomalyConfig.load(), pii_key.encode())
    sim = InsurerSimulation(GeneratorConfig(seed=seed, customers=customers, days=days), codec=codec)
    states: dict[str, CustomerState] = {}
    now_ms = int(time.time() * 1000)
    out: Records = []
    skipped = 0
    for n, ev in enumerate(sim):
        value = ev.encode(codec)
        out.append((ev.topic, ev.key, value))
        event = accept(codec, ev.topic, ev.key.encode(), value, now_ms, bounds)
        if isinstance(event, Rejection):
            skipped += 1
            letter = dead_letter_record(ev.topic, 0, n, ev.key.encode(), value, event, now_ms)
            out.append((DEAD_LETTER_TOPIC.logical, ev.key, letter))
            continue
        res = processor.on_event(
            states.get(ev.key), normalise(of_name(ev.topic).domain or "", event), 0
        )
        if res.duplicate:
            continue
        states[ev.key] = res.state
        for topic, record in res.outputs:
            key = str(record.get(topic.key) or ev.key)
            out.append((topic.logical, key, codec.encode(topic.logical, record, validate=False)))
        profile = profile_record(res.state, res.state.last_event_ms)
        encoded = codec.encode(PROFILE_TOPIC.logical, profile, validate=False)
        out.append((PROFILE_TOPIC.logical, ev.key, encoded))
    return out, skipped


def _truncate(server: Settings) -> None:
    """Empty the landing tables so that background merges of earlier runs do not interfere."""
    client = writer_client(server)
    try:
        for table in TABLES:
            client.execute(f"TRUNCATE TABLE {table.name}")
    finally:
        client.disconnect()


# -- 1. raw inserts ----------------------------------------------------------------------------


def bench_insert(server: Settings, records: Records, sizes: list[int],
                 repeat: int) -> list[dict[str, Any]]:  # fmt: skip
    codec, pii = Codec(), PiiHasher(server.pii_key)
    build = {t.logical: EVENTS.builder(pii, t) for t in INPUTS}
    rows = []
    for n, (topic, _key, value) in enumerate(records):
        assert isinstance(value, bytes)
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


def _publish(settings: Settings, records: Records) -> None:
    prefix = settings.kafka.topic_prefix
    with EventPublisher(settings, validate=False) as pub:
        for topic, key, value in records:
            if isinstance(value, dict):  # a dead letter names the refused record's topic
                letter = {**value, "topic": prefix + value["topic"]}
                value = pub.codec.encode(topic, letter, validate=False)
            pub.publish_raw(topic, value, key=key)
        pub.flush()


def _merges_settled(server: Settings, quiet_s: float = 3.0, limit_s: float = 60.0) -> float | None:
    """Seconds until ClickHouse has run no merge for ``quiet_s`` (polled every 0.2 s; None:
    still merging after ``limit_s``), so that its CPU figure includes the merges the run's
    INSERTs set off (ClickHouse picks parts to merge every few hundred milliseconds, so a
    moment without a merge does not mean there will be none)."""
    client = writer_client(server)
    started = quiet_since = time.monotonic()
    try:
        while (now := time.monotonic()) - started < limit_s:
            ((merging,),) = client.execute("SELECT count() FROM system.merges")
            if merging:
                quiet_since = now
            elif now - quiet_since >= quiet_s:
                return round(quiet_since - started, 1)
            time.sleep(0.2)
        return None
    finally:
        client.disconnect()


def _py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy (.venv/bin/pip install py-spy)")
    return found


def _drain_once(
    server: Settings,
    records: Records,
    size: int,
    tree: Path,
    profile: Path | None,
    services: dict[str, int],
) -> dict[str, Any]:
    """One drain of ``records`` by the sink of source tree ``tree`` (bench/sink_child.py),
    with the CPU seconds ``services`` (name: pid) used meanwhile."""
    s = isolated(server, "bench-drain", batch_max_rows=size, batch_max_seconds=1.0)
    create_hub_topics(s)
    _truncate(server)
    try:
        _publish(s, records)
        command = [sys.executable, str(Path(__file__).with_name("sink_child.py")), str(tree)]
        if profile is not None:
            # CPU samples only (no --idle), C frames too, one thread's stacks per sample
            command = [_py_spy(), "record", "--format", "raw", "--rate", "250", "--native",
                       "--threads", "-o", str(profile), "--", *command]  # fmt: skip
        load_before = os.getloadavg()
        cpu0 = {name: cpu_seconds(pid) for name, pid in services.items()}
        child = subprocess.run(
            command, env=sink_env(s), cwd=tree, capture_output=True, text=True, timeout=1800
        )
        settled = _merges_settled(server)
        services_cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in services.items()}
        if child.returncode != 0:
            raise RuntimeError(f"sink of {tree} failed: {child.stderr[-3000:]}")
        (line,) = [x for x in child.stdout.splitlines() if x.startswith("{")]  # py-spy talks
        run: dict[str, Any] = json.loads(line)
    finally:
        delete_hub_topics(s)
    landed = run["rows_inserted"] + run["rows_rejected"] + run["records_skipped"]
    assert run["records"] == len(records) and landed == len(records), run
    run["rows_per_s"] = run["rows_inserted"] / run["seconds"]
    run["cpu_us_per_record"] = run["cpu_seconds"] / run["records"] * 1e6
    run["loadavg_before"] = load_before
    run["merges_settled_after_s"] = settled
    # ClickHouse parses, compresses and writes what the sink sends (and merges the parts):
    # CPU that competes with the sink and the worker on the same cores end to end
    for name, cpu in services_cpu.items():
        run[f"{name}_cpu_us_per_record"] = cpu / run["records"] * 1e6
    return run


def bench_drain(
    server: Settings,
    backlogs: dict[str, Records],
    sizes: list[int],
    repeat: int,
    trees: dict[str, Path],
    profile: Path | None = None,
    services: dict[str, int] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Per backlog, per batch size and per tree: rows/s and CPU µs per record (of the sink,
    and of ``services``, name: pid). Batch sizes and trees are interleaved run by run, so
    that the machine's drift (and the ClickHouse server's history) moves them alike."""
    services = services or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for name, records in backlogs.items():
        runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for i in range(repeat):
            for size in sizes:
                for tree, path in trees.items():
                    where = None if profile is None else profile / f"{name}-{size}-{tree}-{i}.txt"
                    run = _drain_once(server, records, size, path, where, services)
                    runs.setdefault((size, tree), []).append(run)
                    print(
                        f"  drain {name} {size:>6} rows/batch, {tree}: "
                        f"{run['rows_per_s']:>9,.0f} rows/s, "
                        f"{run['cpu_us_per_record']:6.1f} µs CPU per record "
                        + "".join(f"({n} {run[f'{n}_cpu_us_per_record']:.1f}) " for n in services)
                        + ", "
                        f"load {run['loadavg_before'][0]:.2f}",
                        file=sys.stderr,
                    )
        for (size, tree), rs in runs.items():
            out.setdefault(name, []).append({
                "tree": tree, "path": str(trees[tree]), "batch_rows": size,
                "rows": len(records),
                "rows_per_s": stats([r["rows_per_s"] for r in rs], 0),
                "cpu_us_per_record": stats([r["cpu_us_per_record"] for r in rs], 1),
                **{f"{svc}_cpu_us_per_record": stats(
                    [r[f"{svc}_cpu_us_per_record"] for r in rs], 1) for svc in services},
                "loadavg_1m_before": [round(r["loadavg_before"][0], 2) for r in rs],
                "loadavg_1m_after": [round(r["loadavg_end"][0], 2) for r in rs],
                "runs": rs,
            })  # fmt: skip
    return out


# -- 3. latency at a steady rate -------------------------------------------------------------


def bench_latency(server: Settings, records: Records,
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


def _pid(spec: Any) -> int:
    from streams.ops.stack.process import running_pid

    pid = running_pid(spec)
    assert pid is not None, "the private ClickHouse server is not running"
    return pid


def _trees(spec: str) -> dict[str, Path]:
    """``NAME=PATH,...`` (a bare PATH is named by its directory) → {name: source tree}."""
    trees: dict[str, Path] = {}
    for item in filter(None, spec.split(",")):
        name, _, path = item.rpartition("=")
        tree = Path(path).resolve()
        if not (tree / "sinks" / "clickhouse" / "sink.py").is_file():
            raise SystemExit(f"--trees: {tree} holds no sinks/clickhouse/sink.py")
        trees[name or tree.name] = tree
    return trees


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--customers", type=int, default=5000, help="generator size (backlog)")
    parser.add_argument("--only", default="insert,drain,latency", help="a subset of the three")
    parser.add_argument("--insert-sizes", default="100,1000,5000,10000,50000")
    parser.add_argument("--drain-sizes", default="500,1000,5000,10000")
    parser.add_argument("--backlogs", default="live,backfill", help="drain: live, backfill, mix")
    parser.add_argument(
        "--trees",
        default=str(REPO_ROOT),
        help="drain: NAME=PATH,... source trees whose sinks run, interleaved (default: this one)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="drain: py-spy output dir")
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
    only = set(args.only.split(","))
    if only - {"insert", "drain", "latency"}:
        parser.error(f"--only: unknown {', '.join(sorted(only - {'insert', 'drain', 'latency'}))}")

    import logging

    logging.basicConfig(level=logging.ERROR)
    base = Settings.from_env()
    started = time.time()
    live = _generated(args.customers, 30, seed=3, live=True)
    result: dict[str, Any] = {
        "command": " ".join(["bench/bench_sink.py", *sys.argv[1:]]),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_start": os.getloadavg(),
        },
        "events": len(live),
        "repeat": args.repeat,
    }
    with tempfile.TemporaryDirectory() as tmp, private_server(base, Path(tmp)) as server:
        s = server.settings
        migrate(s)
        ((version,),) = writer_client(s).execute("SELECT version()")
        result["clickhouse"] = version
        if "insert" in only:
            backfill = _generated(args.customers, 30, seed=3, live=False)
            sizes = [int(x) for x in args.insert_sizes.split(",")]
            result["insert"] = {
                "live": bench_insert(s, live, sizes, args.repeat),
                "backfill": bench_insert(s, backfill, sizes, args.repeat),
            }
        if "drain" in only:
            backlogs: dict[str, Records] = {}
            for name in args.backlogs.split(","):
                if name == "mix":
                    backlogs[name], skipped = _mix(args.customers, 30, 3, s.pii_key)
                    result["mix"] = {"records": len(backlogs[name]), "inputs_skipped": skipped,
                                     "inputs": sum(t in _INPUT_NAMES for t, _, _ in
                                                   backlogs[name])}  # fmt: skip
                else:
                    backlogs[name] = _generated(args.customers, 30, 3, live=name == "live")
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
            sizes = [int(x) for x in args.drain_sizes.split(",")]
            services = {"clickhouse": _pid(server.service.spec)}
            if "kafka" in (stack := stack_pids()):
                services["kafka"] = stack["kafka"]
            result["drain"] = bench_drain(
                s, backlogs, sizes, args.repeat, _trees(args.trees), args.profile, services
            )
        if "latency" in only:
            configs = [
                (int(r), float(t)) for r, t in (p.split(":") for p in args.latency.split(","))
            ]
            result["latency"] = bench_latency(
                s, live, configs, args.rate, args.seconds, args.repeat
            )
    result["duration_s"] = round(time.time() - started, 1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    _table(result)
    return 0


_INPUT_NAMES = frozenset(t.logical for t in INPUTS)


def _spread(st: dict[str, float], digits: int = 0) -> str:
    return f"{st['median']:>9,.{digits}f} ({st['min']:,.{digits}f}-{st['max']:,.{digits}f})"


def _table(r: dict[str, Any]) -> None:
    print(
        f"\nClickHouse {r['clickhouse']}, {r['machine']['cpus']} CPUs, {r['events']} events; "
        f"median (min-max) of {r['repeat']} runs. live: one monthly partition per batch; "
        "backfill: the generator's year of history, many partitions per batch; mix: inputs "
        "and the worker's outputs."
    )
    if "insert" in r:
        print("\n1. INSERT only (clickhouse-driver, columnar, `events` rows), rows/s")
        print(f"{'rows/batch':>10}  {'live':>28}  {'backfill':>28}  {'ms/insert live':>14}")
        for a, b in zip(r["insert"]["live"], r["insert"]["backfill"], strict=True):
            ms = a["ms_per_insert"]["median"]
            print(
                f"{a['batch_rows']:>10}  {_spread(a['rows_per_s']):>28}  "
                f"{_spread(b['rows_per_s']):>28}  {ms:>14.1f}"
            )
    if "drain" in r:
        print("\n2. The whole sink draining a backlog (Kafka -> decode -> INSERT -> commit)")
        print(f"{'backlog':>9} {'rows/batch':>10} {'tree':>10}  {'rows/s':>28}  "
              f"{'CPU µs per record':>28}  load 1m")  # fmt: skip
        for name, entries in r["drain"].items():
            for e in entries:
                loads = e["loadavg_1m_before"]
                print(
                    f"{name:>9} {e['batch_rows']:>10} {e['tree']:>10}  "
                    f"{_spread(e['rows_per_s']):>28}  {_spread(e['cpu_us_per_record'], 1):>28}  "
                    f"{min(loads):.2f}-{max(loads):.2f}"
                )
    if "latency" in r:
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
