"""The acceptance test the worker and the sink share (pure unit tests, no Kafka)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from support.scenario import DAY, event

from schemas import Codec
from schemas.topics import DEAD_LETTER_TOPIC
from streams.domain.sla.rules import load_rules
from streams.ingest import (
    DEAD_LETTER_VALUE_BYTES,
    MAX_RECORD_BYTES,
    Rejection,
    TimeBounds,
    accept,
    bounded_dead_letter,
    dead_letter_record,
)

CODEC = Codec()
BOUNDS = TimeBounds.of(load_rules())
NOW = 1_780_000_000_000


def _claim(t_ms: int = NOW - DAY, **fields: object) -> tuple[str, dict]:
    return event("claims", "claim_reported", "C1", t_ms, claim_id="K1", policy_id="P1", **fields)


def _verdict(topic: str, e: dict, key: bytes | None = b"C1") -> dict | Rejection:
    return accept(CODEC, topic, key, CODEC.encode(topic, e), NOW, BOUNDS)


def test_a_valid_event_is_accepted_in_canonical_form() -> None:
    topic, e = _claim()
    got = _verdict(topic, e)
    assert isinstance(got, dict)
    assert got["event_id"] == e["event_id"]
    assert got["occurred_at"] == e["occurred_at"]


def test_bounds_come_from_the_rules_file() -> None:
    assert BOUNDS.max_future_skew_ms == 3_600_000
    assert BOUNDS.min_event_ms == int(dt.datetime(1990, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("key", "why"),
    [(None, "no key"), (b"C2", "is not customer_id"), (b"", "is not customer_id")],
)
def test_null_or_other_keys_are_refused(key: bytes | None, why: str) -> None:
    topic, e = _claim()
    got = _verdict(topic, e, key=key)
    assert isinstance(got, Rejection)
    assert (got.kind, got.field) == ("key_mismatch", "customer_id")
    assert why in got.reason


def test_far_future_and_implausible_times_are_refused() -> None:
    topic, e = _claim(NOW + 2 * 3_600_000)
    got = _verdict(topic, e)
    assert isinstance(got, Rejection) and got.kind == "future_timestamp"
    assert got.field == "occurred_at"
    # Within the skew: a source whose clock runs a little ahead is accepted.
    assert isinstance(_verdict(*_claim(NOW + 30 * 60_000)), dict)
    for year in (2099, 9999):
        topic, e = _claim()
        e["occurred_at"] = dt.datetime(year, 12, 31, tzinfo=dt.UTC)
        got = _verdict(topic, e)
        assert isinstance(got, Rejection) and got.kind == "future_timestamp"
    got = _verdict(*_claim(12345))  # 1970: epoch milliseconds that meant something else
    assert isinstance(got, Rejection) and got.kind == "implausible_timestamp"


def test_json_epoch_milliseconds_are_checked_like_any_time() -> None:
    topic, e = _claim()
    body = {k: v for k, v in e.items() if k != "occurred_at"}
    data = CODEC.encode_json(topic, {**body, "occurred_at": NOW - DAY})
    assert isinstance(accept(CODEC, topic, b"C1", data, NOW, BOUNDS), dict)
    raw = json.loads(CODEC.encode_json(topic, e))
    raw["occurred_at"] = 12345
    got = accept(CODEC, topic, b"C1", json.dumps(raw).encode(), NOW, BOUNDS)
    assert isinstance(got, Rejection) and got.kind == "implausible_timestamp"


def test_the_no_date_sentinel_reads_as_absent_and_absurd_dates_are_refused() -> None:
    topic, e = event(
        "sales",
        "policy_issued",
        "C1",
        NOW - DAY,
        policy_id="P1",
        renewal_due_date=dt.date(9999, 12, 31),
    )
    got = _verdict(topic, e)
    assert isinstance(got, dict) and got["renewal_due_date"] is None
    _, e2 = event("sales", "policy_issued", "C1", NOW - DAY, policy_id="P1")
    e2["policy_start_date"] = dt.date(2500, 1, 1)
    got = _verdict(topic, e2)
    assert isinstance(got, Rejection)
    assert (got.kind, got.field) == ("implausible_timestamp", "policy_start_date")


def test_undecodable_and_oversized_records_keep_the_codecs_kind() -> None:
    topic, _ = _claim()
    got = accept(CODEC, topic, b"C1", b"\x00garbage", NOW, BOUNDS)
    assert isinstance(got, Rejection) and got.kind == "malformed"
    got = accept(CODEC, topic, b"C1", b"{" + b" " * MAX_RECORD_BYTES + b"}", NOW, BOUNDS)
    assert isinstance(got, Rejection) and got.kind == "too_large"


def test_dead_letters_keep_a_bounded_prefix_with_size_and_hash() -> None:
    big = bytes(range(256)) * 8192  # 2 MiB
    value, key, size, sha = bounded_dead_letter(big, b"k" * 5000)
    assert value == big[:DEAD_LETTER_VALUE_BYTES]
    assert key is not None and len(key) == 1024
    assert (size, sha) == (len(big), hashlib.sha256(big).hexdigest())
    assert bounded_dead_letter(None, None) == (b"", None, 0, hashlib.sha256(b"").hexdigest())


def test_a_dead_letter_record_names_the_input_and_says_when_its_value_was_cut() -> None:
    why = Rejection("too_large", None, "x" * 3000)
    big = b"v" * (DEAD_LETTER_VALUE_BYTES + 10)
    letter = dead_letter_record("in.claims", 3, 41, b"C1", big, why, NOW)
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("in.claims", 3, 41)
    assert (letter["key"], letter["error_kind"], letter["field"]) == (b"C1", "too_large", None)
    assert letter["value"] == big[:DEAD_LETTER_VALUE_BYTES]
    assert letter["value_size"] == len(big) and letter["received_at"] == NOW
    assert letter["value_sha256"] == hashlib.sha256(big).hexdigest()
    kept = f"first {DEAD_LETTER_VALUE_BYTES} of {len(big)} bytes kept"
    cut = f" [value: {kept}; whole on the input topic]"
    assert letter["reason"] == "x" * 2000 + cut
    small = dead_letter_record("in.claims", 0, 0, None, b"{}", Rejection("schema", "f", "bad"), NOW)
    assert (small["reason"], small["value"], small["key"]) == ("bad", b"{}", None)
    CODEC.encode(DEAD_LETTER_TOPIC.logical, letter, validate=False)  # what the worker sends
