"""Decoded hub records → ClickHouse rows: each landing table's columns, declared once.

A :class:`Table` lists its :class:`Column` s in INSERT order, each with the function reading
its value from a decoded record (the codec's canonical form: aware datetimes, dates,
Decimals) and the record's Kafka coordinates, so the INSERT's column list and the row
builder cannot drift apart; code that needs one value of a built row asks
``table.index(name)``. Rows are plain tuples so the sink can buffer them and hand columns to
clickhouse-driver's columnar insert: :meth:`Table.builder` compiles one function per table
and topic that calls the extractors in order (no per-row dict, no loop).

Personal data (``customer_name``, ``phone``, ``id_number`` on sales events) is never stored in
clear, in a column or inside ``payload``: each value becomes its keyed hash
(:func:`streams.pii.pii_hash`, as the worker derives ``person_key``), so analysts can count
and link a person's records without being able to read them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple

from schemas import default_registry, format_timestamp, to_jsonable
from schemas.topics import (
    ANOMALY_TOPIC,
    BREACH_TOPIC,
    DEAD_LETTER_TOPIC,
    INPUTS,
    OUTCOME_TOPIC,
    PROFILE_TOPIC,
    Topic,
)
from streams.pii import PII_FIELDS, pii_hasher

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_MIN, _DATE_MAX = date(1970, 1, 1), date(2149, 6, 6)  # ClickHouse Date (UInt16 days)

#: The error_kind of a row ClickHouse (or its type system, applied by the driver) refused.
REJECTED = "clickhouse_rejected"


class RowError(ValueError):
    """A record that cannot become a row of its table; the message names the column."""

    def __init__(self, column: str, problem: str) -> None:
        self.column = column
        super().__init__(f"column {column}: {problem}")


class Meta(NamedTuple):
    """Where a record was read: its Kafka coordinates, timestamp and key.

    A named tuple: one is made per record read, and a tuple of plain values costs a fraction
    of a dataclass to build and is no work for the garbage collector while it is buffered.
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None = None


class PiiHasher:
    """The keyed hash of personal data (:func:`streams.pii.pii_hash`) under the hub's key."""

    def __init__(self, key: str | bytes) -> None:
        self.hash: Callable[[Any], str] = pii_hasher(key.encode() if isinstance(key, str) else key)

    def hash_fields(self, record: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, str]]:
        """(record without personal fields but with ``<field>_hmac`` ones, {field: hash}).

        Top level only: the input contracts carry personal data as top-level fields.
        """
        if record.keys().isdisjoint(PII_FIELDS):
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


def _json_decimal(value: Decimal) -> float | str:
    """``to_jsonable`` of a Decimal: a float when it holds the value exactly, else text.

    A float holds every decimal of up to 15 significant digits in the normal range
    (DBL_DIG), which spares the round trip through ``repr`` for every amount the contracts
    allow.
    """
    if value.is_finite() and -300 < value.adjusted() < 300 and len(value.as_tuple()[1]) <= 15:
        return float(value)
    result: float | str = to_jsonable(value)
    return result


_JSON_READY: dict[type, Callable[[Any], Any]] = {
    datetime: format_timestamp,
    Decimal: _json_decimal,
    date: date.isoformat,
}


