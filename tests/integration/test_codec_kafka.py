"""The event contracts through the real broker: every event type round-trips in Avro and JSON,
keyed like the Java client, and the publisher refuses an invalid event before sending."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient
from support.clickhouse import hub_topics, isolated
from support.event_samples import DOMAIN_FIELDS, input_samples, output_samples, sample

from schemas import (
    ALL_TOPICS,
    CLAIM_ANOMALY,
    CLAIMS,
    CUSTOMER_PROFILE,
    INPUT_TOPICS,
    SLA_BREACH,
    SLA_OUTCOME,
    Codec,
    EventValidationError,
)
from schemas.topics import topic_name
from streams.ops.publish import EventPublisher, consume, partition_for
from streams.ops.topics import create_topics
from streams.settings import Settings

CODEC = Codec()


@pytest.fixture(scope="module")
def hub(settings: Settings) -> Iterator[Settings]:
    """Settings with a private topic prefix; the topics are deleted afterwards."""
    with hub_topics(isolated(settings, "test-codec")) as s:
        yield s


@pytest.mark.parametrize("encoding", ["avro", "json"])
def test_every_event_type_round_trips_through_kafka(hub: Settings, encoding: str) -> None:
    samples = input_samples() + ([] if encoding == "json" else output_samples())
    key_of = {
        CUSTOMER_PROFILE: "customer_id",
        SLA_BREACH: "customer_id",
        SLA_OUTCOME: "customer_id",
        CLAIM_ANOMALY: "subject_id",
    }
    # a fresh topic per encoding keeps the read-back exact
    s = dataclasses.replace(
        hub,
        kafka=dataclasses.replace(hub.kafka, topic_prefix=hub.kafka.topic_prefix + encoding + "."),
    )
    create_topics(s)
    try:
        with EventPublisher(s) as pub:
            for topic, event in samples:
                if topic in INPUT_TOPICS:
                    pub.publish(topic, event, encoding=encoding)
                else:
                    key = event.get(key_of.get(topic, ""), "C0000001")
                    pub.publish_raw(topic, CODEC.encode(topic, event), key=key)
        received = list(consume(s, list(ALL_TOPICS), idle_timeout_s=20))
    finally:
        admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap)
        admin.delete_topics([topic_name(t, s) for t in ALL_TOPICS])
        admin.close()
    assert [r for r in received if r.error is not None] == []
    assert len(received) == len(samples)
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for rec in received:
        assert rec.value is not None
        by_topic.setdefault(rec.topic, []).append(rec.value)
        if rec.topic in INPUT_TOPICS:
            assert rec.key == rec.value["customer_id"]
            if encoding == "json":
                assert rec.raw is not None and rec.raw.startswith(b"{")
            else:
                assert rec.raw is not None and rec.raw[:2] == b"\xc3\x01"
            # keyed like the Java client: a customer is on the same partition everywhere
            assert rec.key is not None
            assert rec.partition == partition_for(rec.key.encode(), s.kafka.input_partitions)
    for topic, event in samples:
        expected = CODEC.validate(topic, event)
        assert expected in by_topic[topic], f"{topic} {event.get('event_type')} did not round-trip"
    types = {v["event_type"] for t in INPUT_TOPICS for v in by_topic[t]}
    assert types == {e for t in INPUT_TOPICS for e in DOMAIN_FIELDS[t]}


def test_publisher_refuses_invalid_event_before_sending(hub: Settings) -> None:
    with EventPublisher(hub) as pub:
        with pytest.raises(EventValidationError) as info:
            pub.publish(CLAIMS, {**sample(CLAIMS, "claim_paid"), "paid_amount": None})
        assert info.value.field == "paid_amount"
        assert pub.sent == {}
