"""Throughput: a pre-produced backlog drained by the worker (alone, or with the sink).

One drain = one fresh deployment (bench/common.py ``isolated``):

1. create the topics (and the ClickHouse schema when the sink runs), start the processes and
   wait until they are ready (Faust logged Ready, the group is stable, every partition ticks);
   start-up is not timed;
2. replay the recorded run into the input topics at ~57k records/s (much faster than the
   worker, so the worker always has a backlog);
3. time from the replay's start to the worker's last profile record (its Kafka timestamp;
   committed offsets move only every few seconds, so they are used for "done", not for the
   clock). With the sink, the clock stops when the sink's group has committed every record
   of every hub topic (polled every 0.5 s).

Also measured per worker process: CPU seconds over the drain and RSS before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    REPO_ROOT,
    HubProcess,
    MachineLoad,
    cleanup,
    cpu_seconds,
    end_offsets,
    fresh_database,
    group_state,
    input_names,
    isolated,
    log,
    output_names,
    rss_kib,
    start_workers,
    wait_until,
    wait_workers_ready,
    worker_settings,
)
from kafka import KafkaConsumer, TopicPartition
from support.harness import env_for
from support.outputs import processed

from schemas import CUSTOMER_PROFILE
from streams.kafka_admin import admin_client, group_offsets, total_lag
from streams.settings import Settings
from streams.simulator import GeneratorConfig
from streams.simulator.recording import Recording, load, record, replay
from streams.worker.topics import ensure_worker_topics


@dataclass
class Backlog:
    """A recorded run, and what it holds."""

    recording: Recording
    customers: int  # distinct keys on the input topics (customers that get a profile)

    @property
    def records(self) -> int:
        return self.recording.records

    @classmethod
    def of(cls, rec: Recording) -> Backlog:
        return cls(rec, len({key for _, _, key, _ in rec.items()}))

    @classmethod
    def record(cls, config: GeneratorConfig, path: Path) -> Backlog:
        """Record a generator run to ``path`` (not published) and load it."""
        t0 = time.monotonic()
        record(config, path)
        backlog = cls.of(load(path))
        log(
            f"recorded {backlog.records:,} records, {backlog.customers:,} customers "
            f"({config.customers:,} customers, {config.days:g} days) "
            f"in {time.monotonic() - t0:.1f} s"
        )
        return backlog


def _du(path: Path) -> int:
    """Bytes under ``path``: the running workers' RocksDB directories (SST files and the
    write-ahead logs that mirror the memtables not yet flushed)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def last_timestamp(s: Settings, topic: str) -> int:
    """The newest record timestamp (ms) on a topic: the last record of each partition."""
    consumer = KafkaConsumer(bootstrap_servers=s.kafka.bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(tps)
        live = [tp for tp in tps if ends[tp] > 0]
        if not live:
            return 0
        consumer.assign(live)
        for tp in live:
            consumer.seek(tp, ends[tp] - 1)
        newest, seen = 0, set[TopicPartition]()
        deadline = time.monotonic() + 20
        while len(seen) < len(live) and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    newest = max(newest, int(r.timestamp))
                    seen.add(tp)
        return newest
    finally:
        consumer.close()


class InputsDone:
    """When the workers had given every input record its verdict (applied, duplicate or
    dead letter), from their /metrics polled every 0.1 s in a thread."""

    def __init__(self, ports: list[int], records: int) -> None:
        self.ports, self.records = ports, records
        self.at: float | None = None  # time.time() when reached
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                if processed(self.ports) >= self.records:
                    self.at = time.time()
                    return
            time.sleep(0.1)

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.at


class Landed:
    """When the sink had committed every record of the topics as they finally end, from its
    group's committed offsets polled every 0.2 s in a thread.

    The sink commits a record's offset only after ClickHouse acknowledged its row, so this is
    when the last row was queryable (within 0.2 s), whatever the worker's commit cadence
    (Faust commits every 2.8 s) and the suite's lag polls, which the "sink lag 0" wait
    includes. Partitions the sink never committed count from offset 0 (the topics are fresh),
    as in the lag definition of ``streams.kafka_admin``.
    """

    def __init__(self, s: Settings, group_id: str) -> None:
        self.bootstrap, self.group_id = s.kafka.bootstrap, group_id
        self.samples: list[tuple[float, dict[TopicPartition, int]]] = []  # (monotonic, offsets)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        with admin_client(self.bootstrap, "hub-bench-landed") as admin:
            while not self._stop.is_set():
                with contextlib.suppress(Exception):
                    self.samples.append((time.monotonic(), group_offsets(admin, self.group_id)))
                time.sleep(0.2)

    def at(self, ends: dict[TopicPartition, int]) -> float | None:
        """The first sample (time.monotonic()) at which every offset had reached ``ends``."""
        self._stop.set()
        self._thread.join(timeout=5)
        for t, committed in self.samples:
            if all(committed.get(tp, 0) >= end for tp, end in ends.items()):
                return t
        return None


def drain(
    base: Settings,
    backlog: Backlog,
    tmp: Path,
    *,
    workers: int = 1,
    sink: bool = False,
    timeout_s: float = 900,
    watch: dict[str, int] | None = None,
    tree: Path = REPO_ROOT,
) -> dict[str, Any]:
    """Drain ``backlog`` once; returns rates, CPU and memory of this repetition.

    ``watch``: more processes whose CPU use to report (the private ClickHouse server).
    ``tree``: the source tree the workers run from.
    """
    label = f"w{workers}" + ("s" if sink else "")
    s = isolated(base, tmp, label)
    procs: list[HubProcess] = []
    sink_proc: HubProcess | None = None
    landed: Landed | None = None
    try:
        ensure_worker_topics(s)
        if sink:
            fresh_database(s)
            sink_proc = HubProcess(s, ["sink", "--no-metrics"], tmp / "sink.log")
        procs = start_workers(s, workers, tmp, tree=tree)
        if sink_proc is not None:
            wait_until(
                lambda: group_state(s, s.sink.group_id) == ("Stable", 1),
                90,
                "sink group stable",
                [sink_proc],
                interval_s=0.5,
            )
        pids = [p.proc.pid for p in procs]
        rss0 = [rss_kib(pid) for pid in pids]
        cpu0 = [cpu_seconds(pid) for pid in pids]
        sink_cpu0 = cpu_seconds(sink_proc.proc.pid) if sink_proc else 0.0
        everyone = [*procs, *([sink_proc] if sink_proc else [])]

        named = {f"worker{i + 1}": pid for i, pid in enumerate(pids)}
        if sink_proc is not None:
            named["sink"] = sink_proc.proc.pid
            named.update(watch or {})
        load = MachineLoad(named)
        ports = [p.settings.prometheus.worker_metrics_port for p in procs]
        inputs_done = InputsDone(ports, backlog.records)
        landed = Landed(s, s.sink.group_id) if sink_proc is not None else None
        wall0 = time.time()
        t0 = time.monotonic()
        replayed = replay(backlog.recording, s, create=False, progress=False)
        replay_s = time.monotonic() - t0
        inputs = input_names(s)
        wait_until(
            lambda: total_lag(s.kafka.bootstrap, s.worker.app_id, inputs) == 0,
            timeout_s,
            "worker lag 0",
            everyone,
            interval_s=1.0,
        )
        worker_done_mono = time.monotonic()
        last_input_at = inputs_done.stop()
        machine = load.done()
        last_profile_ms = last_timestamp(s, s.kafka.topic_prefix + CUSTOMER_PROFILE)
        worker_s = last_profile_ms / 1000 - wall0
        rss1 = [rss_kib(pid) for pid in pids]
        cpu1 = [cpu_seconds(pid) for pid in pids]
        out: dict[str, Any] = {
            "workers": workers,
            "records": replayed.records,
            "customers": backlog.customers,
            "replay_seconds": round(replay_s, 2),
            "worker_seconds": round(worker_s, 2),
            "worker_events_per_s": round(replayed.records / worker_s, 1),
            # To the verdict on the last input record: what the peer's figure measures too
            # (one output per input). The profile clock above also runs through the tail of
            # breaches the wall clock makes once the input is idle.
            "worker_events_per_s_to_last_input": (
                round(replayed.records / (last_input_at - wall0), 1) if last_input_at else None
            ),
            "worker_cpu_seconds": [round(b - a, 2) for a, b in zip(cpu0, cpu1, strict=True)],
            "worker_cpu_us_per_event": round(
                sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) / replayed.records * 1e6, 1
            ),
            "worker_rss_start_mib": [round(r / 1024, 1) for r in rss0],
            "worker_rss_end_mib": [round(r / 1024, 1) for r in rss1],
            "worker_state_mib": round(_du(tmp / "worker") / 2**20, 1),
            "machine": machine,
        }
        if workers == 1:
            out["worker_rss_mib_per_100k_profiles"] = round(
                (rss1[0] - rss0[0]) / 1024 / backlog.customers * 100_000, 1
            )
        if sink_proc is not None:
            topics = inputs + output_names(s)
            wait_until(
                lambda: total_lag(s.kafka.bootstrap, s.sink.group_id, topics) == 0,
                timeout_s,
                "sink lag 0",
                everyone,
                interval_s=0.5,
            )
            lags_zero_s = time.monotonic() - t0
            ends = end_offsets(s, topics)
            landed_at = landed.at(ends) if landed is not None else None
            e2e_s = (landed_at - t0) if landed_at is not None else lags_zero_s
            out.update(
                # To the sink's commit of the last record (its row acknowledged by ClickHouse).
                e2e_seconds=round(e2e_s, 2),
                e2e_events_per_s=round(replayed.records / e2e_s, 1),
                # To the moment the suite saw both groups' lag at 0 (the worker's lag waits for
                # its next commit): the clock used before 2026-12-02.
                e2e_events_per_s_to_lags_zero=round(replayed.records / lags_zero_s, 1),
                sink_after_worker_seconds=round(time.monotonic() - worker_done_mono, 2),
                sink_cpu_seconds=round(cpu_seconds(sink_proc.proc.pid) - sink_cpu0, 2),
                output_records=sum(n for tp, n in ends.items() if tp.topic not in inputs),
            )
        return out
    finally:
        if landed is not None:
            landed.at({})
        for p in procs:
            p.stop(timeout=30)
        if sink_proc is not None:
            sink_proc.stop(timeout=30)
        cleanup(s)


