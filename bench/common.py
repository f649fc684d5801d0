"""Shared helpers of the benchmark suite (bench/run.py): isolation, processes, clean-up, stats.

Every measurement runs on its own deployment of the hub on the shared local stack: a fresh
topic prefix, worker app id, sink group, ClickHouse database and state directory (see
:func:`isolated`), deleted again by :func:`cleanup` so repeated runs do not fill the disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
# tests/ for the test support package (tests/support/), which the benchmarks share.
for _p in (REPO_ROOT, REPO_ROOT / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # noqa: E402
from support.harness import HubProcess as HubProcess  # noqa: E402  (re-exported)
from support.harness import free_port  # noqa: E402

from schemas import INPUT_TOPICS, OUTPUT_TOPICS  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.worker.topics import tick_topic  # noqa: E402


def close_run(report: dict[str, Any], started: float, work: Path, keep: bool) -> None:
    """The run's duration into its report; its work directory kept (``--keep``) or removed."""
    report["duration_s"] = round(time.monotonic() - started, 1)
    if keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def log(msg: str) -> None:
    """Progress goes to stderr (stdout carries the JSON)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- statistics ------------------------------------------------------------------------


def stats(values: Sequence[float], digits: int = 1) -> dict[str, Any]:
    """Median and spread (min/max) of a figure measured once per repetition."""
    if not values:
        return {"n": 0}
    median = statistics.median(values)
    return {
        "median": round(median, digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "spread_pct": round(100 * (max(values) - min(values)) / median, 1) if median else 0.0,
        "n": len(values),
    }


def percentiles(samples: Sequence[float], digits: int = 1) -> dict[str, Any]:
    """p50/p90/p99/max (nearest rank) of latency samples in milliseconds."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def q(p: float) -> float:
        k = max(0, min(len(ordered) - 1, round(p * len(ordered) + 0.5) - 1))
        return round(ordered[k], digits)

    return {
        "p50_ms": q(0.50),
        "p90_ms": q(0.90),
        "p99_ms": q(0.99),
        "max_ms": round(ordered[-1], digits),
        "min_ms": round(ordered[0], digits),
        "n": len(ordered),
    }


# -- isolation and clean-up ----------------------------------------------------------


def isolated(base: Settings, state_dir: Path, label: str) -> Settings:
    """Settings for one benchmark deployment: nothing shared with the demo or the tests."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{label}-{uuid.uuid4().hex[:8]}"
    return dataclasses.replace(
        base,
        state_dir=state_dir,
        kafka=dataclasses.replace(base.kafka, topic_prefix=f"bench-{tag}."),
        worker=dataclasses.replace(base.worker, app_id=f"bench-{tag}", worker_id="w1"),
        sink=dataclasses.replace(base.sink, group_id=f"bench-{tag}-sink"),
        prometheus=dataclasses.replace(
            base.prometheus, worker_metrics_port=free_port(), sink_metrics_port=free_port()
        ),
    )


def worker_settings(s: Settings, worker_id: str) -> Settings:
    """The same deployment, another worker process (own RocksDB directory, metrics port)."""
    return dataclasses.replace(
        s,
        worker=dataclasses.replace(s.worker, worker_id=worker_id),
        prometheus=dataclasses.replace(s.prometheus, worker_metrics_port=free_port()),
    )


def cleanup(s: Settings, extra_groups: Iterable[str] = ()) -> None:
    """Delete this deployment's topics and consumer groups.

    Topics: the prefix's, plus Faust's own (changelogs, leader topic), which Faust names after
    the app id without the prefix. Only names built by :func:`isolated` are touched.
    """
    prefix, app_id = s.kafka.topic_prefix, s.worker.app_id
    if not prefix.startswith("bench-") or not app_id.startswith("bench-"):
        raise ValueError(f"refusing to clean up a deployment not made by isolated(): {prefix!r}")
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap, client_id="hub-bench")
    try:
        # Also a peer's (bench/quix_job.py) internal topics: "<type>__<group>--...".
        mine = [
            t
            for t in admin.list_topics()
            if t.startswith((prefix, f"{app_id}-")) or f"__{app_id}-" in t
        ]
        if mine:
            with contextlib.suppress(Exception):
                admin.delete_topics(mine, timeout_ms=30_000)
        groups = {g["group_id"] for g in admin.list_groups()}
        gone = [g for g in (app_id, s.sink.group_id, *extra_groups) if g in groups]
        if gone:
            with contextlib.suppress(Exception):
                admin.delete_groups(gone)
    finally:
        admin.close()


def wait_for_broker(s: Settings, timeout_s: float = 180) -> bool:
    """Wait until the broker answers (someone may be restarting the shared stack)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=s.kafka.bootstrap, client_id="hub-bench", request_timeout_ms=5000
            )
            try:
                admin.list_topics()
                return True
            finally:
                admin.close()
        except Exception:
            time.sleep(2.0)
    return False


