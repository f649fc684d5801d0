"""Decoded hub records → ClickHouse rows, with personal data replaced by keyed hashes.

One :class:`TableSpec` per table: its column list (the INSERT order) and a function building
one row tuple from a decoded record (the codec's canonical form: aware datetimes, dates,
Decimals) and its Kafka coordinates. Rows are plain tuples so the sink can buffer them and
hand columns to clickhouse-driver's columnar insert.

Personal data (what sources send on sales events: ``customer_name``, ``phone``,
``id_number``) is never stored in clear, in a column or inside ``payload``: each value is
replaced by ``HMAC-SHA256(HUB_PII_KEY, value)`` in hex, exactly as the worker derives a
profile's ``person_key`` from the ID number, so ``events.person_key`` joins
``customer_profile.person_key``. A keyed hash, not a plain one: ID and phone numbers are
short enough to brute-force from an unkeyed SHA-256, and without the key nobody can test a
guess. Analysts can still count and link a person's records; they cannot read them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from schemas import format_timestamp, to_jsonable

PII_FIELDS: tuple[str, ...] = ("customer_name", "phone", "id_number")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_MIN, _DATE_MAX = date(1970, 1, 1), date(2149, 6, 6)  # ClickHouse Date (UInt16 days)

#: The error_kind of a row ClickHouse (or its type system, applied by the driver) refused.
REJECTED = "clickhouse_rejected"


class RowError(ValueError):
    """A record that cannot become a row of its table; the message names the column."""

    def __init__(self, column: str, problem: str) -> None:
        self.column = column
        super().__init__(f"column {column}: {problem}")


@dataclass(frozen=True)
class Meta:
    """Where a record was read: its Kafka coordinates, timestamp and key."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None = None


