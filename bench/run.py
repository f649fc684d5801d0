"""The hub's benchmark suite, one command, one broker (not a test).

    .venv/bin/python bench/run.py [--quick] [--repeat N] > bench/results/latest.json

Needs the local stack (``hub stack up``): Kafka on the configured broker, and the ClickHouse
binary (the suite starts a private ClickHouse server with the stack's config and users, so
benchmark rows never reach the shared ``insurance_hub`` database). JSON goes to stdout, a
short table and progress to stderr. Every deployment uses its own topic prefix, worker app id
and sink group, deleted afterwards. See bench/README.md for what each figure means.

Measured, in this order (repetitions interleaved, so a noisy minute hits every figure alike):

1. ceiling: aiokafka ``getmany`` over the pre-produced input topics, count only (and with
   the hub's decode, for scale);
2. worker alone, 1 process and 2 processes in one group: events/s from the backlog's
   replay to the last profile record (start-up excluded), CPU per event; and the peer,
   Quix Streams running the hub's own per-event code on the same backlog (bench/peer.py),
   interleaved with them; and the hub's own per-event code in a plain loop, no Kafka
   (bench/plain_loop.py), the floor any engine adds to;
3. end to end, 1 worker + 1 sink: events/s until the sink has landed every input and
   output record in ClickHouse;
4. memory: the 1-process worker's RSS growth over the backlog, per 100,000 profiles;
5. latency at a fixed offered load (real-time generator): event → profile, deadline →
   breach, event → anomaly on the output topics, event → row in ClickHouse;
6. profile: one worker run under cProfile (all threads), time grouped as Faust/aiokafka/
   asyncio machinery vs hub code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import background_cores, clean_stale, close_run, log, stats, wait_for_broker
from drain import Backlog, ceiling, drain, profile
from latency import latency, latency_config
from peer import available, quix_drain
from plain_loop import plain_loop

from streams.ops.stack.process import running_pid
from streams.settings import Settings
from streams.simulator import GeneratorConfig

RESULTS = Path(__file__).resolve().parent / "results"


def _machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _quiet(max_wait_s: float) -> float:
    """Wait (up to ``max_wait_s``) until the machine is fairly idle; return its busy cores.

    Other people's tests share this machine; a measurement that starts while they run is
    still taken, but the background it started with is recorded next to it.
    """
    deadline = time.monotonic() + max_wait_s
    busy = background_cores(2.0)
    while busy > 0.6 and time.monotonic() < deadline:
        log(f"machine busy ({busy:.2f} cores in use): waiting for quiet")
        busy = background_cores(3.0)
    return round(busy, 2)


def _summary(
    runs: list[dict[str, Any]], fields: dict[str, Callable[[dict[str, Any]], float]]
) -> dict[str, Any]:
    return {name: stats([get(r) for r in runs]) for name, get in fields.items()}


def _component_files() -> dict[str, Any]:
    """Headline figures of the component benchmarks' last saved results (not re-measured)."""
    out: dict[str, Any] = {}
    gen = RESULTS / "generator.json"
    if gen.exists():
        with_gen = json.loads(gen.read_text())
        out["generator"] = {
            "file": "bench/results/generator.json",
            "when": with_gen.get("when"),
            "records_per_s": with_gen.get("records_per_s"),
            "replay_records_per_s": (with_gen.get("replay") or {}).get("records_per_s"),
        }
    sink = RESULTS / "sink.json"
    if sink.exists():
        out["sink"] = {
            "file": "bench/results/sink.json",
            "modified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sink.stat().st_mtime)),
            "note": "bench/bench_sink.py: insert and drain rows/s by batch size, sink latency",
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small backlog, short latency run")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 3)")
    parser.add_argument("--customers", type=int, default=None, help="backlog size")
    parser.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="latency run: offered events/s (default 200: at 300/s the worker, sink, broker, "
        "ClickHouse and the load generator together keep ~1.7 of our 2 cores busy)",
    )
    parser.add_argument("--seconds", type=float, default=None, help="latency run: sampled s")
    parser.add_argument(
        "--only",
        default="ceiling,worker,peer,plain,e2e,latency,profile",
        help="comma-separated subset of: ceiling, worker, peer, plain, e2e, latency, profile",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument(
        "--clean",
        action="store_true",
        help="only delete every bench- topic and group a killed run left on the broker "
        "(when no other benchmark runs there), then exit",
    )
    args = parser.parse_args()
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 3)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - {"ceiling", "worker", "peer", "plain", "e2e", "latency", "profile"}
    if unknown:
        parser.error(f"unknown --only parts: {sorted(unknown)}")
    customers = args.customers or (2000 if args.quick else 12_000)
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    warmup = 6.0 if args.quick else 10.0
    quiet_wait = 10.0 if args.quick else 30.0

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # unwind: stop processes, delete topics

    signal.signal(signal.SIGTERM, on_sigterm)
    started = time.monotonic()
    base = Settings.from_env()
    if args.clean:
        gone = clean_stale(base)
        log(f"deleted {len(gone)} topics and groups: {', '.join(gone) or '-'}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    log(f"work directory {work} (logs of every process)")
    report: dict[str, Any] = {
        "benchmark": "insurance-hub pipeline: worker, sink, latency, memory, ceiling, profile",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "bench/run.py " + " ".join(sys.argv[1:]),
        "machine": _machine(),
        "broker": base.kafka.bootstrap,
        "settings": {
            "input_partitions": base.kafka.input_partitions,
            "sink_batch_max_rows": base.sink.batch_max_rows,
            "sink_batch_max_seconds": base.sink.batch_max_seconds,
            "worker_tick_interval_s": base.worker.tick_interval_s,
        },
        "repeat": repeat,
    }
    try:
        config = GeneratorConfig(customers=customers)
        backlog = Backlog.record(config, work / "backlog.hubrec")
        report["backlog"] = {
            "what": "the generator's default mix (backfill of policies in force, then a "
            "simulated month), recorded once and replayed into fresh topics each run",
            "customers": customers,
            "days": config.days,
            "seed": config.seed,
            "records": backlog.records,
            "customers_with_events": backlog.customers,
        }
        with contextlib.ExitStack() as stack:
            ch_settings = base
            watch: dict[str, int] = {}
            if only & {"e2e", "latency"}:
                from support.clickhouse import private_server

                ch = stack.enter_context(private_server(base, work / "clickhouse"))
                ch_settings = ch.settings
                ch_pid = running_pid(ch.service.spec)
                if ch_pid is not None:
                    watch["clickhouse (private)"] = ch_pid
                log(f"private ClickHouse on port {ch_settings.clickhouse.port}")
            if "ceiling" in only:
                report["ceiling"] = _guard(
                    "ceiling", lambda: _ceiling(base, backlog, work, repeat, quiet_wait)
                )
            runs: dict[str, list[dict[str, Any]]] = {
                "w1": [],
                "w2": [],
                "e2e": [],
                "peer": [],
                "plain": [],
            }
            missing = available() if "peer" in only else None
            if missing:
                report["peer"] = {"error": missing}
                only.discard("peer")
            for i in range(repeat):
                if "plain" in only:
                    runs["plain"].append(_plain_run(base, backlog, i, repeat, quiet_wait))
                if "peer" in only:
                    runs["peer"].append(_peer_run(base, backlog, work, i, repeat, quiet_wait))
                for key, workers, sink, part in (
                    ("w1", 1, False, "worker"),
                    ("w2", 2, False, "worker"),
                    ("e2e", 1, True, "e2e"),
                ):
                    if part in only:
                        settings = ch_settings if sink else base
                        runs[key].append(
                            _drain_run(
                                settings,
                                backlog,
                                work,
                                i,
                                repeat,
                                key,
                                workers,
                                sink,
                                quiet_wait,
                                watch,
                            )
                        )
            if "worker" in only:
                report["worker_alone"] = _worker_report(runs["w1"], runs["w2"])
                report["memory"] = _memory_report(runs["w1"], backlog)
            if "peer" in only:
                report["peer"] = _peer_report(runs["peer"], runs["w1"])
            if "plain" in only:
                report["plain_loop"] = {
                    "what": "the hub's per-event code in one process, no Kafka: acceptance "
                    "test, normalise, processor, outputs and profile Avro-encoded, states "
                    "kept as objects (cpu_us_per_record, as the worker does now) or from and "
                    "to JSON per event (json_cpu_us_per_record, as before its state cache) "
                    "(bench/plain_loop.py)",
                    **_summary(
                        _ok(runs["plain"]),
                        {
                            "cpu_us_per_record": lambda r: r["cpu_us_per_record"],
                            "records_per_cpu_second": lambda r: r["records_per_cpu_second"],
                            "json_cpu_us_per_record": lambda r: r["json_cpu_us_per_record"],
                        },
                    ),
                    "runs": runs["plain"],
                }
            if "e2e" in only:
                report["end_to_end"] = _e2e_report(runs["e2e"])
            if "latency" in only:

                def run_latency() -> dict[str, Any]:
                    bg = _quiet(quiet_wait)
                    out = latency(
                        ch_settings,
                        work / "latency",
                        config=latency_config(args.quick, args.rate, seconds, warmup),
                        rate=args.rate,
                        duration_s=seconds,
                        warmup_s=warmup,
                        watch=watch,
                    )
                    out["background_cores_before"] = bg
                    return out

                report["latency"] = _guard("latency", run_latency)
        if "profile" in only:

            def run_profile() -> dict[str, Any]:
                bg = _quiet(quiet_wait)
                small = backlog
                size = 1000 if args.quick else 3000  # cProfile slows the worker ~5x
                if config.customers > size:
                    small = Backlog.record(GeneratorConfig(customers=size), work / "profile.hubrec")
                log(f"profile: one worker under cProfile, {small.records:,} records")
                out = profile(base, small, work / "profile")
                out["background_cores_before"] = bg
                return out

            report["profile"] = _guard("profile", run_profile)
        report["component_benchmarks"] = _component_files()
    finally:
        close_run(report, started, work, args.keep)
    report["summary"] = summary(report)
    json.dump(report, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
    print(table(report), file=sys.stderr)
    return 0


def _guard(what: str, fn: Callable[[], dict[str, Any]], attempts: int = 2) -> dict[str, Any]:
    """Run one part; retried once after a failure (the shared broker may have been restarted
    under us), then recorded in the report as failed while the suite goes on."""
    errors: list[str] = []
    for attempt in range(attempts):
        try:
            out = fn()
            if errors:
                out["retried_after"] = errors
            return out
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:2000])
            log(f"{what} FAILED (attempt {attempt + 1}/{attempts}): {errors[-1].splitlines()[0]}")
            if attempt + 1 < attempts and not wait_for_broker(Settings.from_env()):
                break
    return {"error": errors[-1], "errors": errors}


