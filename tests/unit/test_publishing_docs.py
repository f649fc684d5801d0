"""The "Publishing events" docs stay true: their JSON examples are valid events, and the
fastavro-only recipe produces exactly the codec's bytes."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas import CLAIMS, INPUT_TOPICS, SCHEMA_DIR, Codec
from streams.settings import REPO_ROOT


def _section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("## Publishing events")
    nxt = readme.find("\n## ", start + 1)
    return readme[start : nxt if nxt > 0 else None]


def test_json_examples_are_valid_events_one_per_domain() -> None:
    blocks = re.findall(r"```json\n(.*?)```", _section(), flags=re.S)
    codec = Codec()
    topics = []
    for block in blocks:
        event = json.loads(block)
        topic = next(t for t in INPUT_TOPICS if event["event_type"] in codec.schema(t).event_types)
        decoded = codec.decode(topic, block.encode())
        assert decoded["event_id"] == event["event_id"]
        topics.append(topic)
    assert sorted(topics) == sorted(INPUT_TOPICS)


def test_fastavro_recipe_matches_the_codec() -> None:
    event = {
        "event_id": "9d8c7b6a-5f4e-4d3c-a2b1-a0f9e8d7c6b5",
        "event_type": "claim_paid",
        "customer_id": "C0000042",
        "occurred_at": datetime(2026, 2, 3, 9, 30, tzinfo=UTC),
        "source": "claims.core",
        "claim_id": "CL000000501",
        "policy_id": "P000001234",
        "paid_amount": Decimal("1100.00"),
    }
    schema = fastavro.parse_schema(json.loads((SCHEMA_DIR / f"{CLAIMS}.avsc").read_text()))
    header = b"\xc3\x01" + bytes.fromhex(
        fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")
    )
    buf = io.BytesIO()
    buf.write(header)
    fastavro.schemaless_writer(buf, schema, event)
    assert buf.getvalue() == Codec().encode(CLAIMS, event)
