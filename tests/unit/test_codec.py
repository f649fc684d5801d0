"""The event contracts: every event type encodes and decodes in Avro and JSON, invalid events
are refused with the field named, and the wire format is the Avro spec's.

tests/integration/test_codec_kafka.py sends every event type through the real broker.
"""

from __future__ import annotations

import io
import json
import random
import re
from collections import Counter
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint as fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form
from support.event_samples import (
    DOMAIN_FIELDS,
    T0,
    input_samples,
    output_samples,
    sample,
)

from schemas import (
    ALL_TOPICS,
    CLAIMS,
    CUSTOMER_PROFILE,
    INPUT_TOPICS,
    MALFORMED,
    SALES,
    SCHEMA_INVALID,
    SERVICING,
    UNDERWRITING,
    UNKNOWN_EVENT_TYPE,
    UNKNOWN_SCHEMA,
    Codec,
    EventValidationError,
    default_registry,
    rabin_fingerprint,
    schema_fingerprint,
    to_jsonable,
)
from schemas.fingerprint import read_header

CODEC = Codec()


def test_samples_cover_every_event_type_of_every_input_schema() -> None:
    for topic in INPUT_TOPICS:
        declared = set(CODEC.schema(topic).event_types)
        assert declared == set(DOMAIN_FIELDS[topic]), topic
    assert {t for t, _ in output_samples()} >= set(ALL_TOPICS) - set(INPUT_TOPICS)


def test_fingerprint_is_crc64_avro_as_specified() -> None:
    # Avro specification test vectors (share/test/data/schema-tests.txt)
    assert rabin_fingerprint(b'"null"') == 7195948357588979594
    for topic in ALL_TOPICS:
        schema = CODEC.schema(topic)
        assert schema.fingerprint.to_bytes(8, "little").hex() == fastavro_fingerprint(
            to_parsing_canonical_form(schema.parsed), "CRC-64-AVRO"
        )
        assert schema.header == b"\xc3\x01" + schema.fingerprint.to_bytes(8, "little")


def test_single_object_encoding_is_header_plus_plain_avro() -> None:
    """A consumer with only the .avsc file and fastavro can read our bytes, and vice versa."""
    for topic, event in input_samples() + output_samples():
        schema = CODEC.schema(topic)
        data = CODEC.encode(topic, event)
        assert data[:10] == schema.header
        assert read_header(data) == schema.fingerprint
        plain = schemaless_reader(io.BytesIO(data[10:]), schema.parsed, None)
        assert plain == CODEC.validate(topic, event)
        buf = io.BytesIO()
        schemaless_writer(buf, schema.parsed, CODEC.validate(topic, event))
        assert data[10:] == buf.getvalue(), f"compiled encoder differs from fastavro on {topic}"


def test_compiled_encoder_and_decoder_match_fastavro_on_generated_events() -> None:
    from streams.simulator import GeneratorConfig, generate_events

    seen = 0
    for ev in generate_events(GeneratorConfig(customers=300, days=10, seed=7)):
        if ev.value is None:
            continue
        schema = CODEC.schema(ev.topic)
        buf = io.BytesIO()
        schemaless_writer(buf, schema.parsed, ev.value)
        data = schema.encode_unchecked(ev.value)
        assert data[10:] == buf.getvalue(), ev.value
        expected = schemaless_reader(io.BytesIO(data[10:]), schema.parsed, None)
        assert schema.decoder is not None
        assert schema.decoder(data, 10) == (expected, len(data))
        seen += 1
    assert seen > 500
    for topic, event in output_samples():
        schema = CODEC.schema(topic)
        data = CODEC.encode(topic, event)
        expected = schemaless_reader(io.BytesIO(data[10:]), schema.parsed, None)
        assert schema.decoder is not None
        assert schema.decoder(data, 10) == (expected, len(data))


