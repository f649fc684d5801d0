"""Kafka administration shared by every command: one admin client, one consumer-lag definition.

**Lag** of a consumer group on a partition: records between the group's committed offset
and the partition's end offset; a partition the group never committed counts from its
earliest offset (where ``auto.offset.reset=earliest`` starts it). The demo and the
benchmarks wait for 0 ("everything has been processed") on the worker's and the sink's groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


@contextmanager
def admin_client(
    bootstrap: str, client_id: str = "hub-admin", **options: Any
) -> Iterator[KafkaAdminClient]:
    """A kafka-python admin client, closed on exit."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id, **options)
    try:
        yield admin
    finally:
        admin.close()


def committed_offsets(bootstrap: str, group_id: str) -> dict[TopicPartition, int]:
    """The group's committed offset (next record to read) of every partition it committed."""
    with admin_client(bootstrap, "hub-offsets") as admin:
        return group_offsets(admin, group_id)


def group_offsets(admin: KafkaAdminClient, group_id: str) -> dict[TopicPartition, int]:
    """:func:`committed_offsets` through an open admin client (for one who asks often)."""
    found = admin.list_group_offsets({group_id: None}).get(group_id, {})
    return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}


def group_lag(bootstrap: str, group_id: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """Lag (see the module docstring) of every existing partition of `topics`."""
    topics = list(topics)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, client_id="hub-lag", enable_auto_commit=False
    )
    try:
        committed = committed_offsets(bootstrap, group_id)
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if not tps:
            return {}
        ends = consumer.end_offsets(tps)
        begins = consumer.beginning_offsets(tps)
        lag = {}
        for tp in tps:
            done = committed.get(tp, begins[tp])
            lag[tp] = max(0, ends[tp] - max(done, begins[tp]))
        return lag
    finally:
        consumer.close(autocommit=False)


def total_lag(bootstrap: str, group_id: str, topics: Iterable[str]) -> int:
    return sum(group_lag(bootstrap, group_id, topics).values())
