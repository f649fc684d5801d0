"""Where each topic lands, from the topic registry (schemas/topics.py): one route per hub
topic, inputs into ``events`` and each output into its ``Topic.table``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from schemas import default_registry
from schemas.binary import compile_decoder
from schemas.topics import TOPICS, Topic
from sinks.clickhouse.columns import (
    BY_NAME,
    DEAD_LETTER,
    Meta,
    PiiHasher,
    RowBuilder,
    Table,
    dead_letter_row,
)
from streams.settings import Settings

#: (record value, its coordinates) → its row, or None: not for this shortcut, ask the codec.
WireRow = Callable[[bytes | None, Meta], tuple[Any, ...] | None]


@dataclass(frozen=True)
class Route:
    """A Kafka topic, its contract and the table it lands in, with its row builder (and for
    the hub's own outputs, the shortcut from Avro bytes to that row)."""

    topic: Topic
    physical: str
    table: Table
    row: RowBuilder
    wire_row: WireRow | None = None

    @property
    def logical(self) -> str:
        return self.topic.logical


def wire_rows(topic: Topic, row: RowBuilder) -> WireRow:
    """Rows of ``topic``'s records written with its current schema, straight from the bytes.

    The common case of an output record, read by a decoder that leaves timestamps and dates
    as the numbers written (the row builders' conversions take either form) and yields the
    same row at a fraction of the full decode's cost. Anything else (another schema
    revision, JSON, bytes that do not decode, a record that cannot become a row) gives None,
    and the codec's decode and the row builder give the verdict as they always did.
    """
    schema = default_registry().current(topic.logical)
    decode = compile_decoder(schema.schema, wire_times=True)
    header, start = schema.header, len(schema.header)

    def wire_row(value: bytes | None, meta: Meta) -> tuple[Any, ...] | None:
        if value is None or value[:start] != header:
            return None
        try:
            record, end = decode(value, start)
            return row(record, meta) if end == len(value) else None
        except Exception:
            return None

    return wire_row


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
        wire = None if topic.is_input else wire_rows(topic, row)
        routes[topic.name(prefix)] = Route(topic, topic.name(prefix), table, row, wire)
    return routes


def subscribed_topics(settings: Settings) -> list[str]:
    """The Kafka names of every topic the sink reads: its consumer lag is over these."""
    return [t.name(settings.kafka.topic_prefix) for t in TOPICS]
