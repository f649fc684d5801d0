"""Schema evolution without a registry service: adding an optional field with a default breaks
neither old consumers nor old producers (fastavro schema resolution, through the real broker),
and the failure modes are explicit."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.clickhouse import hub_topics, isolated

from schemas import (
    CLAIMS,
    SCHEMA_DIR,
    UNKNOWN_SCHEMA,
    Codec,
    EventValidationError,
    SchemaRegistry,
    default_registry,
)
from streams.ops.publish import EventPublisher, consume
from streams.settings import Settings

V1: dict[str, Any] = default_registry().current(CLAIMS).schema
#: v2 adds an optional field with a default: a compatible change in both directions
V2: dict[str, Any] = copy.deepcopy(V1)
V2["fields"].append(
    {"name": "currency", "type": "string", "default": "CNY", "doc": "ISO 4217 code."}
)
#: an incompatible change: a new field without a default
V2_BREAKING: dict[str, Any] = copy.deepcopy(V1)
V2_BREAKING["fields"].append({"name": "adjuster_id", "type": "string"})

EVENT: dict[str, Any] = {
    "event_id": "evt-evolution-1",
    "event_type": "claim_reported",
    "customer_id": "C0000001",
    "occurred_at": datetime(2026, 2, 3, 9, 30, tzinfo=UTC),
    "source": "claims.core",
    "claim_id": "CL000000001",
    "policy_id": "P000000001",
    "product_line": "motor",
    "claim_type": "glass",
    "incident_date": "2026-02-01",
    "claimed_amount": Decimal("1800.00"),
    "provider_id": "GAR-0003",
}


def _codec(current: dict[str, Any], *known: dict[str, Any]) -> Codec:
    """A consumer/producer whose code is at ``current`` and that has ``known`` files too."""
    registry = SchemaRegistry()
    for schema in known:
        registry.register(CLAIMS, schema, current=False)
    registry.register(CLAIMS, current, current=True)
    return Codec(registry)


@pytest.fixture(scope="module")
def hub(settings: Settings) -> Iterator[Settings]:
    """Settings with a private topic prefix; the topics are deleted afterwards."""
    with hub_topics(isolated(settings, "test-evolution")) as s:
        yield s


def _through_kafka(
    hub: Settings, producer: Codec, consumer: Codec, event: dict[str, Any]
) -> dict[str, Any]:
    """Publish with one codec, read the topic back with another."""
    marker = uuid.uuid4().hex
    with EventPublisher(hub, codec=producer) as pub:
        pub.publish(CLAIMS, {**event, "event_id": marker})
    for rec in consume(hub, [CLAIMS], codec=consumer, idle_timeout_s=20):
        if rec.error is None and rec.value is not None and rec.value["event_id"] == marker:
            return rec.value
        if rec.error is not None and rec.raw is not None and marker.encode() in rec.raw:
            raise rec.error
    raise AssertionError("record not found")


def test_new_producer_old_consumer(hub: Settings) -> None:
    """A source upgraded to v2 keeps the hub (still on v1) working: the new field is skipped."""
    new_producer = _codec(V2, V1)
    old_consumer = _codec(V1, V2)  # v1 code, with the v2 file deployed next to it
    decoded = _through_kafka(hub, new_producer, old_consumer, {**EVENT, "currency": "HKD"})
    assert "currency" not in decoded
    assert decoded == {**_codec(V1).validate(CLAIMS, EVENT), "event_id": decoded["event_id"]}


def test_old_producer_new_consumer(hub: Settings) -> None:
    """The hub upgraded to v2 still reads v1 records: the new field gets its default."""
    old_producer = _codec(V1)
    new_consumer = _codec(V2, V1)
    decoded = _through_kafka(hub, old_producer, new_consumer, EVENT)
    assert decoded["currency"] == "CNY"
    assert decoded["claimed_amount"] == Decimal("1800.00")


def test_same_version_needs_no_resolution(hub: Settings) -> None:
    codec = _codec(V2, V1)
    assert _through_kafka(hub, codec, codec, {**EVENT, "currency": "EUR"})["currency"] == "EUR"


def test_fingerprints_identify_the_writer_revision() -> None:
    new, old = _codec(V2, V1), _codec(V1)
    assert new.encode(CLAIMS, EVENT)[:10] != old.encode(CLAIMS, EVENT)[:10]
    assert new.schema(CLAIMS).fingerprint != old.schema(CLAIMS).fingerprint
    # docs and custom attributes are not part of the fingerprint (Parsing Canonical Form)
    documented = copy.deepcopy(V1)
    documented["doc"] = "changed wording"
    documented["fields"][0]["doc"] = "also changed"
    assert _codec(documented).schema(CLAIMS).fingerprint == old.schema(CLAIMS).fingerprint


def test_consumer_without_the_writer_file_refuses_clearly() -> None:
    """Deploy schema files to consumers before producers use them: otherwise a clear error."""
    data = _codec(V2, V1).encode(CLAIMS, EVENT)
    with pytest.raises(EventValidationError) as info:
        _codec(V1).decode(CLAIMS, data)
    assert info.value.kind == UNKNOWN_SCHEMA
    assert "unknown writer schema fingerprint" in info.value.problem


def test_adding_a_field_without_default_is_caught() -> None:
    """Old records cannot be read as a schema whose new field has no default."""
    data = _codec(V1).encode(CLAIMS, EVENT)
    with pytest.raises(EventValidationError) as info:
        _codec(V2_BREAKING, V1).decode(CLAIMS, data)
    assert info.value.kind == UNKNOWN_SCHEMA
    assert "adjuster_id" in info.value.problem


def test_json_from_an_old_source_gets_the_default() -> None:
    old_json = _codec(V1).encode_json(CLAIMS, EVENT)
    assert _codec(V2, V1).decode(CLAIMS, old_json)["currency"] == "CNY"


def test_registry_loads_revisions_from_files(tmp_path: Path) -> None:
    """Layout: <topic>.avsc is current, revisions/<topic>/*.avsc are earlier ones."""
    for path in SCHEMA_DIR.glob("*.avsc"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / f"{CLAIMS}.avsc").write_text(json.dumps(V2))
    (tmp_path / "revisions" / CLAIMS).mkdir(parents=True)
    (tmp_path / "revisions" / CLAIMS / "1.avsc").write_text(json.dumps(V1))
    registry = SchemaRegistry.load(tmp_path)
    assert [r.current for r in registry.revisions(CLAIMS)] == [False, True]
    codec = Codec(registry)
    assert codec.decode(CLAIMS, _codec(V1).encode(CLAIMS, EVENT))["currency"] == "CNY"
