"""The sink's shortcuts give exactly what the long way gives: rows straight from Avro bytes,
the events' JSON payload, the keyed hash of personal data, the garbage collector's setting.

tests/integration/test_sink_landing.py lands records through the whole sink.
"""

from __future__ import annotations

import gc
import hmac
import random
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from support.event_samples import input_samples, output_samples

from schemas import INPUT_TOPICS, Codec, EventValidationError, to_jsonable
from schemas.binary import compile_decoder
from sinks.clickhouse.columns import (
    Column,
    Meta,
    PiiHasher,
    Table,
    _json_decimal,
    flat_json,
    to_json,
    typed_fields,
)
from sinks.clickhouse.routes import build_routes
from sinks.clickhouse.sink import _Collector
from streams.pii import pii_hash, pii_hasher

CODEC = Codec()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _as_numbers(value: Any) -> Any:
    """A decoded value with timestamps as epoch ms and dates as epoch days, at any depth."""
    if isinstance(value, dict):
        return {k: _as_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_numbers(v) for v in value]
    if isinstance(value, datetime):
        return (value - EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, date):
        return (value - EPOCH.date()).days
    return value


def test_wire_time_decoder_reads_the_numbers_written() -> None:
    for topic, event in output_samples() + input_samples():
        schema = CODEC.schema(topic)
        data = CODEC.encode(topic, event)
        record, end = compile_decoder(schema.schema, wire_times=True)(data, 10)
        assert end == len(data)
        assert record == _as_numbers(CODEC.decode(topic, data, validate=False))


@pytest.mark.parametrize(
    ("ms", "readable"),
    [(-62_135_596_800_000, True), (253_402_300_799_999, True), (253_402_300_800_000, False)],
)
def test_wire_time_decoder_refuses_what_a_datetime_cannot_hold(ms: int, readable: bool) -> None:
    topic, event = output_samples()[0]
    schema = CODEC.schema(topic)
    data = CODEC.encode(topic, {**event, "first_seen_at": ms}, validate=False)
    wire = compile_decoder(schema.schema, wire_times=True)
    if readable:
        assert wire(data, 10)[0]["first_seen_at"] == ms
        CODEC.decode(topic, data)
    else:
        with pytest.raises(ValueError):
            wire(data, 10)
        with pytest.raises(EventValidationError):
            CODEC.decode(topic, data)


def _damaged(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    action = rng.randrange(3)
    if action == 0:
        out[rng.randrange(10, len(out))] = rng.randrange(256)
    elif action == 1:
        del out[rng.randrange(10, len(out)) :]
    else:
        out[rng.randrange(10, len(out)) : rng.randrange(10, len(out))] = rng.randbytes(4)
    return bytes(out)


def test_output_rows_from_bytes_equal_the_codec_and_row_builder() -> None:
    """Whatever the bytes, the shortcut either makes the very row the long way makes or
    declines (None) and leaves the verdict to the codec."""
    routes = build_routes("", PiiHasher("k"), lambda topic, value: None)
    rng = random.Random(12)
    made = declined = 0
    for topic, event in output_samples():
        route = routes[topic]
        assert route.wire_row is not None
        good = CODEC.encode(topic, event)
        candidates = [good, good + b"\x00", CODEC.encode_json(topic, event), b"", b"\xc3\x01"]
        candidates += [_damaged(good, rng) for _ in range(300)]
        for n, data in enumerate(candidates):
            meta = Meta(topic, 1, n, 1_700_000_000_000, b"key")
            row = route.wire_row(data, meta)
            try:
                expected = route.row(CODEC.decode(topic, data, validate=False), meta)
            except Exception:
                assert row is None, data
                declined += 1
                continue
            if row is None:  # not the current schema's Avro: the codec's business
                assert data[:10] != CODEC.schema(topic).header or len(data) < 10
                declined += 1
            else:
                assert row == expected
                made += 1
    assert made > 100 and declined > 100


def test_flat_json_writes_the_same_text_as_to_json() -> None:
    rng = random.Random(7)
    chars = ["a", "Z", "0", " ", '"', "\\", "\n", "\t", "\x00", "\x7f", "é", "中", "\u2028", "😀"]

    def text() -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randint(0, 6)))

    makers: list[Callable[[], Any]] = [
        text,
        lambda: EPOCH + timedelta(milliseconds=rng.randint(-(10**12), 10**13)),
        lambda: Decimal(rng.randint(-(10**20), 10**20)).scaleb(-rng.randint(0, 4)),
        lambda: date(1970, 1, 1) + timedelta(days=rng.randint(-10_000, 100_000)),
        lambda: None,
        lambda: rng.random() * 10 ** rng.randint(-5, 20),
        lambda: [text(), text()],
        lambda: datetime(2026, 2, 3, 9, 30, tzinfo=timezone(timedelta(hours=8))),
        lambda: datetime(2026, 2, 3, 9, 30, 15, 123456),  # naive: taken as UTC
    ]
    for _ in range(5_000):
        record = {text(): rng.choice(makers)() for _ in range(rng.randint(0, 6))}
        expected = to_json(record)
        assert flat_json(record, tuple(record)) == expected
        assert flat_json(record, ()) == expected