class PiiHasher:
    """HMAC-SHA256 of personal data under the hub's secret key, as lowercase hex."""

    def __init__(self, key: str | bytes) -> None:
        self._key = key.encode() if isinstance(key, str) else key

    def hash(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        return hmac.digest(self._key, str(value).encode(), "sha256").hex()

    def hash_fields(self, record: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, str]]:
        """(record without personal fields but with ``<field>_hmac`` ones, {field: hash}).

        Top level only: the input contracts carry personal data as top-level fields.
        """
        if "customer_name" not in record and "phone" not in record and "id_number" not in record:
            return record, {}
        out = dict(record)
        hashes: dict[str, str] = {}
        for k in PII_FIELDS:
            v = out.pop(k, None)
            if v is not None:
                hashes[k] = out[f"{k}_hmac"] = self.hash(v)
        return out, hashes

    def redact(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record with each personal field ``f`` replaced by ``f_hmac``, at any depth."""
        out: dict[str, Any] = {}
        for k, v in record.items():
            if k in PII_FIELDS:
                if v is not None:
                    out[f"{k}_hmac"] = self.hash(v)
            elif isinstance(v, Mapping):
                out[k] = self.redact(v)
            elif isinstance(v, list):
                out[k] = [self.redact(x) if isinstance(x, Mapping) else x for x in v]
            else:
                out[k] = v
        return out


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Decimal | date | bytes | bytearray | memoryview):
        return to_jsonable(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default).encode


def to_json(record: Mapping[str, Any]) -> str:
    """Compact JSON of a canonical record (timestamps ISO-8601 Z, decimals exact).

    The same text as ``schemas.to_jsonable`` gives, with the conversions done only for the
    values that need one (the encoder's ``default`` hook), which is several times faster.
    """
    return _ENCODE(record)


# -- value conversion ----------------------------------------------------------------------


def epoch_seconds(value: Any) -> int:
    """A DateTime column value: whole seconds since the epoch (the driver takes ints as is).

    Out-of-range values (before 1970, after 2106) are left for ClickHouse's type check to
    refuse, so the row is dead-lettered with its message.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int((value - _EPOCH).total_seconds() // 1)
    if isinstance(value, int):  # epoch milliseconds, as the worker's records carry them
        return value // 1000
    raise TypeError(f"expected a timestamp, got {type(value).__name__}")


def _opt_seconds(value: Any) -> int | None:
    return None if value is None else epoch_seconds(value)


def _date(column: str, value: Any) -> date | None:
    """A Date column value; refuses what clickhouse-driver would silently turn into 1970-01-01."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    elif isinstance(value, int):  # epoch days
        value = date.fromordinal(_DATE_MIN.toordinal() + value)
    if not isinstance(value, date):
        raise RowError(column, f"expected a date, got {type(value).__name__}")
    if not _DATE_MIN <= value <= _DATE_MAX:
        raise RowError(column, f"date {value} outside ClickHouse Date range 1970-01-01..2149-06-06")
    return value


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else round(value)


# -- tables --------------------------------------------------------------------------------

RowBuilder = Callable[[Mapping[str, Any], Meta, PiiHasher], tuple[Any, ...]]


@dataclass(frozen=True)
class TableSpec:
    """A landing table: INSERT column order, row builder and the partition column."""

    name: str
    columns: tuple[str, ...]
    build: RowBuilder
    partition_column: str | None  # DateTime column whose month is the partition, if any

    @property
    def partition_index(self) -> int | None:
        return None if self.partition_column is None else self.columns.index(self.partition_column)


EVENT_COLUMNS = (
    "event_id", "domain", "event_type", "customer_id", "occurred_at", "source",
    "policy_id", "claim_id", "case_id", "application_id", "quote_id", "provider_id",
    "product_line", "segment", "channel", "category", "decision", "nps_score",
    "claimed_amount", "paid_amount", "premium",
    "person_key", "name_hmac", "phone_hmac", "payload", "topic", "kafka_partition",
    "kafka_offset",
)  # fmt: skip

_DOMAIN_RE = re.compile(r"insurance\.([a-z]+)\.v\d+$")


def domain_of(topic: str) -> str:
    """``sales`` from ``[prefix]insurance.sales.v1``."""
    m = _DOMAIN_RE.search(topic)
    return m.group(1) if m else topic


def event_row(e: Mapping[str, Any], meta: Meta, pii: PiiHasher) -> tuple[Any, ...]:
    payload, hashes = pii.hash_fields(e)
    g = e.get
    return (
        e["event_id"],
        domain_of(meta.topic),
        e["event_type"],
        e["customer_id"],
        epoch_seconds(e["occurred_at"]),
        _s(g("source")),
        _s(g("policy_id")),
        _s(g("claim_id")),
        _s(g("case_id")),
        _s(g("application_id")),
        _s(g("quote_id")),
        _s(g("provider_id")),
        _s(g("product_line")),
        _s(g("customer_segment")),
        _s(g("channel")),
        _s(g("category")),
        _s(g("decision")),
        g("nps_score"),
        _dec(g("claimed_amount")),
        _dec(g("paid_amount")),
        _dec(g("premium")),
        hashes.get("id_number", ""),
        hashes.get("customer_name", ""),
        hashes.get("phone", ""),
        to_json(payload),
        meta.topic,
        meta.partition,
        meta.offset,
    )


PROFILE_COLUMNS = (
    "customer_id", "version", "person_key", "segment", "active_policies", "product_lines",
    "total_annual_premium", "total_sum_assured", "next_renewal_due", "latest_decision",
    "rated", "exclusion", "pending_applications", "claims_total", "claims_open",
    "claims_paid_amount", "last_claim_at", "claims_30d", "claims_90d", "claims_365d",
    "open_inquiries", "complaints_90d", "last_nps", "last_contact_at", "sla_breaches_90d",
    "anomaly_flags", "first_seen_at", "last_event_at", "topic", "kafka_partition",
    "kafka_offset",
)  # fmt: skip


def profile_row(p: Mapping[str, Any], meta: Meta, pii: PiiHasher) -> tuple[Any, ...]:
    pol, uw, cl, sv = p["policies"], p["underwriting"], p["claims"], p["servicing"]
    return (
        p["customer_id"],
        p["version"],
        _s(p.get("person_key")),
        _s(p.get("segment")),
        pol["active_count"],
        list(pol["product_lines"]),
        _dec(pol["total_annual_premium"]),
        _dec(pol["total_sum_assured"]),
        _date("next_renewal_due", pol.get("next_renewal_due")),
        _s(uw.get("latest_decision")),
        int(bool(uw["rated"])),
        int(bool(uw["exclusion"])),
        uw["pending_applications"],
        cl["total"],
        cl["open"],
        _dec(cl["paid_amount"]),
        _opt_seconds(cl.get("last_claim_at")),
        cl["count_30d"],
        cl["count_90d"],
        cl["count_365d"],
        sv["open_inquiries"],
        sv["complaints_90d"],
        sv.get("last_nps"),
        _opt_seconds(sv.get("last_contact_at")),
        p["sla_breaches_90d"],
        list(p["anomaly_flags"]),
        epoch_seconds(p["first_seen_at"]),
        epoch_seconds(p["last_event_at"]),
        meta.topic,
        meta.partition,
        meta.offset,
    )


SLA_COLUMNS = (
    "breach_id", "rule", "status", "segment", "customer_id", "subject_id", "started_at",
    "deadline_at", "detected_at", "completed_at", "duration_seconds", "limit_seconds",
    "topic", "kafka_partition", "kafka_offset",
)  # fmt: skip


OUTCOME_COLUMNS = ("outcome_id", *SLA_COLUMNS[1:])


def sla_row(b: Mapping[str, Any], meta: Meta, pii: PiiHasher) -> tuple[Any, ...]:
    """A row of sla_breach (``breach_id``) or sla_outcome (``outcome_id``): same shape."""
    return (
        b["breach_id"] if "breach_id" in b else b["outcome_id"],
        b["rule"],
        b["status"],
        _s(b.get("segment")),
        b["customer_id"],
        b["subject_id"],
        epoch_seconds(b["started_at"]),
        epoch_seconds(b["deadline_at"]),
        epoch_seconds(b["detected_at"]),
        _opt_seconds(b.get("completed_at")),
        _int(b.get("duration_seconds")),
        _int(b["limit_seconds"]),
        meta.topic,
        meta.partition,
        meta.offset,
    )


ANOMALY_COLUMNS = (
    "anomaly_id", "kind", "subject_type", "subject_id", "window_start", "window_end",
    "observed", "expected", "score", "evidence_claim_ids", "detected_at", "topic",
    "kafka_partition", "kafka_offset",
)  # fmt: skip


def anomaly_row(a: Mapping[str, Any], meta: Meta, pii: PiiHasher) -> tuple[Any, ...]:
    return (
        a["anomaly_id"],
        a["kind"],
        a["subject_type"],
        a["subject_id"],
        epoch_seconds(a["window_start"]),
        epoch_seconds(a["window_end"]),
        float(a["observed"]),
        float(a["expected"]),
        float(a["score"]),
        list(a["evidence_claim_ids"]),
        epoch_seconds(a["detected_at"]),
        meta.topic,
        meta.partition,
        meta.offset,
    )


DEAD_LETTER_COLUMNS = (
    "topic", "source_partition", "source_offset", "origin", "error_kind", "field", "reason",
    "record_key", "value", "value_size", "value_sha256", "received_at", "kafka_topic",
    "kafka_partition", "kafka_offset",
)  # fmt: skip

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_AFTER_GOT = re.compile(r"\bgot\b.*$", re.DOTALL)


def redact_reason(reason: str, field: str | None) -> str:
    """A refusal reason safe to store: values quoted in it are dropped when personal data."""
    mentions = field in PII_FIELDS if field else False
    mentions = mentions or any(name in reason for name in PII_FIELDS)
    if not mentions:
        return reason
    text = _AFTER_GOT.sub("got <redacted>", reason)
    kept = [name for name in PII_FIELDS if name in text]
    text = _QUOTED.sub(lambda m: m.group(0) if m.group(0)[1:-1] in kept else "'<redacted>'", text)
    return text + " [values redacted: personal data]"


def dead_letter_row(
    d: Mapping[str, Any], meta: Meta, pii: PiiHasher, readable: Callable[[str, bytes], Any]
) -> tuple[Any, ...]:
    """A dead letter the worker published; ``readable(topic, value)`` → dict or None."""
    value: bytes = d["value"] or b""
    record = readable(d["topic"], value)
    return (
        d["topic"],
        d["partition"],
        d["offset"],
        "worker",
        d["error_kind"],
        _s(d.get("field")),
        redact_reason(str(d["reason"]), d.get("field")),
        _key_text(d.get("key")),
        to_json(pii.redact(record)) if isinstance(record, Mapping) else "",
        # A long value travels as a prefix with the whole record's size and hash.
        d.get("value_size") if d.get("value_size") is not None else len(value),
        d.get("value_sha256") or hashlib.sha256(value).hexdigest(),
        epoch_seconds(d["received_at"]),
        meta.topic,
        meta.partition,
        meta.offset,
    )


def rejected_row(
    meta: Meta,
    value: bytes | None,
    reason: str,
    content: str,
    field: str = "",
    kind: str = REJECTED,
) -> tuple[Any, ...]:
    """A dead_letter row for a record the sink could not land (``content``: PII-free JSON)."""
    raw = value or b""
    return (
        meta.topic,
        meta.partition,
        meta.offset,
        "sink",
        kind,
        field,
        reason[:4000],
        _key_text(meta.key),
        content,
        len(raw),
        hashlib.sha256(raw).hexdigest(),
        max(0, meta.timestamp_ms // 1000),
        meta.topic,
        meta.partition,
        meta.offset,
    )


def row_json(columns: Sequence[str], row: Sequence[Any]) -> str:
    """A built row as JSON (for dead letters of rows ClickHouse refused)."""
    return to_json(dict(zip(columns, row, strict=True)))


def _key_text(key: Any) -> str:
    if key is None:
        return ""
    if isinstance(key, bytes | bytearray | memoryview):
        return bytes(key).decode("utf-8", "replace")
    return str(key)


EVENTS = TableSpec("events", EVENT_COLUMNS, event_row, "occurred_at")
CUSTOMER_PROFILE = TableSpec("customer_profile", PROFILE_COLUMNS, profile_row, None)
SLA_BREACH = TableSpec("sla_breach", SLA_COLUMNS, sla_row, "started_at")
SLA_OUTCOME = TableSpec("sla_outcome", OUTCOME_COLUMNS, sla_row, "started_at")
CLAIM_ANOMALY = TableSpec("claim_anomaly", ANOMALY_COLUMNS, anomaly_row, "detected_at")


def _built_elsewhere(d: Mapping[str, Any], meta: Meta, pii: PiiHasher) -> tuple[Any, ...]:
    raise TypeError("dead_letter rows come from dead_letter_row() or rejected_row()")


DEAD_LETTER = TableSpec("dead_letter", DEAD_LETTER_COLUMNS, _built_elsewhere, "received_at")
TABLES: tuple[TableSpec, ...] = (
    EVENTS, CUSTOMER_PROFILE, SLA_BREACH, SLA_OUTCOME, CLAIM_ANOMALY, DEAD_LETTER
)  # fmt: skip
