"""A worker taking partitions over re-sends what a killed owner may not have delivered.

The test sets up, on the stack's Kafka, what a worker killed at the wrong moment leaves
behind: a customer's state in the changelog whose breach records never reached their topic,
and an input offset not committed. A worker started on that must re-send exactly the outputs
of the uncommitted input.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from support.harness import HubProcess, isolated, read_topic, wait_for
from support.outputs import metric_values, partition_of, scrape, worker_lag

from schemas import CLAIMS, CUSTOMER_PROFILE, SLA_BREACH, Codec
from streams.domain.anomaly.detect import AnomalyConfig
from streams.domain.customer import CustomerState, profile_record
from streams.domain.processor import BREACH, CustomerProcessor
from streams.domain.sla.rules import load_rules
from streams.events import normalise
from streams.settings import Settings
from streams.units import DAY_MS
from streams.worker import outbox
from streams.worker.emit import output
from streams.worker.topics import ensure_worker_topics, tick_topic

# The claims' event time: recent enough that a replayed claim is a duplicate (inside the
# 30-day dedup horizon) even once the idle partition's watermark has reached the wall clock.
T0 = int(time.time() * 1000) - 20 * DAY_MS


def claim_reported(i: int) -> dict[str, Any]:
    return {
        "event_id": f"E-OUTBOX-{i}", "event_type": "claim_reported", "customer_id": "C-OUTBOX",
        "occurred_at": T0 + i * 1000, "source": "test", "claim_id": f"CL-OUTBOX-{i}",
        "policy_id": "P-OUTBOX", "product_line": "motor", "claim_type": "glass",
        "claimed_amount": Decimal("100.00"), "incident_date": T0 // DAY_MS,
    }  # fmt: skip


def crashed_owner_state(partition: int) -> tuple[CustomerState, list[list[Any]]]:
    """Both claims applied and breached, each claim's breaches kept for its input offset."""
    codec, processor = Codec(), CustomerProcessor(load_rules(), AnomalyConfig.load(), b"k")
    state = None
    for i in range(2):
        event = normalise("claims", codec.decode(CLAIMS, codec.encode(CLAIMS, claim_reported(i))))
        state = processor.on_event(state, event, 0).state
    assert state is not None
    state.partition = partition
    res = processor.on_watermark(state, T0 + 15 * DAY_MS)
    by_offset: list[list[Any]] = [[], []]
    for out, rec in res.outputs:
        assert out == BREACH
        by_offset[int(rec["subject_id"][-1])].append(output(out, rec))
    return state, by_offset


def leave_behind(
    s: Settings, p: int, state: CustomerState, claims_committed: int, tick: bool = False
) -> None:
    """What a killed owner leaves on Kafka: both claims on their topic (offsets 0 and 1), a
    tick if it breached on one, its state in the changelog (ensure_worker_topics made it),
    the claims committed up to ``claims_committed``, and nothing on the output topics."""
    claims = s.kafka.topic_prefix + CLAIMS
    changelog = f"{s.worker.app_id}-customers-changelog"
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap)
    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap)
    codec = Codec()
    try:
        for i in range(2):
            producer.send(
                claims, key=b"C-OUTBOX", value=codec.encode(CLAIMS, claim_reported(i)), partition=p
            )
        if tick:
            at = str(T0 + 15 * DAY_MS).encode()
            producer.send(tick_topic(s), key=b"tick", value=at, partition=p)
        producer.send(changelog, key=b"C-OUTBOX", value=state.dumps(), partition=p)
        producer.flush()
        committed = OffsetAndMetadata(claims_committed, "", -1)
        admin.alter_group_offsets(s.worker.app_id, {TopicPartition(claims, p): committed})
    finally:
        producer.close()
        admin.close()


def test_a_worker_taking_over_resends_what_a_killed_owner_may_not_have_delivered(
    settings: Settings, tmp_path: Path
) -> None:
    s = isolated(settings, tmp_path)
    ensure_worker_topics(s)
    claims = s.kafka.topic_prefix + CLAIMS
    p = partition_of("C-OUTBOX", s)
    state, by_offset = crashed_owner_state(p)
    for offset, outputs in enumerate(by_offset):
        outbox.record(state.outbox, (claims, p, offset), outputs)
    leave_behind(s, p, state, claims_committed=1)  # offset 1 to replay
    worker = HubProcess(s, ["worker"], tmp_path / "worker.log")
    try:
        wait_for(lambda: worker_lag(s) == 0, 120, "the replayed claim committed", worker)
        metrics = scrape(s.prometheus.worker_metrics_port)
        breaches = [r for _, r in read_topic(s, SLA_BREACH)]
    finally:
        worker.stop()
    expected = {rec["breach_id"] for _, _, rec in by_offset[1]}
    assert len(expected) == 3  # claim acceptance, settlement and small-claim payment
    # Offset 1's breaches once each; offset 0's were committed, so they had been delivered.
    assert sorted(r["breach_id"] for r in breaches) == sorted(expected)
    assert sum(metric_values(metrics, "hub_worker_outbox_resent_total").values()) == 3
    # The replayed claim was a duplicate: nothing new, just the profile again.
    assert sum(metric_values(metrics, "hub_worker_duplicate_events_total").values()) == 1


def test_a_breach_the_watermark_made_gets_its_profile_resent_by_the_next_owner(
    settings: Settings, tmp_path: Path
) -> None:
    """No event to replay: a tick breached both claims' obligations and the killed owner's
    state reached the changelog, but neither the breaches nor the profile left. The claims
    are committed, the tick is not: the new owner re-sends the breaches and the profile."""
    s = isolated(settings, tmp_path)
    ensure_worker_topics(s)
    p = partition_of("C-OUTBOX", s)
    state, by_offset = crashed_owner_state(p)
    outbox.record(state.outbox, (tick_topic(s), p, 0), by_offset[0] + by_offset[1])
    leave_behind(s, p, state, claims_committed=2, tick=True)  # no claim to replay
    worker = HubProcess(s, ["worker"], tmp_path / "worker.log")
    try:

        def profiles() -> list[dict[str, Any]]:
            return [r for _, r in read_topic(s, CUSTOMER_PROFILE)]

        wait_for(lambda: bool(profiles()), 120, "the customer's profile re-sent", worker)
        wait_for(lambda: worker_lag(s) == 0, 60, "the inputs committed", worker)
        breaches = [r for _, r in read_topic(s, SLA_BREACH)]
        sent = profiles()
    finally:
        worker.stop()
    expected = {rec["breach_id"] for _, _, rec in by_offset[0] + by_offset[1]}
    assert len(expected) == 6
    assert {r["breach_id"] for r in breaches} == expected
    want = profile_record(state, state.last_event_ms)
    assert want["sla_breaches_90d"] == 6
    assert [(r["customer_id"], r["version"], r["sla_breaches_90d"]) for r in sent] == [
        ("C-OUTBOX", want["version"], 6)
    ]
