"""A worker killed mid-stream, and a worker leaving its consumer group: nothing lost or doubled.

Both tests feed one deterministic generator run (same seed) to workers that are already
running: the backfill first, then the first 40 % of the window in time order at a steady
pace (every topic active, as in test_worker_e2e), then the rest of the window in one burst
that takes the worker a few seconds. The interruption comes half-way through the burst, when
the worker has records produced but not yet sent, offsets not committed and table writes not
yet in the changelog: what at-least-once processing must absorb. Records re-sent after the
interruption must carry the ids of the first copies; the latest profiles, the breach,
outcome and anomaly ids must be those of an uninterrupted run and of the ground truth.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from support import worker_failpoint
from support.ground_truth import check_against_ground_truth
from support.harness import HubProcess, isolated, wait_for
from support.outputs import (
    PROFILE,
    Outputs,
    count_records,
    metric_values,
    partition_of,
    processed,
    publish,
    read_outputs,
    scrape,
    split_backfill,
    wait_settled,
    worker_lag,
)

from schemas import INPUT_TOPICS
from streams.settings import Settings
from streams.simulator import GeneratorConfig, generate
from streams.simulator.model import GeneratedEvent
from streams.worker.topics import ensure_worker_topics

#: Large enough that the window's burst takes a worker several seconds.
CONFIG = GeneratorConfig(
    seed=77,
    customers=2000,
    days=30,
    late_share=0.15,
    missing_share=0.06,
    duplicate_share=0.03,
    out_of_order_share=0.03,
    max_out_of_order_s=240,  # inside allowed_lateness_seconds (300)
    complaints_per_customer_year=1.0,
    high_frequency_claimants=4,
    provider_spikes=2,
    early_claims=8,
)


def started(s: Settings, log: Path, **env: str) -> HubProcess:
    proc = HubProcess(s, ["worker"], log, **env)
    wait_for(lambda: "recovered" in log.read_text(), 120, f"{log.name} ready", proc)
    return proc


WINDOW_RATE = 120.0  # window records per second while paced
PACED = 0.4  # the first 40 % of the window is paced, the rest follows in one burst


def feed(s: Settings, events: list[GeneratedEvent], worker: HubProcess) -> None:
    """Backfill (waited for), the window's first part paced, then the rest in one burst."""
    backfill, window = split_backfill(CONFIG, events)
    publish(s, backfill)
    wait_for(lambda: worker_lag(s) == 0, 120, "the backfill processed", worker)
    k = int(len(window) * PACED)
    publish(s, window[:k], rate=WINDOW_RATE)
    publish(s, window[k:])


def midway(events: list[GeneratedEvent]) -> int:
    """Input events processed once half of the burst has been."""
    n_backfill = sum(1 for ev in events if ev.emit_ms < CONFIG.start_ms)
    n_window = len(events) - n_backfill
    paced = int(n_window * PACED)
    return n_backfill + paced + (n_window - paced) // 2


