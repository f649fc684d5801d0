"""Input record bytes → an accepted event, or the one reason it is refused.

The worker and the sink both call :func:`accept`, so a record lands in ClickHouse's
``events`` exactly when the worker applied it (or refused it for a reason only its state
knows: ``too_late``, which the ``events_unique`` view leaves out by its dead letter). Every
check is a function of the record alone, including time: "now" is the record's Kafka
timestamp (the broker's append time on the hub's input topics), so the worker and a sink
that reads the record hours later give the same verdict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from schemas import Codec, EventValidationError
from streams.domain.sla.rules import RuleSet
from streams.units import HOUR_MS

MAX_RECORD_BYTES = 1_048_576  # larger input records are refused unread
#: What a dead letter keeps of the original value; the whole record stays on its input topic.
DEAD_LETTER_VALUE_BYTES = 16_384
DEAD_LETTER_KEY_BYTES = 1_024

TOO_LARGE = "too_large"
KEY_MISMATCH = "key_mismatch"
FUTURE_TIMESTAMP = "future_timestamp"
IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"
TOO_LATE = "too_late"

#: Legacy policy systems write 9999-12-31 for "no date": such a date reads as absent.
NO_DATE_FROM = dt.date(9999, 1, 1)
#: Dates outside this range are typing errors (and outside what ClickHouse's Date holds).
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2100, 12, 31))


@dataclass(frozen=True)
class Rejection:
    kind: str  # the dead letter's error_kind
    field: str | None
    reason: str


@dataclass(frozen=True)
class TimeBounds:
    """How far an event's ``occurred_at`` may be from the time Kafka stamped on its record."""

    max_future_skew_ms: int
    min_event_ms: int

    @classmethod
    def of(cls, rules: RuleSet) -> TimeBounds:
        return cls(rules.max_future_skew_ms, rules.min_event_ms)


def accept(
    codec: Codec,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    record_ms: int,
    bounds: TimeBounds,
) -> dict[str, Any] | Rejection:
    """The decoded event of logical input ``topic`` (canonical form), or why not."""
    if value is not None and len(value) > MAX_RECORD_BYTES:
        return Rejection(
            TOO_LARGE, None, f"record of {len(value)} bytes (limit {MAX_RECORD_BYTES})"
        )
    try:
        event = codec.decode(topic, value)
    except EventValidationError as exc:
        return Rejection(exc.kind, exc.field, str(exc))
    customer = event["customer_id"]
    if key is None:
        return Rejection(KEY_MISMATCH, "customer_id", "record has no key (must be customer_id)")
    if key != customer.encode():
        shown = key[:40].decode("utf-8", "backslashreplace")
        return Rejection(
            KEY_MISMATCH, "customer_id", f"record key {shown!r} is not customer_id {customer!r}"
        )
    return _check_times(event, record_ms, bounds)


def _check_times(
    event: dict[str, Any], record_ms: int, bounds: TimeBounds
) -> dict[str, Any] | Rejection:
    occurred = event["occurred_at"]
    t = int(occurred.timestamp() * 1000)
    if t > record_ms + bounds.max_future_skew_ms:
        ahead = (t - record_ms) / HOUR_MS
        return Rejection(
            FUTURE_TIMESTAMP,
            "occurred_at",
            f"{occurred.isoformat()} is {ahead:.1f} h ahead of the record's Kafka time "
            f"(at most {bounds.max_future_skew_ms / HOUR_MS:g} h)",
        )
    if t < bounds.min_event_ms:
        return Rejection(
            IMPLAUSIBLE_TIMESTAMP, "occurred_at", f"{occurred.isoformat()} is before the floor"
        )
    for name, v in event.items():
        if type(v) is dt.date:
            if v >= NO_DATE_FROM:
                event[name] = None
            elif not DATE_RANGE[0] <= v <= DATE_RANGE[1]:
                return Rejection(
                    IMPLAUSIBLE_TIMESTAMP,
                    name,
                    f"{v.isoformat()} is outside {DATE_RANGE[0]}..{DATE_RANGE[1]}",
                )
    return event


def bounded_dead_letter(
    value: bytes | None, key: bytes | None
) -> tuple[bytes, bytes | None, int, str]:
    """(value prefix, key prefix, full size, SHA-256 hex) of a refused record.

    A dead letter must always fit in one produce request, whatever it reports on.
    """
    raw = value or b""
    return (
        raw[:DEAD_LETTER_VALUE_BYTES],
        key[:DEAD_LETTER_KEY_BYTES] if key is not None else None,
        len(raw),
        hashlib.sha256(raw).hexdigest(),
    )


def dead_letter_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    why: Rejection,
    received_at: int,
) -> dict[str, Any]:
    """The dead-letter record (``DEAD_LETTER_TOPIC``'s contract) of a refused input record at
    these coordinates, bounded by :func:`bounded_dead_letter`."""
    kept, kept_key, size, sha256 = bounded_dead_letter(value, key)
    reason = why.reason[:2000]
    if size > len(kept):
        reason += f" [value: first {len(kept)} of {size} bytes kept; whole on the input topic]"
    return {
        "value": kept,
        "key": kept_key,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "reason": reason,
        "error_kind": why.kind,
        "field": why.field,
        "received_at": received_at,
        "value_size": size,
        "value_sha256": sha256,
    }
