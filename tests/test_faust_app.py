"""The worker's consumer seeks every stream partition back to its committed offset, 0 included.

Against the stack's Kafka: a consumer that has already fetched everything is sent back to
the group's commits, as happens after every rebalance (see streams/faust_app.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as AioTP
from harness import isolated
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from streams.faust_app import seek_all_to_committed
from streams.settings import Settings

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
