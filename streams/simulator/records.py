"""The records the simulation deals in: the events it hands out, and its customers and policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from schemas import INPUT_TOPICS, Codec
from streams.units import DAY_MS

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: ``timedelta(days=i)`` for the day offsets the simulation adds to dates (built once)
DAYS = [timedelta(days=i) for i in range(400)]


@dataclass(slots=True)
class GeneratedEvent:
    """One record for a topic: a valid event (``value``) or deliberately bad bytes (``raw``).

    ``time_ms`` is the event time (``occurred_at``); ``emit_ms`` the simulated time at which
    it is published, later than ``time_ms`` for out-of-order and duplicate deliveries.
    ``encoding`` is avro, json, or raw (for ``raw`` bytes). ``injection`` names what was
    injected: duplicate, out_of_order, bad_bytes, schema_invalid, unknown_event_type.
    ``value`` is in the codec's input form (timestamps as epoch ms) and shared with a
    duplicate: treat it as read-only.
    """

    topic: str
    key: str
    time_ms: int
    value: dict[str, Any] | None
    raw: bytes | None = None
    encoding: str = "avro"
    injection: str | None = None
    emit_ms: int = 0

    def encode(self, codec: Codec) -> bytes:
        """The record value as published."""
        if self.raw is not None:
            return self.raw
        assert self.value is not None
        if self.encoding == "json":
            return codec.encode_json(self.topic, self.value)
        return codec.encode(self.topic, self.value, validate=False)


@dataclass(slots=True)
class Customer:
    id: str
    segment: str
    name: str
    phone: str
    id_number: str
    hospital: str
    garage: str
    repairer: str
    policies: list[Policy] = field(default_factory=list)
    natural_claims: int = 0
    high_frequency: bool = False


@dataclass(slots=True)
class Policy:
    id: str
    customer: Customer
    line: str
    product_code: str
    premium_cents: int
    sum_assured: int
    start: date
    due: date
    agent_id: str | None
    channel: str
    application_id: str | None = None
    active: bool = True
    pool_index: int = -1


def date_ms(d: date) -> int:
    """Midnight UTC of a date, in epoch ms."""
    return (d.toordinal() - _EPOCH_ORDINAL) * DAY_MS


def money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


class EventEncoder:
    """A generated record's bytes as its source system publishes them: Avro, JSON or raw."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.avro = {topic: codec.schema(topic).encode_unchecked for topic in INPUT_TOPICS}

    def __call__(self, ev: GeneratedEvent) -> bytes:
        if ev.raw is not None:
            return ev.raw
        if ev.encoding == "json":
            return self.codec.encode_json(ev.topic, ev.value)  # type: ignore[arg-type]
        return self.avro[ev.topic](ev.value)  # type: ignore[arg-type]
