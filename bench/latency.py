"""Latency at a fixed offered load: event → profile, breach and anomaly, and event → ClickHouse.

One run on a fresh deployment (worker + sink, private ClickHouse schema). The generator runs
on the real-time clock: each event's ``occurred_at`` is the wall clock when it is published,
at a steady rate well below the worker's capacity, so queues stay short and what is measured
is the pipeline's latency, not a backlog. The first ``warmup_s`` seconds are not sampled.

- event → profile: the worker's profile record carries ``last_event_at`` (the newest event
  time of the customer): latency = the profile record's Kafka timestamp (set when the worker
  hands it to its producer) - ``last_event_at``; the first profile per (customer,
  last_event_at) counts. "visible" uses instead the wall time a live consumer in this
  process received the record (fetch wait 20 ms): what a downstream reader sees.
- deadline → breach: SLA limits are short here (a rules file passed as ``HUB_SLA_RULES``:
  10 s for inquiries, complaints and claim acceptance, 5 s for high-net-worth customers,
  allowed lateness 1 s), so breaches happen during the run: latency = breach record's Kafka
  timestamp - ``deadline_at``, for ``breached`` records whose deadline falls in the sampled
  window. It includes the allowed lateness by design (a deadline is only declared passed
  once the watermark, newest event time - lateness, is past it); ``beyond_lateness`` takes
  it out.
- event → anomaly: an anomaly's first version carries ``detected_at`` = the triggering
  claim's event time; later versions are not sampled (their ``detected_at`` is a version).
- event → ClickHouse: every ``sample_every``-th input event (seen by the same live consumer)
  is looked for with ``SELECT event_id FROM events WHERE event_id IN (...)`` every
  ``poll_s``; latency = start of the first poll that returns it - ``occurred_at`` (so the
  resolution is one poll interval; the time a poll takes is reported too).

All clocks are this machine's wall clock (generator, worker and this process share it).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from common import (
    HubProcess,
    MachineLoad,
    cleanup,
    fresh_database,
    group_state,
    input_names,
    isolated,
    log,
    output_names,
    percentiles,
    start_workers,
    wait_until,
)
from kafka import KafkaConsumer, TopicPartition

from schemas import CLAIM_ANOMALY, CUSTOMER_PROFILE, INPUT_TOPICS, SLA_BREACH, Codec
from streams.domain.sla.rules import DEFAULT_RULES_FILE
from streams.kafka_admin import total_lag
from streams.settings import Settings
from streams.simulator import GeneratorConfig, InsurerSimulation
from streams.simulator.runner import run as generate
from streams.worker.topics import ensure_worker_topics

LATENESS_S = 1.0
SHORT_LIMIT_S = 10
SHORT_LIMIT_HNW_S = 5
SHORT_RULES = ("inquiry_first_response", "complaint_resolution", "claim_acceptance")


def short_rules(path: Path) -> Path:
    """The shipped rules with short limits, so breaches fall due during the run."""
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_RULES_FILE.read_text())
    raw["allowed_lateness_seconds"] = LATENESS_S
    for name in SHORT_RULES:
        rule = raw["rules"][name]
        rule["limit"] = {"seconds": SHORT_LIMIT_S}
        if rule.get("segments"):
            rule["segments"] = {seg: {"seconds": SHORT_LIMIT_HNW_S} for seg in rule["segments"]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


class Tail(threading.Thread):
    """A live consumer of the inputs and of the profile, breach and anomaly topics.

    Keeps every output record with its Kafka timestamp and arrival time; hands every
    ``sample_every``-th input event to the ClickHouse poller.
    """

    def __init__(self, s: Settings, poller: ClickHousePoller, sample_every: int) -> None:
        super().__init__(name="bench-tail", daemon=True)
        self.s = s
        self.poller = poller
        self.sample_every = sample_every
        self.stop = threading.Event()
        self.outputs: list[tuple[str, bytes, int, float]] = []  # logical, value, ts ms, arrival
        self.inputs = 0
        self.input_visible: list[tuple[int, float]] = []  # occurred_at ms, arrival s
        self.error: BaseException | None = None
        prefix = s.kafka.topic_prefix
        self.logical = {
            prefix + t: t for t in (*INPUT_TOPICS, CUSTOMER_PROFILE, SLA_BREACH, CLAIM_ANOMALY)
        }
        self.consumer = KafkaConsumer(
            bootstrap_servers=s.kafka.bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            max_poll_records=2000,
        )
        tps = [
            TopicPartition(t, p)
            for t in self.logical
            for p in sorted(self.consumer.partitions_for_topic(t) or ())
        ]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)

    def run(self) -> None:
        codec = Codec()
        n = 0
        try:
            while not self.stop.is_set():
                for tp, records in self.consumer.poll(timeout_ms=100).items():
                    arrival = time.time()
                    logical = self.logical[tp.topic]
                    if logical in INPUT_TOPICS:
                        for r in records:
                            self.inputs += 1
                            try:
                                ev = codec.decode(logical, r.value, validate=False)
                            except Exception:  # injected malformed records
                                continue
                            n += 1
                            occurred = _ms(ev["occurred_at"])
                            self.input_visible.append((occurred, arrival))
                            if n % self.sample_every == 0:
                                self.poller.add(ev["event_id"], occurred)
                    else:
                        self.outputs.extend(
                            (logical, r.value, r.timestamp, arrival) for r in records
                        )
        except BaseException as exc:  # surfaced by the caller
            self.error = exc
        finally:
            self.consumer.close()


class ClickHousePoller(threading.Thread):
    """Polls ClickHouse for sampled event ids; records when each first shows up."""

    def __init__(self, s: Settings, poll_s: float) -> None:
        super().__init__(name="bench-clickhouse-poll", daemon=True)
        self.s = s
        self.poll_s = poll_s
        self.lock = threading.Lock()
        self.pending: dict[str, int] = {}  # event_id -> occurred_at ms
        self.seen: dict[str, tuple[int, float]] = {}  # event_id -> (occurred_at ms, seen wall s)
        self.query_ms: list[float] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def add(self, event_id: str, occurred_ms: int) -> None:
        with self.lock:
            if event_id not in self.seen:
                self.pending[event_id] = occurred_ms

    def run(self) -> None:
        from sinks.clickhouse.migrate import writer_client

        client = writer_client(self.s)
        try:
            while not self.stop.is_set():
                started = time.time()
                with self.lock:
                    ids = list(self.pending)[:5000]
                if ids:
                    rows = client.execute(
                        "SELECT event_id FROM events WHERE event_id IN %(ids)s", {"ids": tuple(ids)}
                    )
                    self.query_ms.append((time.time() - started) * 1000)
                    with self.lock:
                        for (event_id,) in rows:
                            occurred = self.pending.pop(event_id, None)
                            if occurred is not None:
                                self.seen[event_id] = (occurred, started)
                self.stop.wait(max(0.0, self.poll_s - (time.time() - started)))
        except BaseException as exc:
            self.error = exc
        finally:
            client.disconnect()


def latency(
    base: Settings,
    tmp: Path,
    *,
    config: GeneratorConfig,
    rate: float,
    duration_s: float,
    warmup_s: float,
    poll_s: float = 0.15,
    sample_every: int = 3,
    samples_out: Path | None = None,
    watch: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One latency run; ``base`` must point at a private ClickHouse server.

    The warm-up is stretched to cover the generator's backfill (policies in force, all on
    the sales topic), so the sampled window sees the default mix on all four input topics;
    the backfill phase is reported on its own (``event_to_profile_during_backfill``).
    """
    backfill, _ = record_counts(config)
    warmup_s = stretched_warmup(backfill, rate, warmup_s)
    s = isolated(base, tmp, "lat")
    worker: list[HubProcess] = []
    sink: HubProcess | None = None
    poller = ClickHousePoller(s, poll_s)
    tail: Tail | None = None
    try:
        ensure_worker_topics(s)
        fresh_database(s)
        rules = short_rules(tmp / "short-sla-rules.yml")
        sink = HubProcess(s, ["sink", "--no-metrics"], tmp / "sink.log")
        worker = start_workers(s, 1, tmp, env={"HUB_SLA_RULES": str(rules)})
        wait_until(
            lambda: group_state(s, s.sink.group_id) == ("Stable", 1),
            90,
            "sink group stable",
            [sink],
            interval_s=0.5,
        )
        tail = Tail(s, poller, sample_every)
        poller.start()
        tail.start()
        load = MachineLoad({"worker": worker[0].proc.pid, "sink": sink.proc.pid, **(watch or {})})
        log(f"latency: {rate:.0f} events/s for {warmup_s + duration_s:.0f} s (realtime clock)")
        gen0 = time.time()
        result = generate(
            config,
            s,
            clock="realtime",
            rate=rate,
            max_records=int(rate * (warmup_s + duration_s)) + 1,
            create=False,
            progress=False,
        )
        gen1 = time.time()
        machine = load.done()
        everyone = [*worker, sink]
        inputs = input_names(s)
        wait_until(
            lambda: total_lag(s.kafka.bootstrap, s.worker.app_id, inputs) == 0,
            120,
            "worker lag 0",
            everyone,
            interval_s=0.5,
        )
        wait_until(
            lambda: total_lag(s.kafka.bootstrap, s.sink.group_id, inputs + output_names(s)) == 0,
            120,
            "sink lag 0",
            everyone,
            interval_s=0.5,
        )
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not poller.pending, 30, "sampled events in ClickHouse")
        time.sleep(2.0)  # the tail catches the last outputs
    finally:
        poller.stop.set()
        if tail is not None:
            tail.stop.set()
            tail.join(timeout=10)
        if poller.is_alive():
            poller.join(timeout=10)
        for p in worker:
            p.stop(timeout=30)
        if sink is not None:
            sink.stop(timeout=30)
        cleanup(s)
    if tail.error is not None:
        raise tail.error
    if poller.error is not None:
        raise poller.error

    lo, hi = int((gen0 + warmup_s) * 1000), int(gen1 * 1000)
    backfill_end = int((gen0 + backfill / rate) * 1000)
    during_backfill: list[float] = []
    codec = Codec()
    profile_produced: list[float] = []
    profile_visible: list[float] = []
    profile_times: list[int] = []
    breach_produced: list[float] = []
    breach_visible: list[float] = []
    anomaly_produced: list[float] = []
    anomaly_visible: list[float] = []
    firsts: set[tuple[str, int]] = set()
    anomalies_seen: set[str] = set()
    for logical, value, ts, arrival in tail.outputs:
        rec = codec.decode(logical, value, validate=False)
        if logical == CUSTOMER_PROFILE:
            t = _ms(rec["last_event_at"])
            key = (rec["customer_id"], t)
            if t < backfill_end and key not in firsts:
                during_backfill.append(ts - t)
            if lo <= t <= hi and key not in firsts:
                firsts.add(key)
                profile_produced.append(ts - t)
                profile_times.append(t)
                profile_visible.append(arrival * 1000 - t)
        elif logical == SLA_BREACH:
            t = _ms(rec["deadline_at"])
            if rec["status"] == "breached" and lo <= t <= hi:
                breach_produced.append(ts - t)
                breach_visible.append(arrival * 1000 - t)
        elif logical == CLAIM_ANOMALY:
            # Only an anomaly's first version: a later one's detected_at is a version number
            # (at least 1 s past the previous one's, so that ClickHouse keeps the newest),
            # which runs ahead of the clock when a provider's day is re-judged often.
            t = _ms(rec["detected_at"])
            first_version = rec["anomaly_id"] not in anomalies_seen
            anomalies_seen.add(rec["anomaly_id"])
            if first_version and lo <= t <= hi:
                anomaly_produced.append(ts - t)
                anomaly_visible.append(arrival * 1000 - t)
    ch = [seen * 1000 - occurred for occurred, seen in poller.seen.values() if lo <= occurred <= hi]
    to_input = [arrival * 1000 - t for t, arrival in tail.input_visible if lo <= t <= hi]
    if samples_out is not None:  # every sample, for plots: kind, event time (ms), latency (ms)
        with samples_out.open("w") as fh:
            for kind, values in (
                ("profile", zip(profile_times, profile_produced, strict=True)),
                ("clickhouse", ((o, s * 1000 - o) for o, s in poller.seen.values())),
                ("input_visible", ((t, a * 1000 - t) for t, a in tail.input_visible)),
            ):
                for t, v in values:
                    fh.write(f"{kind}\t{t}\t{v:.1f}\n")
    lateness_ms = LATENESS_S * 1000
    return {
        "offered_events_per_s": round(result.records / (gen1 - gen0), 1),
        "records": result.records,
        "sampled_window_s": round((hi - lo) / 1000, 1),
        "generator": {
            "customers": config.customers,
            "days": config.days,
            "seed": config.seed,
            "missing_share": config.missing_share,
        },
        "warmup_s": round(warmup_s, 1),
        "backfill_records": backfill,
        "event_to_profile_during_backfill": {
            "what": "the same while only the backfill was published (policy events, all on "
            "the sales topic; not in the window): see bench/README.md",
            **percentiles(during_backfill),
        },
        "event_to_profile_p50_by_slice_ms": _slices(profile_times, profile_produced, lo, hi),
        "event_to_input_visible": {
            "what": "occurred_at to arrival at a live consumer of the input topics: the "
            "generator's publisher (50 ms linger) and the broker, before the hub starts",
            **percentiles(to_input),
        },
        "event_to_profile": {
            "produced": percentiles(profile_produced),
            "visible": percentiles(profile_visible),
        },
        "deadline_to_breach": {
            "produced": percentiles(breach_produced),
            "visible": percentiles(breach_visible),
            "beyond_lateness": percentiles([v - lateness_ms for v in breach_produced]),
            "allowed_lateness_ms": lateness_ms,
        },
        "event_to_anomaly": {
            "produced": percentiles(anomaly_produced),
            "visible": percentiles(anomaly_visible),
        },
        "event_to_clickhouse": {
            **percentiles(ch),
            "sampled": len(ch),
            "not_seen": len(poller.pending),
            "poll_interval_ms": round(poll_s * 1000),
            "poll_query_ms": percentiles(poller.query_ms),
            "sink_batch_max_seconds": s.sink.batch_max_seconds,
        },
        "machine": machine,
    }