def _drain_run(
    settings: Settings,
    backlog: Backlog,
    work: Path,
    i: int,
    repeat: int,
    key: str,
    workers: int,
    sink: bool,
    quiet_wait: float,
    watch: dict[str, int],
) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        bg = _quiet(quiet_wait)
        log(f"[{i + 1}/{repeat}] {key}: draining {backlog.records:,} records")
        r = drain(settings, backlog, work / f"{key}-{i}", workers=workers, sink=sink, watch=watch)
        r["background_cores_before"] = bg
        rate = r["e2e_events_per_s"] if sink else r["worker_events_per_s"]
        log(f"[{i + 1}/{repeat}] {key}: {rate:,.0f} events/s")
        return r

    return _guard(f"{key} run {i + 1}", run)


def _plain_run(
    base: Settings, backlog: Backlog, i: int, repeat: int, quiet_wait: float
) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        bg = _quiet(quiet_wait)
        log(f"[{i + 1}/{repeat}] plain loop: the hub's code over {backlog.records:,} records")
        r = plain_loop(backlog, base.pii_key.encode())
        r["background_cores_before"] = bg
        return r

    return _guard(f"plain loop {i + 1}", run)


def _peer_run(
    base: Settings, backlog: Backlog, work: Path, i: int, repeat: int, quiet_wait: float
) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        bg = _quiet(quiet_wait)
        log(f"[{i + 1}/{repeat}] peer: Quix Streams draining {backlog.records:,} records")
        r = quix_drain(base, backlog, work / f"peer-{i}")
        r["background_cores_before"] = bg
        return r

    return _guard(f"peer run {i + 1}", run)