@pytest.mark.parametrize(
    "value",
    ["0.10", "-0.00", "3210.55", "1000000.00", "123456789012345", "1234567890123456.7",
     "1E-400", "1E+400", "1e-320", "NaN", "Infinity", "0.1000000000000000055511151231257827"],
)  # fmt: skip
def test_decimals_become_floats_exactly_when_to_jsonable_says_so(value: str) -> None:
    d = Decimal(value)
    assert repr(_json_decimal(d)) == repr(to_jsonable(d))


def test_random_decimals_become_what_to_jsonable_makes_of_them() -> None:
    rng = random.Random(3)
    for _ in range(50_000):
        d = Decimal(rng.randint(-(10 ** rng.randint(0, 20)), 10**20)).scaleb(-rng.randint(0, 6))
        assert repr(_json_decimal(d)) == repr(to_jsonable(d)), d


def test_typed_fields_name_the_timestamps_decimals_and_dates_of_a_schema() -> None:
    for topic in INPUT_TOPICS:
        schema = CODEC.schema(topic).schema
        fields = typed_fields(schema)
        assert "occurred_at" in fields and "event_id" not in fields
    sales = typed_fields(CODEC.schema("insurance.sales.v1").schema)
    assert {"premium", "policy_start_date"} <= set(sales)


def test_the_keyed_hash_is_hmac_sha256_of_the_text() -> None:
    rng = random.Random(5)
    for size in [*range(0, 130), 1000]:
        key = rng.randbytes(size)
        for value in ("", None, "x", 13800138000, "李娜", 0, "a" * 300):
            digest = hmac.digest(key, str(value).encode(), "sha256").hex()
            want = "" if value in ("", None) else digest
            assert pii_hash(key, value) == want
            assert pii_hasher(key)(value) == want
    assert PiiHasher("k").hash("x") == pii_hash(b"k", "x")


def test_a_column_has_exactly_one_source() -> None:
    with pytest.raises(TypeError):
        Column("c")
    with pytest.raises(TypeError):
        Column("c", lambda r, m: 1, extract_for=lambda t: lambda r, m: 1)
    table = Table("t", (Column("c", extract_for=lambda t: lambda r, m: t.logical),))
    with pytest.raises(TypeError):
        table.builder()


def test_the_collector_threshold_is_raised_while_any_sink_runs() -> None:
    before = gc.get_threshold()
    collector = _Collector()
    inside = threading.Event()
    leave = threading.Event()

    def other_sink() -> None:
        with collector.fewer_collections(50_000):
            inside.set()
            leave.wait(10)

    with collector.fewer_collections(50_000):
        assert gc.get_threshold()[0] == max(50_000, before[0])
        thread = threading.Thread(target=other_sink)
        thread.start()
        inside.wait(10)
    assert gc.get_threshold()[0] == max(50_000, before[0])  # the other one still runs
    leave.set()
    thread.join(10)
    assert gc.get_threshold() == before
