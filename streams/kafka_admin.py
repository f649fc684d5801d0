"""Consumer-group lag: how many records a group has not yet committed, per partition.

The demo and the benchmarks wait on it ("everything has been processed") and the worker
exports it as a metric.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


def group_lag(bootstrap: str, group_id: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """End offset minus committed offset for every partition of `topics` (uncommitted = all)."""
    topics = list(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        committed = admin.list_group_offsets({group_id: None}).get(group_id, {})
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        ends = consumer.end_offsets(tps) if tps else {}
        lag = {}
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag[tp] = max(0, ends[tp] - done)
        return lag
    finally:
        consumer.close()
        admin.close()


def total_lag(bootstrap: str, group_id: str, topics: Iterable[str]) -> int:
    return sum(group_lag(bootstrap, group_id, topics).values())