def test_damaged_records_are_refused_never_crash() -> None:
    """Random damage to valid records: either a clean refusal or (rarely) a valid event."""
    rng = random.Random(2026)
    kinds: Counter[str] = Counter()
    for topic, event in input_samples() + output_samples():
        good = CODEC.encode(topic, event)
        for _ in range(150):
            data = bytearray(good)
            action = rng.randrange(3)
            if action == 0:
                for _ in range(rng.randint(1, 3)):
                    i = rng.randrange(10, len(data))
                    data[i] = rng.randrange(256)
            elif action == 1:
                del data[rng.randrange(10, len(data)) :]
            else:
                data[rng.randrange(10, len(data)) : rng.randrange(10, len(data))] = rng.randbytes(4)
            try:
                decoded = CODEC.decode(topic, bytes(data))
            except EventValidationError as exc:
                kinds[exc.kind] += 1
            else:
                assert set(decoded) == set(CODEC.schema(topic).field_names)
                kinds["accepted"] += 1
    assert kinds[MALFORMED] > 500


def test_json_and_avro_decode_to_the_same_event() -> None:
    for topic, event in input_samples():
        from_avro = CODEC.decode(topic, CODEC.encode(topic, event))
        from_json = CODEC.decode(topic, CODEC.encode_json(topic, event))
        assert from_avro == from_json
        # what a source writes by hand: epoch milliseconds and numbers as text
        hand = to_jsonable(CODEC.validate(topic, event))
        hand["occurred_at"] = int(event["occurred_at"].timestamp() * 1000)
        assert CODEC.decode(topic, json.dumps(hand).encode()) == from_avro


def test_timestamps_accept_iso_with_offset_and_epoch_millis() -> None:
    base = dict(input_samples()[0][1])
    for raw, expected in [
        ("2026-02-03T09:30:15.123Z", T0),
        ("2026-02-03T17:30:15.123+08:00", T0),
        ("2026-02-03T09:30:15.123456Z", T0),  # truncated to milliseconds
        (1770111015123, T0),
    ]:
        event = to_jsonable(CODEC.validate(SALES, base))
        event["occurred_at"] = raw
        decoded = CODEC.decode(SALES, json.dumps(event).encode())
        assert decoded["occurred_at"] == expected
        assert decoded["occurred_at"].tzinfo is not None
    aware = T0.astimezone(timezone(timedelta(hours=8)))
    assert CODEC.validate(SALES, {**base, "occurred_at": aware})["occurred_at"] == T0


INVALID = [
    # (topic, change, field, words in the problem, kind)
    (CLAIMS, {"claimed_amount": "lots"}, "claimed_amount", "not a decimal", SCHEMA_INVALID),
    (
        CLAIMS,
        {"claimed_amount": Decimal("10.005")},
        "claimed_amount",
        "decimal places",
        SCHEMA_INVALID,
    ),
    (
        CLAIMS,
        {"claimed_amount": Decimal("-5")},
        "claimed_amount",
        "below the minimum",
        SCHEMA_INVALID,
    ),
    (CLAIMS, {"claimed_amount": "1e30"}, "claimed_amount", "precision of 18", SCHEMA_INVALID),
    (
        CLAIMS,
        {"claim_type": None},
        "claim_type",
        "required for event_type 'claim_reported'",
        SCHEMA_INVALID,
    ),
    (
        CLAIMS,
        {"event_type": "claim_teleported"},
        "event_type",
        "unknown event type",
        UNKNOWN_EVENT_TYPE,
    ),
    (CLAIMS, {"customer_id": ""}, "customer_id", "must not be empty", SCHEMA_INVALID),
    (CLAIMS, {"customer_id": None}, "customer_id", "must not be null", SCHEMA_INVALID),
    (
        CLAIMS,
        {"occurred_at": "2026-02-03T09:30:15"},
        "occurred_at",
        "no UTC offset",
        SCHEMA_INVALID,
    ),
    (CLAIMS, {"occurred_at": "yesterday"}, "occurred_at", "not an ISO-8601", SCHEMA_INVALID),
    (CLAIMS, {"product_line": "pets"}, "product_line", "not one of", SCHEMA_INVALID),
    (
        CLAIMS,
        {"incident_date": "01/02/2026"},
        "incident_date",
        "not an ISO-8601 date",
        SCHEMA_INVALID,
    ),
    (CLAIMS, {"claimed_amout": 5}, "claimed_amout", "unknown field", SCHEMA_INVALID),
    (
        CLAIMS,
        {"requested_documents": ["invoice", 7]},
        "requested_documents[1]",
        "expected a string",
        SCHEMA_INVALID,
    ),
    (SERVICING, {"nps_score": 11}, "nps_score", "above the maximum", SCHEMA_INVALID),
    (SERVICING, {"nps_score": 8.5}, "nps_score", "expected an integer", SCHEMA_INVALID),
    (SERVICING, {"case_kind": "complaint"}, "case_kind", "must be 'survey'", SCHEMA_INVALID),
    (
        SALES,
        {"id_number": None},
        "id_number",
        "required for event_type 'policy_issued'",
        SCHEMA_INVALID,
    ),
    (SALES, {"event_id": 42}, "event_id", "expected a string", SCHEMA_INVALID),
    (UNDERWRITING, {"decision": "maybe"}, "decision", "not one of", SCHEMA_INVALID),
]