def _slices(times: list[int], values: list[float], lo: int, hi: int, n: int = 10) -> list[float]:
    """Median latency in each of ``n`` equal slices of the window: flat when the pipeline
    keeps up, rising when a queue builds (machine too busy, or load above capacity)."""
    width = max(1, (hi - lo) // n)
    buckets: list[list[float]] = [[] for _ in range(n)]
    for t, v in zip(times, values, strict=True):
        buckets[min(n - 1, (t - lo) // width)].append(v)
    return [round(statistics.median(b), 1) if b else -1.0 for b in buckets]


def latency_config(quick: bool, rate: float, duration_s: float, warmup_s: float) -> GeneratorConfig:
    """The default mix over a longer span (a short backfill), with more missing completions
    (more breaches) and more injected claim anomalies than the default, so those percentiles
    have samples; enough customers that the generator still publishes at ``rate`` when the
    sampled window ends (at a fixed count the offered rate decided how many seconds were
    sampled: 0.5 s at 2,000 events/s before 2026-12-02)."""
    config = GeneratorConfig(
        customers=800 if quick else 1500,
        days=365,
        seed=int(time.time()) % 100_000,
        missing_share=0.10,
        high_frequency_claimants=20,
    )
    for _ in range(4):
        backfill, records = record_counts(config)
        stretched = stretched_warmup(backfill, rate, warmup_s)
        needed = rate * (stretched + duration_s) * 1.1
        if records >= needed:
            break
        config = replace(config, customers=math.ceil(config.customers * needed * 1.1 / records))
    return config


def stretched_warmup(backfill: int, rate: float, warmup_s: float) -> float:
    """The warm-up, stretched to cover the generator's backfill and 5 s more."""
    return max(warmup_s, backfill / rate + 5.0)


def record_counts(config: GeneratorConfig) -> tuple[int, int]:
    """(records the generator publishes before its window starts: the backfill, all of them)."""
    start = config.start_ms
    backfill = total = 0
    in_backfill = True  # until the first record of the window
    for ev in InsurerSimulation(config):
        total += 1
        in_backfill = in_backfill and ev.emit_ms < start
        backfill += in_backfill
    return backfill, total
