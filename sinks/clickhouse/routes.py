"""Where each topic lands, from the topic registry (schemas/topics.py): one route per hub
topic, inputs into ``events`` and each output into its ``Topic.table``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from schemas.topics import TOPICS, Topic
from sinks.clickhouse.columns import (
    BY_NAME,
    DEAD_LETTER,
    PiiHasher,
    RowBuilder,
    Table,
    dead_letter_row,
)
from streams.settings import Settings


@dataclass(frozen=True)
class Route:
    """A Kafka topic, its contract and the table it lands in, with its row builder."""

    topic: Topic
    physical: str
    table: Table
    row: RowBuilder

    @property
    def logical(self) -> str:
        return self.topic.logical


def build_routes(
    prefix: str, pii: PiiHasher, readable: Callable[[str, bytes], Any]
) -> dict[str, Route]:
    """Physical topic name → route. ``readable(topic, value)``: a dead letter's original
    record as a dict, or None."""
    routes = {}
    for topic in TOPICS:
        table = BY_NAME[topic.table]
        row: RowBuilder
        if table is DEAD_LETTER:
            row = partial(dead_letter_row, pii=pii, readable=readable)
        else:
            row = table.builder(pii, topic)
        routes[topic.name(prefix)] = Route(topic, topic.name(prefix), table, row)
    return routes


def subscribed_topics(settings: Settings) -> list[str]:
    """The Kafka names of every topic the sink reads: its consumer lag is over these."""
    return [t.name(settings.kafka.topic_prefix) for t in TOPICS]
