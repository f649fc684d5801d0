"""Worker memory and restart time against the number of customers in its state (not a test).

Why: the issue asks how the worker scales with its state: RSS and RocksDB size at 10k, 100k
and 1M customers, and how long a restart after SIGKILL takes with 1M customers in state
(a killed worker keeps its RocksDB where it is sound, streams/worker/local_state.py, and
scans it for deadlines and outboxes before it processes anything new). The load is a
"policy-only backfill": one valid ``policy_issued`` sales event per customer, so
customers = records.

For each size N, one fresh deployment (bench/common.py ``isolated``: own topic prefix, app
id and state directory, deleted afterwards):

1. create the worker topics, start ONE worker and wait until it is ready (not timed);
2. produce N ``policy_issued`` events (customers C0000000.., distinct event, policy and
   application ids, ``occurred_at`` one second apart from ~30 days ago, so none is in the
   future, none is below the dedup horizon behind the watermark) keyed by customer_id to
   the sales input topic, as fast as kafka-python goes;
3. drain: from the produce start until the worker group's committed lag is 0 (polled every
   second; offsets are committed every few seconds, so this includes up to one commit
   interval). Reported: events/s, worker RSS when ready and after the drain, the RocksDB
   directory's size while it runs, the worker's CPU seconds;
4. restart: SIGKILL the worker, start a new one on the same settings and state directory
   and, right after launching it, produce one more ``policy_issued`` for a new customer.
   Timed from the launch: the log line "recovered N customers" (the rebalance's table
   recovery is done; its Faust timestamp when parseable), the new event consumed (the
   worker's ``hub_worker_events_consumed_total`` above 0) and the group's committed lag
   back to 0 (polled every 0.5 s). The join waits for the killed member's session to
   expire at the broker (part of a real restart too), so the log's "Joined group" time is
   reported as well: the table recovery and the scan are what come after it.

The machine's load (bench/common.py ``MachineLoad``, with the 1-minute load average) is
recorded next to each figure. JSON on stdout, progress and a short table on stderr.

    .venv/bin/python bench/bench_state_size.py                        # 10k, 100k, 1M
    .venv/bin/python bench/bench_state_size.py --customers 10000 --keep
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_start import consumed
from common import (
    HubProcess,
    MachineLoad,
    cleanup,
    close_run,
    cpu_seconds,
    input_names,
    isolated,
    log,
    rss_kib,
    start_workers,
    wait_for_broker,
    wait_until,
    worker_settings,
)
from drain import _du, last_timestamp
from kafka import KafkaProducer
from support.event_samples import DOMAIN_FIELDS, _envelope

from schemas import CUSTOMER_PROFILE, SALES, Codec
from streams.kafka_admin import total_lag
from streams.settings import Settings
from streams.worker.topics import ensure_worker_topics

DEFAULT_SIZES = "10000,100000,1000000"
#: The first event's occurred_at, before now: the whole backfill (1M s = 11.6 days) stays in
#: the past and within the 30-day dedup horizon of its newest event.
START_BEFORE_NOW = timedelta(days=30)
#: "re-sent ... recovered N customers across partitions [..]" (streams/worker/app.py)
RECOVERED = re.compile(r"recovered (\d+) customers across partitions \[([^\]]*)\]")
#: aiokafka, once the group took the new member in (after the killed one's session expired)
JOINED = "Joined group"
#: streams/worker/local_state.py, per partition of the killed run's RocksDB
KEPT = "RocksDB kept"
REBUILT = "RocksDB rebuilt from the changelog"
MIB = 1024  # KiB per MiB (rss_kib)


def _mib(kib: int) -> float:
    return round(kib / MIB, 1)


# -- the backfill ---------------------------------------------------------------------


class Backfill:
    """``policy_issued`` events of customers C0000000.., one second apart, Avro-encoded.

    One canonical template (validated once by the codec), changed in place per customer:
    only the ids and ``occurred_at`` differ, so the rest need not be validated again.
    """

    def __init__(self, start: datetime) -> None:
        self.codec = Codec()
        self.start = start
        sample = {**_envelope(SALES, "policy_issued", 0), **DOMAIN_FIELDS[SALES]["policy_issued"]}
        self.template = self.codec.validate(SALES, self._fill(sample, 0))

    def _fill(self, rec: dict[str, Any], i: int) -> dict[str, Any]:
        rec["event_id"] = f"evt-backfill-{i}"
        rec["customer_id"] = self.customer(i)
        rec["policy_id"] = f"P{i:09d}"
        rec["application_id"] = f"AP{i:09d}"
        rec["occurred_at"] = self.start + timedelta(seconds=i)
        return rec

    @staticmethod
    def customer(i: int) -> str:
        return f"C{i:07d}"

    def encoded(self, i: int) -> tuple[bytes, bytes]:
        """(key, value) of customer ``i``'s event."""
        rec = self._fill(self.template, i)
        return rec["customer_id"].encode(), self.codec.encode(SALES, rec, validate=False)