@pytest.mark.parametrize(("topic", "change", "field", "problem", "kind"), INVALID)
def test_invalid_events_are_refused_naming_field_and_problem(
    topic: str, change: dict[str, Any], field: str, problem: str, kind: str
) -> None:
    event_type = {
        CLAIMS: "claim_reported",
        SERVICING: "survey_answered",
        SALES: "policy_issued",
        UNDERWRITING: "application_decided",
    }[topic]
    event = {**sample(topic, event_type), **change}
    for attempt in (
        lambda: CODEC.encode(topic, event),
        lambda: CODEC.encode_json(topic, event),
        lambda: CODEC.decode(topic, json.dumps(to_jsonable(event)).encode()),
    ):
        with pytest.raises(EventValidationError) as info:
            attempt()
        err = info.value
        assert err.field == field
        assert problem in err.problem
        assert err.kind == kind
        assert err.topic == topic
        assert f"field '{field}'" in str(err) and problem in str(err)


def test_unchecked_encode_still_names_the_field() -> None:
    event = {**sample(CLAIMS, "claim_reported"), "claimed_amount": "x"}
    with pytest.raises(EventValidationError) as info:
        CODEC.encode(CLAIMS, event, validate=False)
    assert info.value.field == "claimed_amount"


@pytest.mark.parametrize(
    ("data", "kind", "problem"),
    [
        (b"", MALFORMED, "neither Avro"),
        (b"hello", MALFORMED, "neither Avro"),
        (b"\xc3\x01\x00", MALFORMED, "truncated single-object header"),
        (b'{"event_id": "\xff"}', MALFORMED, "not valid UTF-8"),
        (b"{not json", MALFORMED, "not valid JSON"),
        (b'{"x": NaN}', MALFORMED, "not valid JSON"),
        (b"\xc3\x01" + bytes(8) + b"\x02", UNKNOWN_SCHEMA, "unknown writer schema"),
    ],
)
def test_malformed_bytes_are_refused_by_kind(data: bytes, kind: str, problem: str) -> None:
    with pytest.raises(EventValidationError) as info:
        CODEC.decode(CLAIMS, data)
    assert info.value.kind == kind
    assert info.value.field == "$"
    assert problem in info.value.problem


def test_avro_damage_is_detected() -> None:
    good = CODEC.encode(CLAIMS, sample(CLAIMS, "claim_reported"))
    with pytest.raises(EventValidationError) as info:
        CODEC.decode(CLAIMS, good[:-4])
    assert info.value.kind == MALFORMED
    with pytest.raises(EventValidationError) as info:
        CODEC.decode(CLAIMS, good + b"\x00\x00")
    assert info.value.kind == MALFORMED and "left over" in info.value.problem
    # a record of another topic on this topic is caught by its fingerprint
    sales = CODEC.encode(SALES, sample(SALES))
    with pytest.raises(EventValidationError) as info:
        CODEC.decode(CLAIMS, sales)
    assert info.value.kind == UNKNOWN_SCHEMA and SALES in info.value.problem
    # Avro-encodable but against the contract: unknown type, empty required id
    unknown = CODEC.encode(
        CLAIMS, {**sample(CLAIMS, "claim_closed"), "event_type": "claim_escalated"}, validate=False
    )
    with pytest.raises(EventValidationError) as info:
        CODEC.decode(CLAIMS, unknown)
    assert info.value.kind == UNKNOWN_EVENT_TYPE
    assert CODEC.decode(CLAIMS, unknown, validate=False)["event_type"] == "claim_escalated"


