"""A `hub worker` under test: its inputs published and its outputs read back.

Shared by the end-to-end tests of the worker (tests/e2e/): publishing a generator run,
waiting until the worker has settled, reading every output topic between two watermark
readings, and its metrics.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas import INPUT_TOPICS, Codec
from streams.kafka_admin import group_lag, total_lag
from streams.ops.publish import EventPublisher, partition_for
from streams.settings import Settings
from streams.simulator import GeneratorConfig
from streams.simulator.model import GeneratedEvent
from support.harness import HubProcess, read_topic, wait_for

PROFILE = "insurance.customer-profile.v1"
BREACH = "insurance.sla-breach.v1"
OUTCOME = "insurance.sla-outcome.v1"
ANOMALY = "insurance.claim-anomaly.v1"
DEAD = "insurance.dead-letter.v1"
OUTPUTS = (PROFILE, BREACH, OUTCOME, ANOMALY, DEAD)


# -- feeding the worker -------------------------------------------------------------------


def input_topics(s: Settings) -> list[str]:
    return [s.kafka.topic_prefix + t for t in INPUT_TOPICS]


def worker_lag(s: Settings) -> int:
    return total_lag(s.kafka.bootstrap, s.worker.app_id, input_topics(s))


def publish(
    s: Settings,
    events: Iterable[GeneratedEvent],
    *,
    rate: float | None = None,
    codec: Codec | None = None,
) -> int:
    """Publish generated records as the generator's runner does, at most `rate` per second."""
    codec = codec or Codec()
    pub = EventPublisher(s, codec=codec, validate=False, client_id="hub-e2e-test")
    n = 0
    t0 = time.monotonic()
    try:
        for ev in events:
            if rate:
                ahead = t0 + n / rate - time.monotonic()
                if ahead > 0:
                    pub.poll()
                    time.sleep(ahead)
            pub.publish_raw(ev.topic, ev.encode(codec), key=ev.key)
            n += 1
        pub.flush()
    finally:
        pub.close()
    return n


def split_backfill(
    config: GeneratorConfig, events: list[GeneratedEvent]
) -> tuple[list[GeneratedEvent], list[GeneratedEvent]]:
    """(history published before the window, the window's records in publication order)."""
    backfill = [ev for ev in events if ev.emit_ms < config.start_ms]
    return backfill, events[len(backfill) :]


# -- reading the results --------------------------------------------------------------------


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def metric_values(text: str, name: str) -> dict[str, float]:
    """{label text: value} of one metric in Prometheus text format."""
    out = {}
    for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


#: What the worker counts once per input record it has given its verdict.
VERDICTS = (
    "hub_worker_events_consumed_total",
    "hub_worker_duplicate_events_total",
    "hub_worker_dead_letters_total",
)


def processed(ports: Iterable[int]) -> int:
    """Input records the workers behind `ports` have processed (applied, duplicate or dead).

    Not the profile count: a customer changed twice within a profile flush gets one profile.
    """
    total = 0.0
    for port in ports:
        text = scrape(port)
        total += sum(sum(metric_values(text, name).values()) for name in VERDICTS)
    return int(total)


def watermarks(ports: Iterable[int]) -> dict[int, int]:
    """Event-time watermark (ms) per partition, from the workers' /metrics (the highest)."""
    out: dict[int, int] = {}
    for port in ports:
        for labels, v in metric_values(
            scrape(port), "hub_worker_watermark_timestamp_seconds"
        ).items():
            p = int(re.search(r'partition="(\d+)"', labels).group(1))  # type: ignore[union-attr]
            out[p] = max(out.get(p, 0), int(v * 1000))
    return out


def count_records(s: Settings, *logical: str) -> int:
    """Records ever written to topics (the sum of their partitions' end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=s.kafka.bootstrap)
    try:
        tps = [
            TopicPartition(s.kafka.topic_prefix + t, p)
            for t in logical
            for p in consumer.partitions_for_topic(s.kafka.topic_prefix + t) or ()
        ]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()


def uncommitted(s: Settings) -> dict[str, int]:
    """Input records the worker's group has not committed, per topic[partition]."""
    lag = group_lag(s.kafka.bootstrap, s.worker.app_id, input_topics(s))
    return {f"{tp.topic}[{tp.partition}]": n for tp, n in lag.items() if n}