def _peer_report(peer: list[dict[str, Any]], w1: list[dict[str, Any]]) -> dict[str, Any]:
    """The peer's figures, and the worker's against it run by run (each pair is adjacent in
    time, so a ratio cancels most of the machine's noise)."""
    pairs = [
        (w, p) for w, p in zip(w1, peer, strict=False) if "error" not in w and "error" not in p
    ]
    return {
        "what": "Quix Streams 3 on the same backlog, running the hub's own per-event code "
        "(acceptance test, normalise, CustomerProcessor, Avro profile; state as JSON in "
        "Quix's RocksDB state): events/s to the last output, CPU per event; the worker's "
        "1-process run of the same repetition divided by it",
        **_summary(
            _ok(peer),
            {
                "events_per_s": lambda r: r["events_per_s"],
                "cpu_us_per_event": lambda r: r["cpu_us_per_event"],
            },
        ),
        "worker_over_peer_events_per_s": stats(
            [w["worker_events_per_s"] / p["events_per_s"] for w, p in pairs], digits=2
        ),
        # Both to the last input's verdict (the peer's last output comes with its last input).
        "worker_over_peer_to_last_input": stats(
            [
                w["worker_events_per_s_to_last_input"] / p["events_per_s"]
                for w, p in pairs
                if w.get("worker_events_per_s_to_last_input")
            ],
            digits=2,
        ),
        "runs": peer,
    }