def test_every_schema_file_is_a_known_topic_and_documented() -> None:
    registry = default_registry()
    assert set(registry.topics()) == set(ALL_TOPICS)
    for topic in ALL_TOPICS:
        schema = registry.current(topic).schema
        assert schema["doc"], topic
        names = [f["name"] for f in schema["fields"]]
        if topic in INPUT_TOPICS:
            assert names[:5] == ["event_id", "event_type", "customer_id", "occurred_at", "source"]
            for rule in schema["event_types"].values():
                assert set(rule["required"]) <= set(names)

    def field_names(schema: Any) -> set[str]:
        names: set[str] = set()
        if isinstance(schema, dict):
            for f in schema.get("fields", ()):
                names.add(f["name"])
                names |= field_names(f["type"])
        elif isinstance(schema, list):
            for branch in schema:
                names |= field_names(branch)
        return names

    profile_fields = field_names(registry.current(CUSTOMER_PROFILE).schema)
    assert "person_key" in profile_fields
    for personal in ("customer_name", "name", "phone", "id_number"):
        assert personal not in profile_fields, "the profile never carries personal data in clear"


# -- bounded strings and safe identifiers ----------------------------------------------------

ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}$"
ID_FIELDS = {
    "event_id",
    "customer_id",
    "source",
    "quote_id",
    "policy_id",
    "application_id",
    "product_code",
    "agent_id",
    "claim_id",
    "provider_id",
    "case_id",
    "related_case_id",
}
#: Attributes that are contract metadata, not part of the Avro schema proper.
CONTRACT_ATTRS = ("minLength", "maxLength", "pattern", "maxItems", "minimum", "maximum", "doc")


def _refused_everywhere(
    topic: str, event: dict[str, Any], *, avro: bool = True
) -> list[EventValidationError]:
    """The refusals of ``event`` by the producer check, the JSON decoder and the Avro decoder."""
    attempts = [
        lambda: CODEC.validate(topic, event),
        lambda: CODEC.decode(topic, json.dumps(to_jsonable(event)).encode()),
    ]
    if avro:
        data = CODEC.encode(topic, event, validate=False)  # a source that does not check
        attempts.append(lambda: CODEC.decode(topic, data))
    errors = []
    for attempt in attempts:
        with pytest.raises(EventValidationError) as info:
            attempt()
        errors.append(info.value)
    return errors


def _accepted_everywhere(topic: str, event: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        CODEC.validate(topic, event),
        CODEC.decode(topic, json.dumps(to_jsonable(event)).encode()),
        CODEC.decode(topic, CODEC.encode(topic, event, validate=False)),
    ]


def _strip_contract(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strip_contract(s) for s in schema]
    if isinstance(schema, dict):
        return {k: _strip_contract(v) for k, v in schema.items() if k not in CONTRACT_ATTRS}
    return schema


def test_input_schemas_bound_every_string_and_ids_without_changing_fingerprints() -> None:
    registry = default_registry()
    for topic in INPUT_TOPICS:
        current = registry.current(topic)
        assert schema_fingerprint(_strip_contract(current.schema)) == current.fingerprint
        for f in current.schema["fields"]:
            branches = f["type"] if isinstance(f["type"], list) else [f["type"]]
            for branch in branches:
                kind = branch if isinstance(branch, str) else branch["type"]
                if kind == "string":
                    assert isinstance(f.get("maxLength"), int), (topic, f["name"])
                elif kind == "array":
                    assert isinstance(branch.get("maxItems"), int), (topic, f["name"])
                    assert isinstance(branch["items"].get("maxLength"), int), (topic, f["name"])
            if f["name"] in ID_FIELDS:
                assert (f.get("maxLength"), f.get("pattern")) == (128, ID_PATTERN), f["name"]
            elif "pattern" in f:
                pytest.fail(f"{topic}.{f['name']} has a pattern but is not a documented id")