#: A topic read from within idle_advance_after_seconds (5 s) still holds its partition's
#: watermark back; once it is quiet the watermark moves on to the newest event, breaching
#: what that passes. Settled means outputs unchanged for longer than that.
SETTLE_QUIET_S = 7.0


def wait_settled(s: Settings, proc: HubProcess, timeout_s: float = 120.0) -> None:
    """Every input record committed, then the output topics quiet for SETTLE_QUIET_S."""
    deadline = time.monotonic() + timeout_s
    wait_for(
        lambda: worker_lag(s) == 0, timeout_s, "every input committed", proc,
        show=lambda: str(uncommitted(s)),
    )  # fmt: skip
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = count_records(s, *OUTPUTS)
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLE_QUIET_S:
            return
        time.sleep(0.5)
    raise AssertionError("the output topics never stopped changing")


@dataclass
class Outputs:
    """Everything on the output topics, plus the watermarks read before and after."""

    profiles: list[dict[str, Any]]
    breaches: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    dead: list[dict[str, Any]]
    wm_before: dict[int, int] = field(default_factory=dict)
    wm_after: dict[int, int] = field(default_factory=dict)

    def latest_profiles(self) -> dict[str, dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for p in self.profiles:
            if p["version"] > latest.get(p["customer_id"], {}).get("version", -1):
                latest[p["customer_id"]] = p
        return latest

    def unique(self, records: list[dict[str, Any]], id_field: str) -> dict[str, dict[str, Any]]:
        """Records by id; a re-sent copy (at-least-once) must be the same record."""
        out: dict[str, dict[str, Any]] = {}
        for r in records:
            first = out.setdefault(r[id_field], r)
            if first is not r:  # detected_at is the watermark of the moment: it may differ
                same = {k: v for k, v in first.items() if k != "detected_at"}
                again = {k: v for k, v in r.items() if k != "detected_at"}
                assert same == again, f"two records with one id differ: {first} {r}"
        return out

    def latest_anomalies(self) -> dict[str, dict[str, Any]]:
        """The newest version of each anomaly (an episode grows: claim_anomaly_latest)."""
        latest: dict[str, dict[str, Any]] = {}
        for a in self.anomalies:
            if a["detected_at"] >= latest.get(a["anomaly_id"], a)["detected_at"]:
                latest[a["anomaly_id"]] = a
        return latest

    def anomaly_contents(self) -> dict[str, dict[str, Any]]:
        """The newest version of each anomaly without its detected_at, which may be later
        where the records arrived in another order (the content may not)."""
        return {
            k: {f: v for f, v in a.items() if f != "detected_at"}
            for k, a in self.latest_anomalies().items()
        }

    def breach_keys(self, status: str) -> set[tuple[str, str]]:
        return {
            (r["rule"], r["subject_id"])
            for r in self.unique(self.breaches, "breach_id").values()
            if r["status"] == status
        }


def read_outputs(s: Settings, ports: Iterable[int]) -> Outputs:
    """Read every output topic between two watermark readings (see expected_breaches)."""
    ports = list(ports)
    before = watermarks(ports)
    time.sleep(2.0)  # what the watermark has passed is produced within this
    topics = {t: [r for _, r in read_topic(s, t)] for t in OUTPUTS}
    after = watermarks(ports)
    return Outputs(
        topics[PROFILE], topics[BREACH], topics[OUTCOME], topics[ANOMALY], topics[DEAD],
        before, after,
    )  # fmt: skip


def partition_of(customer_id: str, s: Settings) -> int:
    """The input partition of a customer's records (the same on every input topic)."""
    return partition_for(customer_id.encode(), s.kafka.input_partitions)