def clean_stale(s: Settings) -> list[str]:
    """Delete every ``bench-`` topic and consumer group on the broker (what a killed run
    left behind). Only when no other benchmark is running on this broker."""
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap, client_id="hub-bench")
    try:
        topics = [t for t in admin.list_topics() if t.startswith("bench-")]
        if topics:
            admin.delete_topics(topics, timeout_ms=30_000)
        groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith("bench-")]
        if groups:
            admin.delete_groups(groups)
        return topics + groups
    finally:
        admin.close()


def fresh_database(s: Settings) -> None:
    """An empty hub schema on a *private* ClickHouse server (never the stack's shared one).

    The stack's users may only touch ``insurance_hub``, so the benchmark runs its own server
    (``support.clickhouse.private_server`` of tests/: same binary, config and users) and resets
    that server's ``insurance_hub`` for every deployment.
    """
    from sinks.clickhouse.migrate import migrate, writer_client

    if s.clickhouse.port == Settings.from_env().clickhouse.port:
        raise ValueError("refusing to reset the stack's shared ClickHouse database")
    client = writer_client(s, database=None)
    try:
        client.execute(f"DROP DATABASE IF EXISTS {s.clickhouse.database}")
    finally:
        client.disconnect()
    migrate(s)


# -- Kafka observations ---------------------------------------------------------------


def input_names(s: Settings) -> list[str]:
    return [s.kafka.topic_prefix + t for t in INPUT_TOPICS]


def output_names(s: Settings) -> list[str]:
    return [s.kafka.topic_prefix + t for t in OUTPUT_TOPICS]


def end_offsets(s: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=s.kafka.bootstrap, enable_auto_commit=False)
    try:
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        return dict(consumer.end_offsets(tps)) if tps else {}
    finally:
        consumer.close()


def group_state(s: Settings, group_id: str) -> tuple[str, int]:
    """(state, member count) of a consumer group."""
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap, client_id="hub-bench")
    try:
        desc = admin.describe_groups([group_id]).get(group_id) or {}
        return str(desc.get("group_state", "")), len(desc.get("members") or [])
    finally:
        admin.close()