def _ok(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if "error" not in r]


def _worker_report(w1: list[dict[str, Any]], w2: list[dict[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Callable[[dict[str, Any]], float]] = {
        "events_per_s": lambda r: r["worker_events_per_s"],
        "events_per_s_to_last_input": lambda r: r["worker_events_per_s_to_last_input"] or 0,
        "cpu_us_per_event": lambda r: r["worker_cpu_us_per_event"],
    }
    return {
        "what": "events/s from the replay's start to the last profile record (events_per_s) "
        "and to the verdict on the last input record (events_per_s_to_last_input, from the "
        "workers' /metrics every 0.1 s), worker start-up excluded; CPU per event (all worker "
        "processes) over the drain",
        "1_process": {**_summary(_ok(w1), fields), "runs": w1},
        "2_processes": {**_summary(_ok(w2), fields), "runs": w2},
    }


def _memory_report(w1: list[dict[str, Any]], backlog: Backlog) -> dict[str, Any]:
    return {
        "what": "1 worker process: RSS after the backlog minus RSS when ready, scaled to "
        "100,000 profiles (customers with events); RocksDB files on disk after the run",
        "profiles": backlog.customers,
        **_summary(
            _ok(w1),
            {
                "rss_mib_per_100k_profiles": lambda r: r["worker_rss_mib_per_100k_profiles"],
                "rss_start_mib": lambda r: r["worker_rss_start_mib"][0],
                "rss_end_mib": lambda r: r["worker_rss_end_mib"][0],
                "rocksdb_on_disk_mib": lambda r: r["worker_state_mib"],
            },
        ),
    }


def _e2e_report(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "what": "1 worker + 1 sink: events/s from the replay's start until the sink has "
        "committed every input and output record (after its ClickHouse INSERTs), its "
        "committed offsets polled every 0.2 s; to_lags_zero: until the suite saw both groups' "
        "lag at 0, which also waits for the worker's next commit (the clock before 2026-12-02)",
        **_summary(
            _ok(runs),
            {
                "events_per_s": lambda r: r["e2e_events_per_s"],
                "events_per_s_to_lags_zero": lambda r: r["e2e_events_per_s_to_lags_zero"],
                "worker_events_per_s_with_sink_running": lambda r: r["worker_events_per_s"],
                "sink_finished_after_worker_s": lambda r: r["sink_after_worker_seconds"],
            },
        ),
        "runs": runs,
    }


def _ceiling(
    base: Settings, backlog: Backlog, work: Path, repeat: int, quiet_wait: float
) -> dict[str, Any]:
    bg = _quiet(quiet_wait)
    log("ceiling: aiokafka getmany over the same input topics")
    r = ceiling(base, backlog, work / "ceiling", max(repeat, 3))
    return {
        "what": "aiokafka AIOKafkaConsumer.getmany loop over the four pre-produced input "
        "topics, one process, no group; count only (and with the hub's Avro decode)",
        "records": r["records"],
        "count_only_records_per_s": stats(r["count_only"]),
        "with_decode_records_per_s": stats(r["with_decode"]),
        "background_cores_before": bg,
    }


def _part(report: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A part of the report that ran and did not fail."""
    value = report.get(key)
    return value if isinstance(value, dict) and "error" not in value else None


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, flat."""
    out: dict[str, Any] = {
        k: "FAILED" for k, v in report.items() if isinstance(v, dict) and "error" in v
    }
    w = _part(report, "worker_alone")
    if w:
        out["worker_1_process_events_per_s"] = w["1_process"]["events_per_s"]
        out["worker_2_processes_events_per_s"] = w["2_processes"]["events_per_s"]
        out["worker_cpu_us_per_event"] = w["1_process"]["cpu_us_per_event"]
    q = _part(report, "peer")
    if q:
        out["peer_quix_events_per_s"] = q["events_per_s"]
        out["peer_quix_cpu_us_per_event"] = q["cpu_us_per_event"]
        out["worker_over_peer_events_per_s"] = q["worker_over_peer_events_per_s"]
    pl = _part(report, "plain_loop")
    if pl:
        out["plain_loop_cpu_us_per_record"] = pl["cpu_us_per_record"]
        out["plain_loop_json_state_cpu_us_per_record"] = pl["json_cpu_us_per_record"]
    e = _part(report, "end_to_end")
    if e:
        out["end_to_end_events_per_s"] = e["events_per_s"]
    m = _part(report, "memory")
    if m:
        out["worker_rss_mib_per_100k_profiles"] = m["rss_mib_per_100k_profiles"]
    c = _part(report, "ceiling")
    if c:
        out["ceiling_aiokafka_count_only_records_per_s"] = c["count_only_records_per_s"]
    lat = _part(report, "latency")
    if lat:
        out["latency_offered_events_per_s"] = lat["offered_events_per_s"]
        for key in ("event_to_profile", "deadline_to_breach", "event_to_anomaly"):
            p = lat[key]["produced"]
            out[f"{key}_ms"] = {k: p.get(k) for k in ("p50_ms", "p99_ms", "n")}
        ch = lat["event_to_clickhouse"]
        out["event_to_clickhouse_ms"] = {
            k: ch.get(k) for k in ("p50_ms", "p99_ms", "n", "poll_interval_ms")
        }
    p = _part(report, "profile")
    if p and "share_of_busy_pct" in p:
        out["profile_share_of_busy_pct"] = p["share_of_busy_pct"]
    return out


def _fmt(s: dict[str, Any] | None, unit: str = "", digits: int = 0) -> str:
    if not s or not s.get("n"):
        return "-"
    d = digits
    if s["n"] == 1:
        return f"{s['median']:,.{d}f}{unit}"
    return f"{s['median']:,.{d}f}{unit} ({s['min']:,.{d}f}-{s['max']:,.{d}f}, n={s['n']})"


def table(report: dict[str, Any]) -> str:
    """A short human-readable table of the headline figures."""
    rows: list[tuple[str, str]] = []
    w = _part(report, "worker_alone")
    if w:
        for n, key in (("1 process", "1_process"), ("2 processes", "2_processes")):
            rows.append((f"worker alone, {n} (events/s)", _fmt(w[key]["events_per_s"])))
            last = w[key]["events_per_s_to_last_input"]
            rows.append(("  to the last input's verdict", _fmt(last)))
        rows.append(
            ("worker CPU per event, 1 process (us)", _fmt(w["1_process"]["cpu_us_per_event"]))
        )
    q = _part(report, "peer")
    if q:
        rows.append(("peer: Quix Streams, hub code (events/s)", _fmt(q["events_per_s"])))
        rows.append(("peer: CPU per event (us)", _fmt(q["cpu_us_per_event"])))
        ratio = q["worker_over_peer_events_per_s"]
        rows.append(("worker / peer, same repetition", _fmt(ratio, digits=2)))
        last = q["worker_over_peer_to_last_input"]
        rows.append(("  to the last input's verdict", _fmt(last, digits=2)))
    pl = _part(report, "plain_loop")
    if pl:
        rows.append(
            ("hub code in a plain loop, CPU per record (us)", _fmt(pl["cpu_us_per_record"]))
        )
        rows.append(("  the same, state JSON per event (us)", _fmt(pl["json_cpu_us_per_record"])))
    e = _part(report, "end_to_end")
    if e:
        rows.append(("end to end, worker + sink (events/s)", _fmt(e["events_per_s"])))
    m = _part(report, "memory")
    if m:
        rows.append(("worker RSS per 100k profiles (MiB)", _fmt(m["rss_mib_per_100k_profiles"])))
    c = _part(report, "ceiling")
    if c:
        rows.append(
            ("ceiling: aiokafka getmany, count only (rec/s)", _fmt(c["count_only_records_per_s"]))
        )
        rows.append(("  same, with the hub's decode (rec/s)", _fmt(c["with_decode_records_per_s"])))
    lat = _part(report, "latency")
    if lat:
        rows.append(
            (f"latency at {lat['offered_events_per_s']:,.0f} events/s", "p50 / p99 ms (samples)")
        )
        for title, key in (
            ("  event -> profile", "event_to_profile"),
            ("  deadline -> breach (incl. lateness)", "deadline_to_breach"),
            ("  event -> anomaly", "event_to_anomaly"),
        ):
            p = lat[key]["produced"]
            rows.append(
                (title, f"{p.get('p50_ms', '-')} / {p.get('p99_ms', '-')} ({p.get('n', 0)})")
            )
        ch = lat["event_to_clickhouse"]
        rows.append(
            (
                f"  event -> ClickHouse row (poll {ch['poll_interval_ms']} ms)",
                f"{ch.get('p50_ms', '-')} / {ch.get('p99_ms', '-')} ({ch.get('n', 0)})",
            )
        )
    p = _part(report, "profile")
    if p and "share_of_busy_pct" in p:
        shares = ", ".join(f"{k} {v}%" for k, v in p["share_of_busy_pct"].items())
        rows.append(("profile: busy time", shares))
    for key, value in report.items():
        if isinstance(value, dict) and "error" in value:
            rows.append((f"{key}: FAILED", str(value["error"]).splitlines()[0][:120]))
    width = max(len(r[0]) for r in rows) if rows else 0
    lines = [f"insurance-hub benchmarks, {report['when']} ({report.get('duration_s', 0):.0f} s)"]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
