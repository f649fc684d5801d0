"""Topic provisioning against the real broker: idempotent, compacted profile, co-partitioning."""

from __future__ import annotations

import argparse
import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from schemas import ALL_TOPICS, CLAIMS, CUSTOMER_PROFILE, DEAD_LETTER, SALES
from schemas.topics import (
    DEAD_LETTER_TOPIC,
    topic_name,
    topic_names,
)
from streams.ops import topics as topics_module
from streams.ops.topics import (
    TopicConfigError,
    create_topics,
    delete_prefixed_topics,
    describe_topics,
)
from streams.settings import Settings
from streams.units import DAY_MS


def _with_prefix(settings: Settings, partitions: int | None = None) -> Settings:
    kafka = dataclasses.replace(
        settings.kafka,
        topic_prefix=f"test-topics-{uuid.uuid4().hex[:8]}.",
        input_partitions=partitions or settings.kafka.input_partitions,
    )
    return dataclasses.replace(settings, kafka=kafka)


@pytest.fixture
def fresh(settings: Settings) -> Iterator[Settings]:
    s = _with_prefix(settings)
    yield s
    delete_prefixed_topics(s)


def _configs(s: Settings, name: str) -> dict[str, str]:
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap)
    try:
        result = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, ["cleanup.policy", "retention.ms"])],
            config_filter="all",
        )
    finally:
        admin.close()
    entries = result["topic"][name]
    return {k: str(v["value"] if isinstance(v, dict) else v) for k, v in entries.items()}


def test_create_is_idempotent_and_configures_each_topic(fresh: Settings) -> None:
    created = create_topics(fresh, retention_ms=3 * DAY_MS)
    assert sorted(created) == sorted(topic_names(fresh).values())
    assert create_topics(fresh) == []  # second run: nothing to do, no error
    counts = describe_topics(fresh)
    assert set(counts) == set(topic_names(fresh).values())
    assert all(n == fresh.kafka.input_partitions for n in counts.values())
    profile = _configs(fresh, topic_name(CUSTOMER_PROFILE, fresh))
    assert profile["cleanup.policy"] == "compact"
    claims = _configs(fresh, topic_name(CLAIMS, fresh))
    assert claims["cleanup.policy"] == "delete"
    assert claims["retention.ms"] == str(3 * DAY_MS)
    dead = _configs(fresh, topic_name(DEAD_LETTER, fresh))
    assert dead["retention.ms"] == str(int(DEAD_LETTER_TOPIC.retention_days * DAY_MS))


def test_missing_topics_are_added_next_to_existing_ones(fresh: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=fresh.kafka.bootstrap)
    try:
        admin.create_topics(
            {
                topic_name(SALES, fresh): {
                    "num_partitions": fresh.kafka.input_partitions,
                    "replication_factor": 1,
                }
            }
        )
    finally:
        admin.close()
    created = create_topics(fresh)
    assert topic_name(SALES, fresh) not in created
    assert len(created) == len(ALL_TOPICS) - 1


def test_input_topics_must_be_co_partitioned(fresh: Settings) -> None:
    odd = topic_name(CLAIMS, fresh)
    admin = KafkaAdminClient(bootstrap_servers=fresh.kafka.bootstrap)
    try:
        admin.create_topics(
            {
                topic_name(SALES, fresh): {
                    "num_partitions": fresh.kafka.input_partitions,
                    "replication_factor": 1,
                },
                odd: {"num_partitions": 2, "replication_factor": 1},
            },
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    with pytest.raises(TopicConfigError) as info:
        create_topics(fresh)
    message = str(info.value)
    assert "not co-partitioned" in message
    assert f"{odd}=2" in message
    assert f"{topic_name(SALES, fresh)}={fresh.kafka.input_partitions}" in message
    # nothing was created on the way
    assert set(describe_topics(fresh)) == {odd, topic_name(SALES, fresh)}
    # the CLI handler reports it and exits non-zero
    args = argparse.Namespace(
        topics_action="create",
        retention_days=7.0,
        dead_letter_retention_days=30.0,
        output_partitions=None,
    )
    assert topics_module._run(args, fresh) == 2


def test_existing_inputs_must_match_the_configured_count(settings: Settings) -> None:
    s = _with_prefix(settings, partitions=3)
    try:
        create_topics(s)
        bigger = dataclasses.replace(s, kafka=dataclasses.replace(s.kafka, input_partitions=12))
        with pytest.raises(TopicConfigError) as info:
            create_topics(bigger)
        assert "HUB_INPUT_PARTITIONS is 12" in str(info.value)
        assert "3 partitions" in str(info.value)
    finally:
        delete_prefixed_topics(s)


def test_profile_topic_must_be_compacted(fresh: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=fresh.kafka.bootstrap)
    try:
        admin.create_topics(
            {
                topic_name(CUSTOMER_PROFILE, fresh): {
                    "num_partitions": 6,
                    "replication_factor": 1,
                    "configs": {"cleanup.policy": "delete"},
                }
            },
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    with pytest.raises(TopicConfigError, match="must be compacted"):
        create_topics(fresh)


def test_cli_create_then_list(fresh: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    topics_module.register(parser.add_subparsers())
    args = parser.parse_args(["topics", "create", "--retention-days", "2"])
    assert args.func(args, fresh) == 0
    assert "created" in capsys.readouterr().out
    assert _configs(fresh, topic_name(SALES, fresh))["retention.ms"] == str(2 * DAY_MS)
    args = parser.parse_args(["topics", "list"])
    assert args.func(args, fresh) == 0
    listing = capsys.readouterr().out
    for name in topic_names(fresh).values():
        assert f"{name}\t{fresh.kafka.input_partitions}" in listing