def produce(s: Settings, backfill: Backfill, first: int, count: int) -> float:
    """Send events ``first``..``first + count - 1`` to the sales topic; returns seconds."""
    topic = s.kafka.topic_prefix + SALES
    producer = KafkaProducer(
        bootstrap_servers=s.kafka.bootstrap,
        acks=1,
        linger_ms=50,
        batch_size=512 * 1024,
    )
    t0 = time.monotonic()
    try:
        step = max(100_000, count // 10)
        for i in range(first, first + count):
            key, value = backfill.encoded(i)
            producer.send(topic, key=key, value=value)
            if count > step and (i - first + 1) % step == 0:
                log(f"  produced {i - first + 1:,} of {count:,}")
        producer.flush()
        return time.monotonic() - t0
    finally:
        producer.close()


# -- the restart ----------------------------------------------------------------------


def _faust_stamp(line: str) -> float | None:
    """Epoch seconds of a Faust log line (``[2026-11-30 23:32:13,840] ...``, local time)."""
    if not line.startswith("[") or "]" not in line:
        return None
    try:
        return datetime.strptime(line[1 : line.index("]")], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    except ValueError:
        return None


def _first_stamp(text: str, marker: str) -> float | None:
    """Epoch seconds of the first Faust log line containing ``marker``."""
    for line in text.splitlines():
        if marker in line:
            stamp = _faust_stamp(line)
            if stamp is not None:
                return stamp
    return None


@dataclass
class Recovered:
    """The first "recovered N customers" line of a worker log with partitions assigned."""

    customers: int
    partitions: str
    logged_at: float | None  # epoch seconds from the line's Faust timestamp
    seen_at: float  # epoch seconds when this script saw it
    lines_before: list[str] = field(default_factory=list)  # earlier ones, no partitions


def find_recovered(log_path: Path) -> Recovered | None:
    earlier: list[str] = []
    for line in log_path.read_text(errors="replace").splitlines():
        m = RECOVERED.search(line)
        if m is None:
            continue
        if not m.group(2).strip():
            earlier.append(line)
            continue
        return Recovered(int(m.group(1)), m.group(2), _faust_stamp(line), time.time(), earlier)
    return None


def restart(
    s: Settings, backfill: Backfill, n: int, work: Path, timeout_s: float
) -> dict[str, Any]:
    """Start a worker on the killed one's state directory; time its recovery and one new
    event (customer ``n``, produced right after the launch)."""
    inputs = input_names(s)
    wall0 = time.time()
    t0 = time.monotonic()
    ws = worker_settings(s, "w1")  # the same worker id, so the same state directory
    proc = HubProcess(ws, ["worker"], work / "worker-restart.log")
    load = MachineLoad({"worker": proc.proc.pid})
    try:
        produce(s, backfill, n, 1)
        port = ws.prometheus.worker_metrics_port
        marks: dict[str, float] = {}
        found: list[Recovered] = []

        def check() -> bool:
            now = time.monotonic()
            if not found:
                r = find_recovered(proc.log)
                if r is not None:
                    found.append(r)
                    marks["recovered"] = (r.logged_at or r.seen_at) - wall0
                    log(f"  recovered {r.customers:,} customers after {marks['recovered']:.1f} s")
            if "consumed" not in marks and consumed(port) > 0:
                marks["consumed"] = now - t0
            if "lag0" not in marks and total_lag(s.kafka.bootstrap, s.worker.app_id, inputs) == 0:
                marks["lag0"] = now - t0
            return bool(found) and {"consumed", "lag0"} <= marks.keys()

        wait_until(check, timeout_s, "restarted worker: recovery and the new event", [proc], 0.5)
        machine = load.done()
        rss = rss_kib(proc.proc.pid)
        cpu = cpu_seconds(proc.proc.pid)
    finally:
        rc = proc.stop(timeout=60)
    r = found[0]
    text = proc.log.read_text(errors="replace")
    joined = _first_stamp(text, JOINED)
    joined_s = round(joined - wall0, 2) if joined is not None else None
    return {
        "rocksdb_partitions_kept": text.count(KEPT),
        "rocksdb_partitions_rebuilt": text.count(REBUILT),
        "joined_group_seconds": joined_s,
        "recovered_seconds": round(marks["recovered"], 2),
        "recovery_after_join_seconds": (
            round(marks["recovered"] - joined_s, 2) if joined_s is not None else None
        ),
        "recovered_customers": r.customers,
        "recovered_matches_customers": r.customers == n,
        "recovered_partitions": r.partitions,
        "recovered_from": "faust log timestamp" if r.logged_at else "log polled every 0.5 s",
        "recovered_lines_without_partitions": len(r.lines_before),
        "new_event_consumed_seconds": round(marks["consumed"], 2),
        "new_event_committed_seconds": round(marks["lag0"], 2),
        "worker_rss_after_recovery_mib": _mib(rss),
        "worker_cpu_seconds": round(cpu, 2),
        "stop_exit_code": rc,
        "machine": machine,
    }


# -- one size ---------------------------------------------------------------------------


def one_size(base: Settings, n: int, work: Path) -> dict[str, Any]:
    s = isolated(base, work, f"state{n}")
    inputs = input_names(s)
    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    backfill = Backfill(datetime.now(UTC) - START_BEFORE_NOW)
    proc: HubProcess | None = None
    try:
        ensure_worker_topics(s)
        proc = start_workers(s, 1, work)[0]
        pid = proc.proc.pid
        rss0, cpu0 = rss_kib(pid), cpu_seconds(pid)
        log(f"{n:,} customers: worker ready (RSS {_mib(rss0)} MiB), producing")
        load = MachineLoad({"worker": pid})
        wall0 = time.time()
        t0 = time.monotonic()
        produce_s = produce(s, backfill, 0, n)
        log(f"  produced {n:,} in {produce_s:.1f} s ({n / produce_s:,.0f}/s); draining")
        done = wait_until(
            lambda: total_lag(s.kafka.bootstrap, s.worker.app_id, inputs) == 0,
            300 + n / 250,
            "worker lag 0",
            [proc],
            interval_s=1.0,
        )
        drain_s = done - t0
        machine = load.done()
        rss1, cpu1 = rss_kib(pid), cpu_seconds(pid)
        state_bytes = _du(work / "worker")
        last_profile_s = last_timestamp(s, s.kafka.topic_prefix + CUSTOMER_PROFILE) / 1000 - wall0
        log(
            f"  drained in {drain_s:.1f} s ({n / drain_s:,.0f} events/s), RSS {_mib(rss1)} MiB, "
            f"RocksDB {state_bytes / 2**20:.1f} MiB; SIGKILL and restart"
        )
        proc.kill()
        proc = None
        restarted = restart(s, backfill, n, work, 600 + n / 2000)
        log(
            f"  restart: recovered {restarted['recovered_customers']:,} customers after "
            f"{restarted['recovered_seconds']} s, new event consumed after "
            f"{restarted['new_event_consumed_seconds']} s, committed after "
            f"{restarted['new_event_committed_seconds']} s"
        )
        return {
            "customers": n,
            "records": n,
            "loadavg_before": loadavg_before,
            "produce_seconds": round(produce_s, 2),
            "produce_records_per_s": round(n / produce_s, 1),
            "drain_seconds": round(drain_s, 2),
            "drain_events_per_s": round(n / drain_s, 1),
            "last_profile_seconds": round(last_profile_s, 2),
            "worker_rss_ready_mib": _mib(rss0),
            "worker_rss_drained_mib": _mib(rss1),
            "worker_rss_growth_mib_per_100k_customers": round((rss1 - rss0) / MIB / n * 100_000, 1),
            "rocksdb_mib": round(state_bytes / 2**20, 1),
            "rocksdb_bytes_per_customer": round(state_bytes / n, 1),
            "worker_cpu_seconds": round(cpu1 - cpu0, 2),
            "worker_cpu_us_per_event": round((cpu1 - cpu0) / n * 1e6, 1),
            "machine_during_drain": machine,
            "restart_after_sigkill": restarted,
        }
    finally:
        if proc is not None:
            proc.stop(timeout=60)
        cleanup(s)


# -- report -----------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {"cpus": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1)}


def table(report: dict[str, Any]) -> str:
    head = (
        "customers",
        "events/s",
        "RSS ready->drained MiB",
        "RocksDB MiB",
        "CPU s",
        "joined / recovered s (customers)",
        "new event s (consumed/committed)",
        "load 1m",
    )
    rows: list[tuple[str, ...]] = [head]
    failed: list[str] = []
    for r in report["runs"]:
        if "error" in r:
            failed.append(f"  {r['customers']:,}: FAILED: {r['error'].splitlines()[0][:120]}")
            continue
        rs = r["restart_after_sigkill"]
        rows.append(
            (
                f"{r['customers']:,}",
                f"{r['drain_events_per_s']:,.0f}",
                f"{r['worker_rss_ready_mib']:,.0f} -> {r['worker_rss_drained_mib']:,.0f}",
                f"{r['rocksdb_mib']:,.1f}",
                f"{r['worker_cpu_seconds']:,.1f}",
                f"{rs['joined_group_seconds']} / {rs['recovered_seconds']} "
                f"({rs['recovered_customers']:,})",
                f"{rs['new_event_consumed_seconds']} / {rs['new_event_committed_seconds']}",
                f"{r['machine_during_drain']['loadavg_1m']} / {rs['machine']['loadavg_1m']}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [f"worker state size, {report['when']} ({report['duration_s']:.0f} s)"]
    lines += ["  " + "  ".join(c.rjust(widths[i]) for i, c in enumerate(row)) for row in rows]
    return "\n".join(lines + failed)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--customers", default=DEFAULT_SIZES, help=f"comma list of sizes (default {DEFAULT_SIZES})"
    )
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, state)")
    args = ap.parse_args()
    try:
        sizes = [int(x.replace("_", "")) for x in args.customers.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--customers: not a comma list of numbers: {args.customers!r}")
    if not sizes or min(sizes) < 1 or max(sizes) >= 10_000_000:  # C%07d customer ids
        ap.error("--customers: sizes from 1 to 9,999,999")

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # unwind: stop the worker, delete topics

    signal.signal(signal.SIGTERM, on_sigterm)
    base = Settings.from_env()
    if not wait_for_broker(base):
        log("no broker: run `hub stack up` first")
        return 1
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="hub-bench-state-"))
    log(f"work directory {work}")
    report: dict[str, Any] = {
        "benchmark": "worker memory, RocksDB size and restart after SIGKILL by customers in "
        "state (policy-only backfill: one policy_issued per customer)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "bench/bench_state_size.py " + " ".join(sys.argv[1:]),
        "machine": _machine(),
        "broker": base.kafka.bootstrap,
        "input_partitions": base.kafka.input_partitions,
        "runs": [],
    }
    try:
        for n in sizes:
            try:
                report["runs"].append(one_size(base, n, work / f"n{n}"))
            except Exception as exc:
                log(f"{n:,} customers FAILED: {exc}")
                report["runs"].append({"customers": n, "error": f"{type(exc).__name__}: {exc}"})
            if not args.keep:
                shutil.rmtree(work / f"n{n}", ignore_errors=True)
    finally:
        close_run(report, started, work, args.keep)
    json.dump(report, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
    print(table(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