LONG_VALUES = [
    # (topic, event type, field, value, documented maximum)
    (CLAIMS, "claim_reported", "customer_id", "C" * 129, 128),
    (CLAIMS, "claim_reported", "event_id", "e" * 129, 128),
    (CLAIMS, "claim_reported", "provider_id", "HOSP-" + "7" * 124, 128),
    (CLAIMS, "claim_reported", "event_type", "claim_" + "x" * 59, 64),
    (CLAIMS, "claim_rejected", "rejection_reason", "not covered " * 167, 2000),
    (SALES, "policy_issued", "customer_name", "Li " * 86, 256),
    (SALES, "policy_lapsed", "reason", "x" * 100_000, 2000),
    (UNDERWRITING, "application_decided", "exclusion", "diabetes; " * 201, 2000),
    (SERVICING, "inquiry_opened", "category", "c" * 65, 64),
]


@pytest.mark.parametrize(("topic", "event_type", "field", "value", "limit"), LONG_VALUES)
def test_overlong_strings_are_refused_naming_the_field(
    topic: str, event_type: str, field: str, value: str, limit: int
) -> None:
    assert len(value) > limit
    event = {**sample(topic, event_type), field: value}
    for err in _refused_everywhere(topic, event):
        assert (err.field, err.kind, err.topic) == (field, SCHEMA_INVALID, topic)
        assert f"{len(value)} characters, longer than the maximum of {limit}" in err.problem
        assert value[:20] not in str(err) and len(str(err)) < 200, "never echoes the value"
    if field != "event_type":  # refused, not truncated: at the maximum it is accepted whole
        at_limit = {**event, field: value[:limit]}
        for decoded in _accepted_everywhere(topic, at_limit):
            assert decoded[field] == value[:limit]


BAD_IDS = [
    # (value, words in the problem)
    ("C00\x0042", "control character (U+0000)"),
    ("C0000042\x1b[2J", "control character (U+001B)"),
    ("C0000042\x7f", "control character (U+007F)"),
    ("C0000042\x85", "control character (U+0085)"),
    ("C0000\u202e24", "bidirectional control character (U+202E)"),
    ("C0000042\u200f", "bidirectional control character (U+200F)"),
    ("C0000042\u2066", "bidirectional control character (U+2066)"),
    ("C0000042\U0010ffff", "does not match the pattern"),
    ("C0000042\ue000", "does not match the pattern"),
    ("C0000042\ufffe", "does not match the pattern"),
    ("C0000042\n", "does not match the pattern"),
    ("C0000042\t", "does not match the pattern"),
    (" C0000042", "does not match the pattern"),
    ("C0000042 ", "does not match the pattern"),
    ("C 0000042", "does not match the pattern"),
    ("-C0000042", "does not match the pattern"),
    ("\uff230000042", "does not match the pattern"),  # fullwidth C
]


@pytest.mark.parametrize("field", ["customer_id", "event_id"])
@pytest.mark.parametrize(("value", "problem"), BAD_IDS)
def test_ids_must_match_the_id_pattern(field: str, value: str, problem: str) -> None:
    event = {**sample(CLAIMS, "claim_reported"), field: value}
    for err in _refused_everywhere(CLAIMS, event):
        assert (err.field, err.kind) == (field, SCHEMA_INVALID)
        assert problem in err.problem
        assert str(err).isprintable(), "the refusal is safe to log"


def test_lone_surrogates_are_refused_from_json() -> None:
    """JSON escapes can carry a lone surrogate (Avro's UTF-8 cannot): refused, never passed on."""
    for field, event_type in (
        ("customer_id", "claim_reported"),
        ("rejection_reason", "claim_rejected"),
    ):
        event = {**sample(CLAIMS, event_type), field: "C00\ud83d42"}
        for err in _refused_everywhere(CLAIMS, event, avro=False):
            assert (err.field, err.kind) == (field, SCHEMA_INVALID)
            assert "lone surrogate (U+D83D)" in err.problem