def wait_until(
    check: Callable[[], bool],
    timeout_s: float,
    what: str,
    procs: Sequence[HubProcess] = (),
    interval_s: float = 0.25,
) -> float:
    """Poll ``check`` until true; returns the monotonic time it first was. Fails loudly."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = time.monotonic()
        if check():
            return now
        for p in procs:
            if not p.alive():
                raise RuntimeError(f"{what}: {p.log.name} exited early:\n{p.tail()}")
        if now > deadline:
            tails = "\n".join(p.tail(15) for p in procs)
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}\n{tails}")
        time.sleep(interval_s)


# -- processes -----------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS from /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def worker_ready(proc: HubProcess) -> bool:
    """Faust logs ``[^Worker]: Ready`` once its services run and it joined the group."""
    try:
        return "[^Worker]: Ready" in proc.log.read_text(errors="replace")
    except FileNotFoundError:
        return False


def start_workers(
    s: Settings,
    count: int,
    logs: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 90,
    tree: Path = REPO_ROOT,
) -> list[HubProcess]:
    """``count`` worker processes of one group (run from source ``tree``), once all are ready."""
    procs = [
        HubProcess(
            worker_settings(s, f"w{i + 1}"),
            ["worker"],
            logs / f"worker{i + 1}.log",
            cwd=tree,
            **(env or {}),
        )
        for i in range(count)
    ]
    wait_workers_ready(s, procs, timeout_s)
    return procs


def wait_workers_ready(s: Settings, procs: Sequence[HubProcess], timeout_s: float = 90) -> None:
    """Ready: every process logged Ready, the group is Stable with all of them, and every
    partition is assigned (its tick partition got a tick after that). Kills them on failure."""
    try:
        wait_until(lambda: all(worker_ready(p) for p in procs), timeout_s, "workers ready", procs)

        def stable() -> bool:
            state, members = group_state(s, s.worker.app_id)
            return state == "Stable" and members == len(procs)

        wait_until(stable, timeout_s, "worker group stable", procs, interval_s=0.5)
        ticks = tick_topic(s)
        before = end_offsets(s, [ticks])
        wait_until(
            lambda: all(n > before[tp] for tp, n in end_offsets(s, [ticks]).items()),
            timeout_s,
            "ticks on every partition",
            procs,
            interval_s=0.5,
        )
    except BaseException:
        for p in procs:
            p.kill()
        raise


def _busy_jiffies() -> tuple[int, int]:
    """(busy, steal) CPU jiffies of the whole machine, from /proc/stat.

    Steal: time the hypervisor gave our virtual CPUs to someone else (a VM's noisy
    neighbours): it slows every figure without showing up as busy.
    """
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    steal = fields[7]
    return sum(fields[:7]) - idle, steal


def background_cores(seconds: float) -> float:
    """How many cores the machine keeps busy over the next ``seconds`` (2.0 = both)."""
    b0, _ = _busy_jiffies()
    time.sleep(seconds)
    b1, _ = _busy_jiffies()
    return (b1 - b0) / os.sysconf("SC_CLK_TCK") / seconds


def stack_pids() -> dict[str, int]:
    """The local stack's running services (kafka, clickhouse, prometheus) by name."""
    from streams.ops.stack.manager import Stack
    from streams.ops.stack.process import running_pid

    out = {}
    for svc in Stack(Settings.from_env()).services:
        with contextlib.suppress(Exception):
            pid = running_pid(svc.spec)
            if pid is not None:
                out[svc.name] = pid
    return out


class MachineLoad:
    """How busy the machine was during a measurement, and who used it.

    ``busy_cores``: all CPU use (2.0 = both cores busy); ``cores``: per process under test
    (worker, sink) and per stack service (the broker works for the hub too); ``rest_cores``:
    everything else: this process, and whatever else runs on the machine (other people's
    tests make figures noisy; a high ``rest_cores`` marks a disturbed measurement).
    """

    def __init__(self, pids: dict[str, int], stack: bool = True) -> None:
        self.pids = dict(pids)
        if stack:
            self.pids.update({f"stack:{k}": v for k, v in stack_pids().items()})
        self.t0 = time.monotonic()
        self.busy0, self.steal0 = _busy_jiffies()
        self.cpu0 = {name: _cpu_or_zero(pid) for name, pid in self.pids.items()}

    def done(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        busy1, steal1 = _busy_jiffies()
        tick = os.sysconf("SC_CLK_TCK")
        busy = (busy1 - self.busy0) / tick / elapsed
        cores = {
            name: round((_cpu_or_zero(pid) - self.cpu0[name]) / elapsed, 2)
            for name, pid in self.pids.items()
        }
        return {
            "busy_cores": round(busy, 2),
            "cores": cores,
            "rest_cores": round(busy - sum(cores.values()), 2),
            "steal_cores": round((steal1 - self.steal0) / tick / elapsed, 2),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0