def in_thread(target: Any, *args: Any) -> threading.Thread:
    """Run `target(*args)` in a thread; `join_checked` re-raises what it raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def join_checked(thread: threading.Thread, timeout_s: float = 300) -> None:
    thread.join(timeout_s)
    assert not thread.is_alive(), "the feeding thread did not finish"
    errors = thread.errors  # type: ignore[attr-defined]
    if errors:
        raise errors[0]


def wait_progress(ports: list[int], target: int, proc: HubProcess, timeout_s: float = 120) -> None:
    """Until the workers have processed `target` input records (polled often: the burst is
    short)."""
    deadline = time.monotonic() + timeout_s
    while processed(ports) < target:
        assert proc.alive(), proc.tail()
        assert time.monotonic() < deadline, f"no progress to {target} records\n{proc.tail()}"
        time.sleep(0.1)


def compare_runs(clean: Outputs, other: Outputs, s: Settings, what: str) -> None:
    """Latest profiles (version aside) and the sets of breach, outcome and anomaly ids.

    Deadlines passed by one run's final watermark but not yet by the other's (the
    watermark keeps moving with the wall clock once the input is idle, and the two runs
    settle at different moments) are the only breaches allowed to differ; the profiles of
    their customers (``sla_breaches_90d``) are then compared without them.
    """
    breaches_a = clean.unique(clean.breaches, "breach_id")
    breaches_b = other.unique(other.breaches, "breach_id")
    edge, wrong = set(), []
    for i in sorted(set(breaches_a) ^ set(breaches_b)):
        r = breaches_a.get(i) or breaches_b[i]
        p = partition_of(r["customer_id"], s)
        lo = min(clean.wm_before[p], other.wm_before[p])
        deadline = int(r["deadline_at"].timestamp() * 1000)
        if r["status"] == "breached" and deadline >= lo:
            edge.add(r["customer_id"])
        else:
            wrong.append(("clean" if i in breaches_a else what, r))
    assert not wrong, (
        f"{what}: {len(wrong)} breach records in one run only "
        f"({sum(1 for w, _ in wrong if w == 'clean')} only in the clean one), e.g. {wrong[:3]}"
    )
    assert len(edge) <= 3, f"{what}: too many deadlines between the two watermarks: {edge}"
    a, b = clean.latest_profiles(), other.latest_profiles()
    assert set(a) == set(b), f"{what}: customers differ"

    def comparable(p: dict[str, Any]) -> dict[str, Any]:
        drop = {"version", "sla_breaches_90d"} if p["customer_id"] in edge else {"version"}
        return {k: v for k, v in p.items() if k not in drop}

    differ = {
        c: {k: (v, b[c][k]) for k, v in comparable(a[c]).items() if v != b[c][k]}
        for c in a
        if comparable(a[c]) != comparable(b[c])
    }
    assert not differ, f"{what}: {len(differ)} profiles differ (clean, {what}): {differ}"
    ids_a = set(clean.unique(clean.outcomes, "outcome_id"))
    ids_b = set(other.unique(other.outcomes, "outcome_id"))
    assert ids_a == ids_b, f"{what}: outcomes differ: {ids_a ^ ids_b}"
    # An anomaly's versions: the newest of each must be the same record.
    anomalies_a, anomalies_b = clean.anomaly_contents(), other.anomaly_contents()
    assert anomalies_a == anomalies_b, f"{what}: anomalies differ"


def test_sigkill_mid_stream_then_restart_equals_uninterrupted_run(
    settings: Settings, tmp_path: Path
) -> None:
    events, gt = generate(CONFIG)
    clean_s = isolated(settings, tmp_path / "clean")
    killed_s = isolated(settings, tmp_path / "killed")
    for s in (clean_s, killed_s):
        ensure_worker_topics(s)
    procs: list[HubProcess] = []
    try:
        clean = started(clean_s, tmp_path / "clean.log")
        procs.append(clean)
        first = started(killed_s, tmp_path / "killed-1.log")
        procs.append(first)
        clean_feed = in_thread(feed, clean_s, events, clean)
        ports = [killed_s.prometheus.worker_metrics_port]
        killed_feed = in_thread(feed, killed_s, events, first)
        # Mid-stream: half-way through the burst.
        wait_progress(ports, midway(events), first)
        first.kill()
        killed_at = time.monotonic()
        done = count_records(killed_s, PROFILE)
        second = HubProcess(killed_s, ["worker"], tmp_path / "killed-2.log")
        procs.append(second)
        join_checked(killed_feed)
        join_checked(clean_feed)
        wait_settled(killed_s, second)

        # Its lag gauge reaches 0 on every input partition, also on those it had nothing new
        # to read on (counted from where the seek put it, not from offset 0).
        def lags() -> dict[str, float]:
            port = killed_s.prometheus.worker_metrics_port
            return metric_values(scrape(port), "hub_worker_consumer_lag")

        partitions = len(INPUT_TOPICS) * killed_s.kafka.input_partitions

        def all_zero() -> bool:
            now = lags()
            return len(now) == partitions and not any(now.values())

        wait_for(
            all_zero,
            30,
            "the restarted worker's hub_worker_consumer_lag at 0",
            second,
            show=lambda: str({k: v for k, v in lags().items() if v}),
        )
        print(
            f"\nSIGKILL after {done} of ~{len(events)} profiles (aimed at {midway(events)}); "
            f"the restarted worker had caught up {time.monotonic() - killed_at:.0f} s later"
        )
        wait_settled(clean_s, clean)
        out_clean = read_outputs(clean_s, [clean_s.prometheus.worker_metrics_port])
        out_killed = read_outputs(killed_s, [killed_s.prometheus.worker_metrics_port])
    finally:
        for proc in reversed(procs):
            proc.stop()
    check_against_ground_truth(clean_s, events, gt, out_clean, None)
    compare_runs(out_clean, out_killed, killed_s, "killed")
    check_against_ground_truth(killed_s, events, gt, out_killed, None)


def test_sigkill_between_state_write_and_commit_then_restart_equals_uninterrupted_run(
    settings: Settings, tmp_path: Path
) -> None:
    """The worker writes changed states once per commit, just before the offsets: killed
    right there, the changelog holds states of records whose offsets were never committed.
    The restarted worker reads them again (duplicates now) and must still end as a clean
    run does."""
    events, gt = generate(CONFIG)
    clean_s = isolated(settings, tmp_path / "clean")
    killed_s = isolated(settings, tmp_path / "killed")
    for s in (clean_s, killed_s):
        ensure_worker_topics(s)
    armed = tmp_path / "armed"
    port = killed_s.prometheus.worker_metrics_port
    procs: list[HubProcess] = []
    try:
        clean = started(clean_s, tmp_path / "clean.log")
        procs.append(clean)
        first = HubProcess(
            killed_s, [], tmp_path / "killed-1.log",
            program=[sys.executable, worker_failpoint.__file__],
            HUB_FAILPOINT_ARMED=str(armed),
        )  # fmt: skip
        procs.append(first)
        wait_for(lambda: "recovered" in first.log.read_text(), 120, "the worker ready", first)
        clean_feed = in_thread(feed, clean_s, events, clean)
        killed_feed = in_thread(feed, killed_s, events, first)
        wait_progress([port], midway(events), first)
        armed.touch()  # the next commit is its last
        first.proc.wait(timeout=60)
        assert "failpoint kill-after-state-write" in first.log.read_text(), first.tail()
        second = HubProcess(killed_s, ["worker"], tmp_path / "killed-2.log")
        procs.append(second)
        join_checked(killed_feed)
        join_checked(clean_feed)
        wait_settled(killed_s, second)
        # The restarted worker re-read records whose states the first had written.
        replayed = sum(metric_values(scrape(port), "hub_worker_duplicate_events_total").values())
        wait_settled(clean_s, clean)
        out_clean = read_outputs(clean_s, [clean_s.prometheus.worker_metrics_port])
        out_killed = read_outputs(killed_s, [port])
    finally:
        for proc in reversed(procs):
            proc.stop()
    injected = sum(1 for ev in events if ev.injection == "duplicate")
    print(f"\nrestarted worker: {replayed:.0f} duplicates ({injected} in the input)")
    assert replayed > injected, f"{replayed} duplicates, {injected} of them injected"
    check_against_ground_truth(clean_s, events, gt, out_clean, None)
    compare_runs(out_clean, out_killed, killed_s, "killed between state write and commit")
    check_against_ground_truth(killed_s, events, gt, out_killed, None)


def owns_partitions(w: HubProcess) -> bool:
    lines = [x for x in w.log.read_text().splitlines() if "recovered" in x]
    return bool(lines) and not lines[-1].rstrip().endswith("partitions []")


def test_second_worker_takes_over_when_one_stops(settings: Settings, tmp_path: Path) -> None:
    events, gt = generate(CONFIG)
    s = isolated(settings, tmp_path)
    ensure_worker_topics(s)
    port2 = isolated(settings, tmp_path).prometheus.worker_metrics_port  # a free port
    procs: list[HubProcess] = []
    try:
        w1 = HubProcess(s, ["worker"], tmp_path / "w1.log", HUB_WORKER_ID="w1")
        procs.append(w1)
        w2 = HubProcess(
            s, ["worker"], tmp_path / "w2.log",
            HUB_WORKER_ID="w2", HUB_WORKER_METRICS_PORT=str(port2),
        )  # fmt: skip
        procs.append(w2)

        wait_for(
            lambda: owns_partitions(w1) and owns_partitions(w2), 120, "both own partitions", w2
        )
        feeding = in_thread(feed, s, events, w1)
        wait_progress([s.prometheus.worker_metrics_port, port2], midway(events), w1)
        rc = w1.stop()
        done = count_records(s, PROFILE)
        join_checked(feeding)
        wait_settled(s, w2)
        print(f"\nworker 1 stopped (exit {rc}) after {done} of ~{len(events)} profiles")
        out = read_outputs(s, [port2])
        w2_log = w2.log.read_text()
    finally:
        for proc in reversed(procs):
            proc.stop()
    recoveries = [x for x in w2_log.splitlines() if "recovered" in x]
    assert len(recoveries) >= 2 and "0, 1, 2, 3, 4, 5" in recoveries[-1], recoveries
    check_against_ground_truth(s, events, gt, out, None)


def test_a_killed_worker_rebuilds_the_partitions_another_worker_moved_on(
    settings: Settings, tmp_path: Path
) -> None:
    """A worker keeps its RocksDB after a SIGKILL unless another worker has committed its
    partitions since (streams/worker/local_state.py): rows it wrote after its last
    checkpoint would otherwise go back to the changelog over that worker's."""
    events, gt = generate(CONFIG)
    s = isolated(settings, tmp_path)
    ensure_worker_topics(s)
    port2 = isolated(settings, tmp_path).prometheus.worker_metrics_port  # a free port
    w2_env = {"HUB_WORKER_ID": "w2", "HUB_WORKER_METRICS_PORT": str(port2)}
    procs: list[HubProcess] = []
    try:
        w1 = HubProcess(s, ["worker"], tmp_path / "w1.log", HUB_WORKER_ID="w1")
        procs.append(w1)
        w2 = HubProcess(s, ["worker"], tmp_path / "w2.log", **w2_env)
        procs.append(w2)
        wait_for(
            lambda: owns_partitions(w1) and owns_partitions(w2), 120, "both own partitions", w2
        )
        w1_partitions = [x for x in w1.log.read_text().splitlines() if "recovered" in x][-1]
        feeding = in_thread(feed, s, events, w2)
        wait_progress([s.prometheus.worker_metrics_port, port2], midway(events), w1)
        w1.kill()
        join_checked(feeding)
        wait_settled(s, w2)  # w2 has taken w1's partitions over and committed past them
        w2.stop()
        again = HubProcess(s, ["worker"], tmp_path / "w1-again.log", HUB_WORKER_ID="w1")
        procs.append(again)
        wait_settled(s, again)
        out = read_outputs(s, [s.prometheus.worker_metrics_port])
        again_log = again.log.read_text()
    finally:
        for proc in reversed(procs):
            proc.stop()
    rebuilt = [x for x in again_log.splitlines() if "rebuilt from the changelog" in x]
    assert rebuilt, f"w1 kept every partition (it owned: {w1_partitions})\n{again_log[-3000:]}"
    check_against_ground_truth(s, events, gt, out, None)