def flat_json(record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """:func:`to_json` of ``record``, the same text, faster when ``fields`` names the
    top-level fields that may hold a timestamp, decimal or date (see :func:`typed_fields`).

    Those are converted in a copy before the encoder runs, so it does not call back into
    Python for them; any other value it cannot write still goes through its ``default``.
    """
    ready = _JSON_READY
    out = dict(record)
    for k in fields:
        v = out.get(k)
        convert = ready.get(v.__class__)
        if convert is not None:
            out[k] = convert(v)
    return _ENCODE(out)


def typed_fields(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields of a record schema whose values decode to timestamps, decimals or dates
    (through a nullable union too): what :func:`flat_json` converts."""
    out = []
    for f in schema["fields"]:
        kind = f["type"]
        branches = kind if isinstance(kind, list) else [kind]
        if any(isinstance(b, dict) and b.get("logicalType") for b in branches):
            out.append(f["name"])
    return tuple(out)


def redacted_json(pii: PiiHasher, record: Any) -> str:
    """A record as JSON with its personal data hashed ("" for anything but a mapping)."""
    return to_json(pii.redact(record)) if isinstance(record, Mapping) else ""


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


def _flag(value: Any) -> int:
    return int(bool(value))


def _key_text(key: Any) -> str:
    if key is None:
        return ""
    if isinstance(key, bytes | bytearray | memoryview):
        return bytes(key).decode("utf-8", "replace")
    return str(key)


# -- columns and tables ----------------------------------------------------------------------

#: (prepared record, its coordinates) → a column value.
Extract = Callable[[Any, Meta], Any]
#: (decoded record, its coordinates) → a row tuple in the table's column order.
RowBuilder = Callable[[Any, Meta], tuple[Any, ...]]


#: What an :class:`Inline` expression may call besides reading ``r`` and ``m``.
_INLINE_NAMES: dict[str, Any] = {
    "str": str,
    "list": list,
    "float": float,
    "_dec": _dec,
    "_date": _date,
    "_flag": _flag,
    "_int": _int,
    "_s": _s,
    "_seconds": epoch_seconds,
    "_opt_seconds": _opt_seconds,
}


class Inline:
    """An extractor the row builder writes out as an expression over ``r`` (the prepared
    record) and ``m`` (its :class:`Meta`) instead of calling it: reads and conversions at
    no extra function call's cost. Built only by the helpers below, from literal names."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._call: Extract = eval(f"lambda r, m: {expression}", dict(_INLINE_NAMES))

    def __call__(self, r: Any, m: Meta) -> Any:
        return self._call(r, m)


@dataclass(frozen=True)
class Column:
    """A column of a landing table and where its value comes from: ``extract`` reads it
    from each record, ``of_topic`` gives the one value of every row of a topic, or
    ``extract_for`` gives a topic's extractor (one that depends on the topic's schema)."""

    name: str
    extract: Extract | None = None
    of_topic: Callable[[Topic], Any] | None = None
    extract_for: Callable[[Topic], Extract] | None = None

    def __post_init__(self) -> None:
        given = (self.extract, self.of_topic, self.extract_for)
        if sum(x is not None for x in given) != 1:
            raise TypeError(
                f"column {self.name}: give exactly one of extract, of_topic and extract_for"
            )


@dataclass(frozen=True)
class Table:
    """A landing table: its columns in INSERT order and the partition column, if any."""

    name: str
    columns: tuple[Column, ...]
    partition_column: str | None = None  # DateTime column whose month is the partition
    #: Whole-record work done once per row before the columns read it (hashing personal data).
    prepare: Callable[[Mapping[str, Any], PiiHasher], Any] | None = None

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def index(self, column: str) -> int:
        """Position of ``column`` in this table's rows."""
        return self.names.index(column)

    @property
    def partition_index(self) -> int | None:
        return None if self.partition_column is None else self.index(self.partition_column)

    def as_json(self, row: tuple[Any, ...]) -> str:
        """A built row as JSON (for dead letters of rows ClickHouse refused)."""
        return to_json(dict(zip(self.names, row, strict=True)))

    def builder(self, pii: PiiHasher | None = None, topic: Topic | None = None) -> RowBuilder:
        """The function building this table's rows of ``topic``'s records.

        Generated source, so a row costs at most one call per column: the tuple is written
        out with each extractor called (or, for an :class:`Inline` one, written) in place and
        each per-topic value as a constant.
        """
        namespace: dict[str, Any] = {**_INLINE_NAMES, "pii": pii, "prepare": self.prepare}
        items = []
        for i, column in enumerate(self.columns):
            needs_topic = column.of_topic is not None or column.extract_for is not None
            if needs_topic and topic is None:
                raise TypeError(f"{self.name}.{column.name} needs the topic")
            if column.of_topic is not None and topic is not None:
                namespace[f"x{i}"] = column.of_topic(topic)
                items.append(f"x{i}")
            elif column.extract_for is not None and topic is not None:
                namespace[f"x{i}"] = column.extract_for(topic)
                items.append(f"x{i}(r, m)")
            elif isinstance(column.extract, Inline):
                items.append(f"({column.extract.expression})")
            else:
                namespace[f"x{i}"] = column.extract
                items.append(f"x{i}(r, m)")
        if self.prepare is not None and pii is None:
            raise TypeError(f"{self.name} rows need the PII key")
        first = "    r = prepare(r, pii)\n" if self.prepare is not None else ""
        source = f"def row(r, m):\n{first}    return ({', '.join(items)},)\n"
        exec(compile(source, f"<row builder {self.name}>", "exec"), namespace)
        row: RowBuilder = namespace["row"]
        return row


def _field(name: str) -> Inline:
    """A field every record has, as is."""
    return Inline(f"r[{name!r}]")


def _get(name: str, default: str | None = None) -> Inline:
    """An optional field, as is (``default`` when absent)."""
    return Inline(f"r.get({name!r}, {default!r})")


def _text(name: str) -> Inline:
    """An optional field as a String column value ("" when absent or null)."""
    return Inline(f'("" if (v := r.get({name!r})) is None else str(v))')


def _path(*names: str, optional: bool = False) -> str:
    """The expression reading a (nested) field of ``r``; ``optional``: None when absent."""
    *parents, last = names
    head = "r" + "".join(f"[{n!r}]" for n in parents)
    return f"{head}.get({last!r})" if optional else f"{head}[{last!r}]"


def _read(*names: str, via: str = "", optional: bool = False) -> Inline:
    """A (nested) field, passed through ``via`` (a name of ``_INLINE_NAMES``) if given."""
    expression = _path(*names, optional=optional)
    return Inline(f"{via}({expression})" if via else expression)


def _decimal(name: str) -> Inline:
    return _read(name, via="_dec", optional=True)


def _seconds(name: str) -> Inline:
    return _read(name, via="_seconds")


def _payload(topic: Topic) -> Extract:
    """The whole event as JSON (personal fields already hashed by ``prepare``)."""
    fields = typed_fields(default_registry().current(topic.logical).schema)
    return lambda r, m: flat_json(r, fields)


def _kafka(topic_column: str) -> tuple[Column, ...]:
    """Where each row was read: the coordinates that make a redelivered copy recognisable."""
    return (
        Column(topic_column, Inline("m.topic")),
        Column("kafka_partition", Inline("m.partition")),
        Column("kafka_offset", Inline("m.offset")),
    )


def _without_pii(record: Mapping[str, Any], pii: PiiHasher) -> Mapping[str, Any]:
    """The event as landed: personal fields replaced by ``<field>_hmac`` (the hash columns
    read those; the input contracts refuse unknown fields, so none arrives already)."""
    return pii.hash_fields(record)[0]


(_EVENTS_TABLE,) = {t.table for t in INPUTS}  # every input topic lands in the one table

EVENTS = Table(
    _EVENTS_TABLE,
    (
        Column("event_id", _field("event_id")),
        Column("domain", of_topic=lambda t: t.domain),
        Column("event_type", _field("event_type")),
        Column("customer_id", _field("customer_id")),
        Column("occurred_at", _seconds("occurred_at")),
        Column("source", _text("source")),
        Column("policy_id", _text("policy_id")),
        Column("claim_id", _text("claim_id")),
        Column("case_id", _text("case_id")),
        Column("application_id", _text("application_id")),
        Column("quote_id", _text("quote_id")),
        Column("provider_id", _text("provider_id")),
        Column("product_line", _text("product_line")),
        Column("segment", _text("customer_segment")),
        Column("channel", _text("channel")),
        Column("category", _text("category")),
        Column("decision", _text("decision")),
        Column("nps_score", _get("nps_score")),
        Column("claimed_amount", _decimal("claimed_amount")),
        Column("paid_amount", _decimal("paid_amount")),
        Column("premium", _decimal("premium")),
        Column("person_key", _get("id_number_hmac", "")),
        Column("name_hmac", _get("customer_name_hmac", "")),
        Column("phone_hmac", _get("phone_hmac", "")),
        Column("payload", extract_for=_payload),
        *_kafka("topic"),
    ),
    partition_column="occurred_at",
    prepare=_without_pii,
)

CUSTOMER_PROFILE = Table(
    PROFILE_TOPIC.table,
    (
        Column("customer_id", _field("customer_id")),
        Column("version", _field("version")),
        Column("person_key", _text("person_key")),
        Column("segment", _text("segment")),
        Column("active_policies", _read("policies", "active_count")),
        Column("product_lines", _read("policies", "product_lines", via="list")),
        Column("total_annual_premium", _read("policies", "total_annual_premium", via="_dec")),
        Column("total_sum_assured", _read("policies", "total_sum_assured", via="_dec")),
        Column(
            "next_renewal_due",
            Inline(
                f"_date('next_renewal_due', {_path('policies', 'next_renewal_due', optional=True)})"
            ),
        ),
        Column(
            "latest_decision", _read("underwriting", "latest_decision", via="_s", optional=True)
        ),
        Column("rated", _read("underwriting", "rated", via="_flag")),
        Column("exclusion", _read("underwriting", "exclusion", via="_flag")),
        Column("pending_applications", _read("underwriting", "pending_applications")),
        Column("claims_total", _read("claims", "total")),
        Column("claims_open", _read("claims", "open")),
        Column("claims_paid_amount", _read("claims", "paid_amount", via="_dec")),
        Column(
            "last_claim_at", _read("claims", "last_claim_at", via="_opt_seconds", optional=True)
        ),
        Column("claims_30d", _read("claims", "count_30d")),
        Column("claims_90d", _read("claims", "count_90d")),
        Column("claims_365d", _read("claims", "count_365d")),
        Column("open_inquiries", _read("servicing", "open_inquiries")),
        Column("complaints_90d", _read("servicing", "complaints_90d")),
        Column("last_nps", _read("servicing", "last_nps", optional=True)),
        Column(
            "last_contact_at",
            _read("servicing", "last_contact_at", via="_opt_seconds", optional=True),
        ),
        Column("sla_breaches_90d", _field("sla_breaches_90d")),
        Column("anomaly_flags", _read("anomaly_flags", via="list")),
        Column("first_seen_at", _seconds("first_seen_at")),
        Column("last_event_at", _seconds("last_event_at")),
        *_kafka("topic"),
    ),
)


def _sla_table(topic: Topic, id_column: str) -> Table:
    """sla_breach and sla_outcome: the same obligation columns under their own id."""
    return Table(
        topic.table,
        (
            Column(id_column, _field(id_column)),
            Column("rule", _field("rule")),
            Column("status", _field("status")),
            Column("segment", _text("segment")),
            Column("customer_id", _field("customer_id")),
            Column("subject_id", _field("subject_id")),
            Column("started_at", _seconds("started_at")),
            Column("deadline_at", _seconds("deadline_at")),
            Column("detected_at", _seconds("detected_at")),
            Column("completed_at", _read("completed_at", via="_opt_seconds", optional=True)),
            Column("duration_seconds", _read("duration_seconds", via="_int", optional=True)),
            Column("limit_seconds", _read("limit_seconds", via="_int")),
            *_kafka("topic"),
        ),
        partition_column="started_at",
    )


SLA_BREACH = _sla_table(BREACH_TOPIC, "breach_id")
SLA_OUTCOME = _sla_table(OUTCOME_TOPIC, "outcome_id")

CLAIM_ANOMALY = Table(
    ANOMALY_TOPIC.table,
    (
        Column("anomaly_id", _field("anomaly_id")),
        Column("kind", _field("kind")),
        Column("subject_type", _field("subject_type")),
        Column("subject_id", _field("subject_id")),
        Column("window_start", _seconds("window_start")),
        Column("window_end", _seconds("window_end")),
        Column("observed", _read("observed", via="float")),
        Column("expected", _read("expected", via="float")),
        Column("score", _read("score", via="float")),
        Column("evidence_claim_ids", _read("evidence_claim_ids", via="list")),
        Column("detected_at", _seconds("detected_at")),
        *_kafka("topic"),
    ),
    partition_column="detected_at",
)

#: Rows from a *letter*: a dead letter the worker published, or one the sink makes, as a
#: mapping in the dead-letter contract's shape plus ``origin`` and ``content`` (see below).
DEAD_LETTER = Table(
    DEAD_LETTER_TOPIC.table,
    (
        Column("topic", _field("topic")),
        Column("source_partition", _field("partition")),
        Column("source_offset", _field("offset")),
        Column("origin", _field("origin")),
        Column("error_kind", _field("error_kind")),
        Column("field", _text("field")),
        Column("reason", _field("reason")),
        Column("record_key", lambda d, m: _key_text(d.get("key"))),
        Column("value", _field("content")),
        # A long value travels as a prefix with the whole record's size and hash.
        Column(
            "value_size",
            lambda d, m: len(d["value"]) if (n := d.get("value_size")) is None else n,
        ),
        Column(
            "value_sha256",
            lambda d, m: d.get("value_sha256") or hashlib.sha256(d["value"]).hexdigest(),
        ),
        Column("received_at", _seconds("received_at")),
        *_kafka("kafka_topic"),
    ),
    partition_column="received_at",
)
_letter_row = DEAD_LETTER.builder()

TABLES: tuple[Table, ...] = (
    EVENTS, CUSTOMER_PROFILE, SLA_BREACH, SLA_OUTCOME, CLAIM_ANOMALY, DEAD_LETTER
)  # fmt: skip
BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


# -- dead letters ----------------------------------------------------------------------------

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
    letter = {
        **d,
        "value": value,
        "origin": "worker",
        "reason": redact_reason(str(d["reason"]), d.get("field")),
        "content": redacted_json(pii, readable(d["topic"], value)),
    }
    return _letter_row(letter, meta)


def rejected_row(
    meta: Meta,
    value: bytes | None,
    reason: str,
    content: str,
    field: str = "",
    kind: str = REJECTED,
) -> tuple[Any, ...]:
    """A dead_letter row for a record the sink could not land (``content``: PII-free JSON)."""
    letter = {
        "topic": meta.topic,
        "partition": meta.partition,
        "offset": meta.offset,
        "origin": "sink",
        "error_kind": kind,
        "field": field,
        "reason": reason[:4000],
        "key": meta.key,
        "content": content,
        "value": value or b"",
        "received_at": max(0, meta.timestamp_ms),  # epoch ms
    }
    return _letter_row(letter, meta)