def test_documented_id_shapes_are_accepted() -> None:
    ids = [
        "C0000042",
        "P000001234",
        "6b1f2c8e-3a4d-4e5f-a6b7-c8d9e0f1a2b3",
        "HOSP-0007",
        "claims.core",
        "urn:crm:case/2026+0001@sh",
        "a" * 128,
    ]
    for value in ids:
        assert re.fullmatch(ID_PATTERN, value)
        event = {**sample(CLAIMS, "claim_reported"), "customer_id": value, "claim_id": value}
        for decoded in _accepted_everywhere(CLAIMS, event):
            assert decoded["customer_id"] == decoded["claim_id"] == value


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not covered\x00", "control character (U+0000)"),
        ("red \x1b[31mALERT", "control character (U+001B)"),
        ("\x9b2J", "control character (U+009B)"),
        ("\u202edesrever", "bidirectional control character (U+202E)"),
        ("a\u2067b\u2069", "bidirectional control character (U+2067)"),
    ],
)
def test_free_text_refuses_control_and_bidi_characters(text: str, problem: str) -> None:
    event = {**sample(CLAIMS, "claim_rejected"), "rejection_reason": text}
    for err in _refused_everywhere(CLAIMS, event):
        assert (err.field, err.kind) == ("rejection_reason", SCHEMA_INVALID)
        assert problem in err.problem
        assert str(err).isprintable()


def test_free_text_keeps_tabs_newlines_and_every_script() -> None:
    text = "等待期内出险\uff0c不予赔付。\nSee clause 4.2\tof the schedule.\r\nÜnïcödé — ok 👍"
    event = {**sample(CLAIMS, "claim_rejected"), "rejection_reason": text}
    for decoded in _accepted_everywhere(CLAIMS, event):
        assert decoded["rejection_reason"] == text
    named = {**sample(SALES, "policy_issued"), "customer_name": "欧阳 娜娜 O'Neil-Smith"}
    for decoded in _accepted_everywhere(SALES, named):
        assert decoded["customer_name"] == named["customer_name"]


def test_arrays_are_bounded_in_items_and_item_length() -> None:
    base = sample(CLAIMS, "documents_requested")
    too_many = {**base, "requested_documents": [f"doc_{i}" for i in range(51)]}
    for err in _refused_everywhere(CLAIMS, too_many):
        assert (err.field, err.kind) == ("requested_documents", SCHEMA_INVALID)
        assert "51 items, more than the maximum of 50" in err.problem
    long_item = {**base, "requested_documents": ["invoice", "id_copy", "x" * 257]}
    for err in _refused_everywhere(CLAIMS, long_item):
        assert err.field == "requested_documents[2]"
        assert "257 characters, longer than the maximum of 256" in err.problem
    hostile_item = {**base, "requested_documents": ["invoice", "id\u202ecopy"]}
    for err in _refused_everywhere(CLAIMS, hostile_item):
        assert err.field == "requested_documents[1]"
        assert "U+202E" in err.problem
    most = {**base, "requested_documents": [f"{i:03d}" + "d" * 253 for i in range(50)]}
    for decoded in _accepted_everywhere(CLAIMS, most):
        assert decoded["requested_documents"] == most["requested_documents"]


def test_a_generator_run_decodes_entirely_within_the_bounds() -> None:
    from streams.simulator import GeneratorConfig, generate

    events, _ = generate(GeneratorConfig(customers=300, days=10, seed=11, json_share=0.2))
    patterns = {
        topic: {
            f["name"]: re.compile(f["pattern"])
            for f in CODEC.schema(topic).schema["fields"]
            if "pattern" in f
        }
        for topic in INPUT_TOPICS
    }
    decoded = Counter[str]()
    for ev in events:
        if ev.raw is not None:  # a deliberately bad record
            continue
        event = CODEC.decode(ev.topic, ev.encode(CODEC))
        for name, pattern in patterns[ev.topic].items():
            assert event[name] is None or pattern.fullmatch(event[name]), (name, event[name])
        decoded[ev.encoding] += 1
    assert decoded["avro"] > 500 and decoded["json"] > 100
