"""The worker's consumer seeks every stream partition back to its committed offset, 0 included.

Against the stack's Kafka: a consumer that has already fetched everything is sent back to
the group's commits, as happens after every rebalance (see streams/worker/faust_app.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as AioTP
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.structs import OffsetAndMetadata
from support.harness import isolated

from streams.settings import Settings
from streams.worker.app import HubWorker
from streams.worker.faust_app import seek_all_to_committed
from streams.worker.topics import WORKER_TABLES, ensure_worker_topics

RECORDS = 10


def test_seek_goes_back_to_commits_of_zero_and_to_the_log_start_without_one(
    settings: Settings, tmp_path: Path
) -> None:
    s = isolated(settings, tmp_path)
    stream, changelog = f"{s.kafka.topic_prefix}stream", f"{s.kafka.topic_prefix}changelog"
    group = f"{s.kafka.topic_prefix}group"
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap)
    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap)
    try:
        admin.create_topics([NewTopic(stream, 3, 1), NewTopic(changelog, 1, 1)])
        for p in range(3):
            for i in range(RECORDS):
                producer.send(stream, value=b"%d" % i, partition=p)
        for i in range(RECORDS):
            producer.send(changelog, value=b"%d" % i, partition=0)
        producer.flush()
        # Partition 0 committed at 0, partition 1 at 4, partition 2 and the changelog never.
        admin.alter_group_offsets(
            group,
            {
                TopicPartition(stream, 0): OffsetAndMetadata(0, "", -1),
                TopicPartition(stream, 1): OffsetAndMetadata(4, "", -1),
            },
        )
        positions = asyncio.run(_fetch_all_then_seek(s, group, stream, changelog))
    finally:
        producer.close()
        admin.delete_topics([stream, changelog])
        admin.close()
    assert positions == {
        (stream, 0): 0,  # aiokafka's own seek_to_committed leaves this one at 10
        (stream, 1): 4,
        (stream, 2): 0,  # no commit: the log start (auto.offset.reset=earliest)
        (changelog, 0): RECORDS,  # changelogs are left to Faust's table recovery
    }


async def _fetch_all_then_seek(
    s: Settings, group: str, stream: str, changelog: str
) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.kafka.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tps = [AioTP(stream, p) for p in range(3)] + [AioTP(changelog, 0)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        fetched = 0
        async with asyncio.timeout(30):
            while fetched < 4 * RECORDS:
                batch = await consumer.getmany(timeout_ms=500)
                fetched += sum(len(records) for records in batch.values())
        committed = await seek_all_to_committed(consumer, frozenset({changelog}))
        assert committed[AioTP(stream, 0)] == 0
        assert committed[AioTP(stream, 2)] is None
        return {(tp.topic, tp.partition): await consumer.position(tp) for tp in tps}
    finally:
        await consumer.stop()


FETCH_WAIT_MS = 1000
EMPTY_PARTITIONS = 8


def test_seek_of_a_fresh_group_waits_for_one_fetch_not_one_per_partition(
    settings: Settings, tmp_path: Path
) -> None:
    """With nothing to read, each fetch waits out fetch_max_wait_ms, and a reset to the log
    start waits for the fetch in flight: one reset per partition made a fresh worker's first
    seek take 55 s (37 partitions, 1.5 s each with Faust's setting)."""
    s = isolated(settings, tmp_path)
    stream = f"{s.kafka.topic_prefix}empty"
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap)
    try:
        admin.create_topics([NewTopic(stream, EMPTY_PARTITIONS, 1)])
    finally:
        admin.close()  # the session deletes its topics at the end (tests/conftest.py)
    elapsed, positions = asyncio.run(_seek_fresh_group(s, stream))
    assert positions == dict.fromkeys(range(EMPTY_PARTITIONS), 0)
    assert elapsed < 2 * FETCH_WAIT_MS / 1000  # one per partition: 8 s


async def _seek_fresh_group(s: Settings, stream: str) -> tuple[float, dict[int, int]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.kafka.bootstrap,
        group_id=f"{s.kafka.topic_prefix}fresh",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_WAIT_MS,
    )
    await consumer.start()
    try:
        tps = [AioTP(stream, p) for p in range(EMPTY_PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        await asyncio.sleep(0.3)  # a fetch is now waiting for records that do not come
        start = asyncio.get_running_loop().time()
        committed = await seek_all_to_committed(consumer, frozenset())
        elapsed = asyncio.get_running_loop().time() - start
        assert set(committed.values()) == {None}
        return elapsed, {tp.partition: await consumer.position(tp) for tp in tps}
    finally:
        await consumer.stop()


def test_worker_topics_include_every_table_changelog_compacted_and_co_partitioned(
    settings: Settings, tmp_path: Path
) -> None:
    """Faust's own changelog topics exist before the worker joins its group (a changelog
    missing from the group leader's metadata makes every write to its table fail)."""
    s = isolated(settings, tmp_path)
    s = replace(s, kafka=replace(s.kafka, input_partitions=3))  # not the default 6
    app_id = s.worker.app_id
    # What Faust would create for the worker's tables: WORKER_TABLES covers every table, and
    # each changelog is compacted only (no delete policy) with the inputs' partition count.
    faust_wants = {
        t.changelog_topic.get_topic_name(): (
            t.changelog_topic.partitions,
            t.changelog_topic.compacting,
            t.changelog_topic.deleting,
        )
        for t in HubWorker(s).app.tables.values()
    }
    changelogs = {f"{app_id}-{table}-changelog" for table in WORKER_TABLES}
    assert faust_wants == dict.fromkeys(changelogs, (3, True, None))
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap)
    try:
        ensure_worker_topics(s)
        ensure_worker_topics(s)  # idempotent
        described = admin.describe_topics(sorted(changelogs))
        assert {t["name"]: len(t["partitions"]) for t in described} == dict.fromkeys(changelogs, 3)
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n, ["cleanup.policy"]) for n in changelogs]
        )
        policies = {n: c["cleanup.policy"] for n, c in configs["topic"].items()}
        assert {n: p.get("value") for n, p in policies.items()} == dict.fromkeys(
            changelogs, "compact"
        )
        assert f"{app_id}-__assignor-__leader" in admin.list_topics()
    finally:
        admin.close()  # the session deletes its topics at the end (tests/conftest.py)
