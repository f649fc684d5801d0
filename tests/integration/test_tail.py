"""``hub tail``: records of any topic as JSON lines with key, partition and offset."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from kafka.admin import KafkaAdminClient

from schemas import CLAIMS, SLA_BREACH, Codec
from schemas.topics import topic_name
from streams.ops import tail as tail_module
from streams.ops.publish import EventPublisher, partition_for
from streams.ops.tail import tail
from streams.ops.topics import create_topics
from streams.settings import Settings

EVENT = {
    "event_id": "evt-tail-1",
    "event_type": "claim_paid",
    "customer_id": "C0000077",
    "occurred_at": datetime(2026, 2, 3, 10, 0, tzinfo=UTC),
    "source": "claims.core",
    "claim_id": "CL000000077",
    "policy_id": "P000000077",
    "paid_amount": Decimal("512.30"),
}
BREACH = {
    "breach_id": "b-77",
    "rule": "inquiry_first_response",
    "segment": "high_net_worth",
    "customer_id": "C0000077",
    "subject_id": "SV000000077",
    "started_at": datetime(2026, 2, 3, 8, 0, tzinfo=UTC),
    "deadline_at": datetime(2026, 2, 3, 10, 0, tzinfo=UTC),
    "status": "breached",
    "detected_at": datetime(2026, 2, 3, 10, 0, 1, tzinfo=UTC),
    "limit_seconds": 7200,
}


@pytest.fixture(scope="module")
def hub(settings: Settings) -> Iterator[Settings]:
    kafka = dataclasses.replace(settings.kafka, topic_prefix=f"test-tail-{uuid.uuid4().hex[:8]}.")
    s = dataclasses.replace(settings, kafka=kafka)
    create_topics(s)
    with EventPublisher(s) as pub:
        pub.publish(CLAIMS, EVENT)
        pub.publish(CLAIMS, {**EVENT, "event_id": "evt-tail-2"}, encoding="json")
        pub.publish_raw(CLAIMS, b"not an event", key="C0000077")
        pub.publish_raw(SLA_BREACH, Codec().encode(SLA_BREACH, BREACH), key="C0000077")
    yield s
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap)
    try:
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(kafka.topic_prefix)])
    finally:
        admin.close()


def test_tail_from_beginning_prints_decoded_json_lines(hub: Settings) -> None:
    out = io.StringIO()
    assert tail(hub, "claims", from_beginning=True, max_records=3, timeout_s=10, out=out) == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    partition = partition_for(b"C0000077", hub.kafka.input_partitions)
    assert [ln["offset"] for ln in lines] == [0, 1, 2]
    for ln in lines:
        assert ln["topic"] == topic_name(CLAIMS, hub)
        assert ln["partition"] == partition
        assert ln["key"] == "C0000077"
        assert ln["timestamp"].endswith("Z")
    assert lines[0]["value"]["paid_amount"] == 512.3
    assert lines[0]["value"]["occurred_at"] == "2026-02-03T10:00:00.000Z"
    assert lines[1]["value"]["event_id"] == "evt-tail-2"
    assert lines[2]["error"]["kind"] == "malformed"
    assert lines[2]["error"]["field"] == "$"
    assert base64.b64decode(lines[2]["raw_base64"]) == b"not an event"


def test_tail_reads_output_topics_and_stops_at_max(hub: Settings) -> None:
    out = io.StringIO()
    assert tail(hub, "sla-breach", from_beginning=True, max_records=1, out=out) == 1
    line = json.loads(out.getvalue())
    assert line["value"]["status"] == "breached"
    assert line["value"]["completed_at"] is None


def test_tail_follows_new_records(hub: Settings) -> None:
    out = io.StringIO()
    done: list[int] = []
    reader = threading.Thread(
        target=lambda: done.append(tail(hub, CLAIMS, max_records=1, timeout_s=20, out=out))
    )
    reader.start()
    time.sleep(3)  # let the reader seek to the end before the new record arrives
    with EventPublisher(hub) as pub:
        pub.publish(CLAIMS, {**EVENT, "event_id": "evt-tail-new"})
    reader.join(30)
    assert done == [1]
    assert json.loads(out.getvalue())["value"]["event_id"] == "evt-tail-new"


def test_cli_handler(hub: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    tail_module.register(parser.add_subparsers())
    args = parser.parse_args(
        ["tail", topic_name(CLAIMS, hub), "--from-beginning", "--max", "2", "--timeout", "10"]
    )
    assert args.func(args, hub) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    args = parser.parse_args(["tail", "insurance.pets.v1", "--timeout", "1"])
    assert args.func(args, hub) == 2
    assert "not a hub topic" in capsys.readouterr().err
