"""The outbox: what a change keeps, and what a worker taking partitions over re-sends.

The first tests are the pure bookkeeping. The last one sets up, on the stack's Kafka, what a
worker killed at the wrong moment leaves behind: a customer's state in the changelog whose
breach records never reached their topic, and an input offset not committed. A worker
started on that must re-send exactly the outputs of the uncommitted input.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness import HubProcess, isolated, read_topic, wait_for
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from test_worker_e2e import metric_values, partition_of, scrape, worker_lag

from schemas import Codec
from streams.domain.anomaly.detect import AnomalyConfig
from streams.domain.customer import CustomerState
from streams.domain.processor import BREACH, CustomerProcessor
from streams.domain.sla.rules import load_rules
from streams.events import normalise
from streams.settings import Settings
from streams.worker import outbox
from streams.worker.emit import output
from streams.worker.topics import ensure_worker_topics

A_BREACH = ("sla-breach", "C1", {"breach_id": "b1"})
AN_OUTCOME = ("sla-outcome", "C1", {"outcome_id": "o1"})


def stored(box: list[list[object]]) -> list[list[object]]:
    """As it comes back from the table: through JSON, so tuples are lists."""
    return json.loads(json.dumps(box))


def test_an_input_with_no_outputs_leaves_no_entry() -> None:
    box: list[list[object]] = []
    outbox.record(box, ("claims", 3, 17), [])
    assert box == []


def test_entries_at_or_after_the_committed_offset_are_kept() -> None:
    box: list[list[object]] = []
    outbox.record(box, ("claims", 3, 16), [A_BREACH])
    outbox.record(box, ("claims", 3, 17), [AN_OUTCOME])
    outbox.record(box, ("ticks", 3, 5), [A_BREACH])
    kept = outbox.uncommitted(stored(box), {("claims", 3): 17, ("ticks", 3): 9})
    assert [e[:3] for e in kept] == [["claims", 3, 17]]
    # A partition with no commit yet keeps everything.
    assert len(outbox.uncommitted(stored(box), {})) == 3


def test_a_change_keeps_the_uncommitted_entries_and_adds_its_own() -> None:
    box: list[list[object]] = []
    outbox.record(box, ("claims", 3, 16), [A_BREACH])
    outbox.record(box, ("claims", 3, 17), [AN_OUTCOME])
    after = outbox.after_change(stored(box), {("claims", 3): 17}, ("sales", 3, 40), [A_BREACH])
    assert [e[:3] for e in after] == [["claims", 3, 17], ["sales", 3, 40]]


def test_only_partitions_taken_over_are_resent_from_their_committed_offset() -> None:
    box: list[list[object]] = []
    outbox.record(box, ("claims", 3, 16), [A_BREACH])
    outbox.record(box, ("claims", 3, 17), [A_BREACH, AN_OUTCOME])
    outbox.record(box, ("sales", 3, 40), [AN_OUTCOME])
    committed = {("claims", 3): 17, ("sales", 3): 40}
    resent = list(outbox.to_resend(stored(box), committed, {("claims", 3), ("sales", 3)}))
    assert [tuple(o) for o in resent] == [A_BREACH, AN_OUTCOME, AN_OUTCOME]
    # Partitions this process already owned: its own producer delivers their outputs.
    assert list(outbox.to_resend(stored(box), committed, {("underwriting", 3)})) == []


CLAIMS = "insurance.claims.v1"
DAY_MS = 86_400_000
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
    changelog = f"{s.worker.app_id}-customers-changelog"
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap)
    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap)
    codec = Codec()
    try:
        # The killed owner (ensure_worker_topics made its changelog): both claims read
        # (offsets 0 and 1), its state in the changelog, offset 0 committed, and none of its
        # breach records on the breach topic.
        for i in range(2):
            producer.send(
                claims, key=b"C-OUTBOX", value=codec.encode(CLAIMS, claim_reported(i)), partition=p
            )
        producer.send(changelog, key=b"C-OUTBOX", value=state.dumps(), partition=p)
        producer.flush()
        admin.alter_group_offsets(
            s.worker.app_id, {TopicPartition(claims, p): OffsetAndMetadata(1, "", -1)}
        )
    finally:
        producer.close()
        admin.close()
    worker = HubProcess(s, ["worker"], tmp_path / "worker.log")
    try:
        wait_for(lambda: worker_lag(s) == 0, 120, "the replayed claim committed", worker)
        metrics = scrape(s.prometheus.worker_metrics_port)
        breaches = [r for _, r in read_topic(s, "insurance.sla-breach.v1")]
    finally:
        worker.stop()
    expected = {rec["breach_id"] for _, _, rec in by_offset[1]}
    assert len(expected) == 3  # claim acceptance, settlement and small-claim payment
    # Offset 1's breaches once each; offset 0's were committed, so they had been delivered.
    assert sorted(r["breach_id"] for r in breaches) == sorted(expected)
    assert sum(metric_values(metrics, "hub_worker_outbox_resent_total").values()) == 3
    # The replayed claim was a duplicate: nothing new, just the profile again.
    assert sum(metric_values(metrics, "hub_worker_duplicate_events_total").values()) == 1
