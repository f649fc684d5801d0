"""Malformed input records for the fuzz test: each with the dead-letter kind it must get.

Built from the valid events of a generator run, so every category looks like what a real
source would send by mistake. Records that would change an output if they were wrongly
accepted get event ids of their own, so a wrong verdict cannot hide behind deduplication.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from typing import Any

from schemas import Codec, to_jsonable
from streams.simulator.model import GeneratedEvent

FREE_TEXT = {
    "insurance.claims.v1": "rejection_reason",
    "insurance.underwriting.v1": "exclusion",
    "insurance.sales.v1": "reason",
}
#: Input records above this are refused unread (streams/ingest.py's limit is 1 MiB).
OVERSIZED = 2 * 1024 * 1024


@dataclass(frozen=True)
class Malformed:
    topic: str  # logical input topic
    key: bytes | None
    value: bytes | None
    kind: str  # the error_kind its dead letter must carry
    category: str


def _fresh(ev: GeneratedEvent, n: int) -> dict[str, Any]:
    assert ev.value is not None
    value = dict(ev.value)
    value["event_id"] = f"fuzz-{n:06d}"
    return value


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(to_jsonable(value)).encode()


def _avro(codec: Codec, topic: str, value: dict[str, Any]) -> bytes:
    return codec.encode(topic, value, validate=False)


def malformed_records(valid: list[GeneratedEvent], count: int, seed: int) -> list[Malformed]:
    """`count` malformed records across every category, in a seeded random order."""
    rng = random.Random(seed)
    codec = Codec()
    events = [e for e in valid if e.value is not None and e.raw is None]
    other_topic = {
        "insurance.sales.v1": "insurance.claims.v1",
        "insurance.claims.v1": "insurance.servicing.v1",
        "insurance.servicing.v1": "insurance.underwriting.v1",
        "insurance.underwriting.v1": "insurance.sales.v1",
    }
    year_2099 = int(dt.datetime(2099, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)

    def make(n: int, category: str) -> Malformed:
        ev = rng.choice(events)
        topic, key = ev.topic, ev.key.encode()
        value = _fresh(ev, n)
        if category == "random_bytes":
            return Malformed(topic, key, rng.randbytes(rng.randint(1, 300)), "malformed", category)
        if category == "truncated_avro":
            data = _avro(codec, topic, value)
            cut = rng.randint(11, len(data) - 1)
            return Malformed(topic, key, data[:cut], "malformed", category)
        if category == "empty_value":
            return Malformed(topic, key, b"", "malformed", category)
        if category == "tombstone":
            return Malformed(topic, key, None, "malformed", category)
        if category == "invalid_utf8":
            return Malformed(topic, key, b'{"event_id": "\xff\xfe"}', "malformed", category)
        if category == "wrong_topic_avro":
            return Malformed(other_topic[topic], key, _avro(codec, topic, value), "unknown_schema",
                             category)  # fmt: skip
        if category == "wrong_type":
            value["occurred_at"] = "yesterday"
            return Malformed(topic, key, _json(value), "schema_invalid", category)
        if category == "missing_field":
            del value["event_type"]
            return Malformed(topic, key, _json(value), "schema_invalid", category)
        if category == "extra_field":
            value["loyalty_tier"] = "gold"
            return Malformed(topic, key, _json(value), "schema_invalid", category)
        if category == "unknown_event_type":
            value["event_type"] = "policy_teleported"
            return Malformed(topic, key, _json(value), "unknown_event_type",
                             category)  # fmt: skip
        if category == "control_chars":
            bad = rng.choice(["\x00", "\u202e", "\U0010ffff", "\x07", "\u2066"])
            field = rng.choice(["customer_id", "event_id"])
            value[field] = f"{value[field][:4]}{bad}{value[field][4:]}"
            return Malformed(topic, value["customer_id"].encode(), _json(value), "schema_invalid",
                             category)  # fmt: skip
        if category == "null_key":
            return Malformed(topic, None, _avro(codec, topic, value), "key_mismatch", category)
        if category == "mismatched_key":
            return Malformed(topic, b"C-someone-else", _avro(codec, topic, value), "key_mismatch",
                             category)  # fmt: skip
        if category == "far_future":
            value["occurred_at"] = year_2099 + rng.randint(0, 10**12)
            return Malformed(topic, key, _avro(codec, topic, value), "future_timestamp", category)
        if category == "epoch_1970":
            value["occurred_at"] = rng.randint(0, 10**8)
            return Malformed(topic, key, _json(value), "implausible_timestamp",
                             category)  # fmt: skip
        if category == "oversized_string":  # 0.2-0.45 MB in a free-text field (or source)
            value[FREE_TEXT.get(topic, "source")] = "x" * rng.randint(200_000, 450_000)
            return Malformed(topic, key, _avro(codec, topic, value), "schema_invalid", category)
        if category == "negative_amount":
            claims = [e for e in events if e.topic == "insurance.claims.v1" and e.value
                      and e.value.get("claimed_amount") is not None]  # fmt: skip
            ev = rng.choice(claims)
            value = _fresh(ev, n)
            value["claimed_amount"] = "-100.00"
            return Malformed(ev.topic, ev.key.encode(), _json(value),
                             "schema_invalid", category)  # fmt: skip
        if category == "oversized_record":
            return Malformed(topic, key, b"{" + b" " * OVERSIZED + b"}", "too_large", category)
        raise ValueError(category)

    common = [
        "random_bytes", "truncated_avro", "empty_value", "tombstone", "invalid_utf8",
        "wrong_topic_avro", "wrong_type", "missing_field", "extra_field", "unknown_event_type",
        "control_chars", "null_key", "mismatched_key", "far_future", "epoch_1970",
        "negative_amount",
    ]  # fmt: skip
    # Heavy ones (hundreds of KB to MB each) are few, the rest share the count evenly.
    plan = ["oversized_record"] * 3 + ["oversized_string"] * 10
    plan += [common[i % len(common)] for i in range(count - len(plan))]
    rng.shuffle(plan)
    return [make(n, category) for n, category in enumerate(plan)]