def ceiling(base: Settings, backlog: Backlog, tmp: Path, repeat: int) -> dict[str, Any]:
    """aiokafka ``getmany`` over the same pre-produced input topics: count only (and decode).

    The backlog is replayed to a fresh deployment (several times when small, so a read lasts
    long enough to time); each repetition reads all four input topics from the beginning
    with a fresh consumer (no group, no commits).
    """
    s = isolated(base, tmp, "ceil")
    try:
        ensure_worker_topics(s)
        copies = max(1, -(-100_000 // backlog.records))
        for _ in range(copies):
            replay(backlog.recording, s, create=False, progress=False)
        total = copies * backlog.records
        names = input_names(s)
        count_only = [asyncio.run(_getmany(s, names, total, False)) for _ in range(repeat)]
        decoded = [asyncio.run(_getmany(s, names, total, True)) for _ in range(repeat)]
        return {"records": total, "count_only": count_only, "with_decode": decoded}
    finally:
        cleanup(s)


async def _getmany(s: Settings, topics: list[str], expected: int, decode: bool) -> float:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as ATP

    from schemas import Codec

    codec = Codec()
    cut = len(s.kafka.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.kafka.bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        tps = [ATP(tp.topic, tp.partition) for tp in end_offsets(s, topics)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count = 0
        t0 = time.perf_counter()
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                count += len(records)
                if decode:
                    name = tp.topic[cut:]
                    for r in records:
                        with contextlib.suppress(Exception):  # injected malformed records
                            codec.decode(name, r.value)
        elapsed = time.perf_counter() - t0
    finally:
        await consumer.stop()
    log(f"ceiling {'decode' if decode else 'count'}: {count / elapsed:,.0f} records/s")
    return round(count / elapsed, 1)


class ProfiledWorker(HubProcess):
    """``bench/profiled_worker.py``: ``hub worker`` under cProfile (a HubProcess otherwise)."""

    def __init__(self, s: Settings, log_path: Path, out_dir: Path) -> None:
        self.log = log_path
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.log.open("ab")
        script = Path(__file__).resolve().parent / "profiled_worker.py"
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(out_dir)],
            cwd=REPO_ROOT,
            env=env_for(s),
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def profile(base: Settings, backlog: Backlog, tmp: Path, timeout_s: float = 900) -> dict[str, Any]:
    """One worker draining ``backlog`` under cProfile; the profile summarised by package."""
    from profiled_worker import summarise

    s = isolated(base, tmp, "prof")
    out_dir = tmp / "profile"
    proc: ProfiledWorker | None = None
    try:
        ensure_worker_topics(s)
        proc = ProfiledWorker(worker_settings(s, "w1"), tmp / "worker-profiled.log", out_dir)
        wait_workers_ready(s, [proc])
        wall0 = time.time()
        replayed = replay(backlog.recording, s, create=False, progress=False)
        inputs = input_names(s)
        wait_until(
            lambda: total_lag(s.kafka.bootstrap, s.worker.app_id, inputs) == 0,
            timeout_s,
            "profiled worker lag 0",
            [proc],
            interval_s=1.0,
        )
        seconds = last_timestamp(s, s.kafka.topic_prefix + CUSTOMER_PROFILE) / 1000 - wall0
        rc = proc.stop(timeout=90)
        proc = None
        files = sorted(out_dir.glob("*.prof"))
        summary = summarise(files, replayed.records)
        return {
            "records": replayed.records,
            "customers": backlog.customers,
            "events_per_s_under_profiler": round(replayed.records / seconds, 1),
            "exit_code": rc,
            "note": "cProfile slows Python code down, more so code made of many small calls: "
            "read shares, not absolute times",
            **summary,
        }
    finally:
        if proc is not None:
            proc.kill()
        cleanup(s)
