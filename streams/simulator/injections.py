"""Deliberately bad records: duplicate and out-of-order deliveries of valid events, and
malformed records (bad bytes, schema-invalid events, unknown event types).

Duplicates and out-of-order deliveries are decided as events are handed out (for events in
the window); malformed records are planned at the start, each checked to be refused by the
codec as the kind of error the ground truth says.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from schemas import (
    CLAIMS,
    MALFORMED,
    SALES,
    SCHEMA_INVALID,
    SERVICING,
    UNDERWRITING,
    UNKNOWN_EVENT_TYPE,
    Codec,
    EventValidationError,
    to_jsonable,
)
from streams.units import MINUTE_MS, SECOND_MS

from .desk import Desk
from .engine import EMIT, Engine
from .records import Customer, GeneratedEvent
from .truth import MalformedInjection
from .world import World

_TOPICS = (SALES, UNDERWRITING, CLAIMS, SERVICING)
_UNKNOWN_TYPES = {
    SALES: "policy_teleported",
    UNDERWRITING: "application_fast_tracked_v2",
    CLAIMS: "claim_escalated",
    SERVICING: "inquiry_escalated",
}
#: the fields of a valid event of each topic (spoilt into a malformed record)
_VALID_FIELDS: dict[str, dict[str, Any]] = {
    SALES: {
        "event_type": "policy_lapsed",
        "source": "sales.policy-admin",
        "policy_id": "P999999999",
    },
    UNDERWRITING: {
        "event_type": "evidence_requested",
        "source": "underwriting.rules-engine",
        "application_id": "AP999999999",
        "evidence_type": "medical_report",
    },
    CLAIMS: {
        "event_type": "claim_accepted",
        "source": "claims.core",
        "claim_id": "CL999999999",
        "policy_id": "P999999999",
    },
    SERVICING: {
        "event_type": "inquiry_responded",
        "source": "servicing.crm",
        "case_id": "SV999999999",
        "case_kind": "inquiry",
    },
}
#: the field a schema-invalid Avro record of each topic leaves empty
_REQUIRED = {
    SALES: "policy_id",
    UNDERWRITING: "evidence_type",
    CLAIMS: "claim_id",
    SERVICING: "case_id",
}

#: (bytes, expected error kind, description, encoding) of one malformed record
Malformed = tuple[bytes, str, str, str]


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


class Injections(Desk):
    """Spoils delivery (duplicates, out of order) and plants malformed records."""

    def __init__(self, engine: Engine, world: World, codec: Codec) -> None:
        super().__init__(engine, world)
        self.codec = codec
        self._max_delay_ms = engine.cfg.max_out_of_order_s * SECOND_MS

    # -- delivery faults (for the ``duplicate_share`` and ``out_of_order_share`` of events) --

    def hold_back(self, t: int, ev: GeneratedEvent, marks: tuple[Any, ...]) -> None:
        """Deliver the event due at ``t`` out of order: a minute to ``max_out_of_order_s`` late."""
        delay = MINUTE_MS + int(self.rng.random() * max(0, self._max_delay_ms - MINUTE_MS))
        ev.injection = "out_of_order"
        self.engine.push(t + delay, EMIT, (ev, (("ooo", delay), *marks)))

    def duplicate(self, t: int, ev: GeneratedEvent) -> None:
        """Deliver the event handed out at ``t`` again, up to half an hour later."""
        delay = 500 + int(self.rng.random() * 30 * MINUTE_MS)
        dup = GeneratedEvent(ev.topic, ev.key, ev.time_ms, ev.value, None, ev.encoding, "duplicate")
        self.engine.push(t + delay, EMIT, (dup, (("dup", delay),)))

    # -- malformed records -------------------------------------------------------------

    def plan_malformed(self) -> None:
        cfg = self.cfg
        plan = (
            [("bad_bytes", i) for i in range(cfg.malformed_bad_bytes)]
            + [("schema_invalid", i) for i in range(cfg.malformed_schema_invalid)]
            + [("unknown_event_type", i) for i in range(cfg.malformed_unknown_type)]
        )
        for kind, i in plan:
            topic = _TOPICS[self.rng.randrange(4)]
            customer = self.choice(self.world.customers)
            t = self.uniform_ms(self.engine.start_ms, self.engine.until_ms)
            value = self._valid_value(topic, customer, t)
            if kind == "bad_bytes":
                raw, expected, description, encoding = self._bad_bytes(i, topic, value)
            elif kind == "schema_invalid":
                raw, expected, description, encoding = self._schema_invalid(i, topic, value)
            else:
                raw, expected, description, encoding = self._unknown_type(topic, value)
            self._check_refused(topic, raw, expected, description)
            injection = MalformedInjection(
                topic, kind, expected, customer.id, hashlib.sha256(raw).hexdigest(), description
            )
            ev = GeneratedEvent(topic, customer.id, t, None, raw, encoding, kind)
            self.engine.push(t, EMIT, (ev, (("malformed", injection),)))

    def _check_refused(self, topic: str, raw: bytes, expected: str, description: str) -> None:
        try:
            self.codec.decode(topic, raw)
        except EventValidationError as exc:
            if exc.kind != expected:
                raise AssertionError(
                    f"{description}: refused as {exc.kind}, not {expected}"
                ) from exc
        else:
            raise AssertionError(f"malformed record accepted: {description}")

    def _valid_value(self, topic: str, customer: Customer, t: int) -> dict[str, Any]:
        """A valid event of the topic, to spoil."""
        return {
            "event_id": self.engine.uuid(),
            "customer_id": customer.id,
            "occurred_at": t,
            **_VALID_FIELDS[topic],
        }

    def _bad_bytes(self, i: int, topic: str, value: dict[str, Any]) -> Malformed:
        """Bytes no codec reads: random, truncated Avro, JSON not in UTF-8, plain text."""
        rng = self.rng
        variant = i % 4
        if variant == 0:
            return b"\x00" + rng.randbytes(rng.randint(8, 64)), MALFORMED, "random bytes", "raw"
        if variant == 1:
            data = self.codec.encode(topic, value)
            return data[: max(11, len(data) // 2)], MALFORMED, "truncated Avro record", "raw"
        if variant == 2:
            return (
                b'{"event_id": "\xff\xfe", "event_type": "x"}',
                MALFORMED,
                "JSON that is not UTF-8",
                "raw",
            )
        return b"hello from a misconfigured producer", MALFORMED, "plain text", "raw"

    def _schema_invalid(self, i: int, topic: str, value: dict[str, Any]) -> Malformed:
        """Readable records that break the schema: bad types, a missing or empty field."""
        variant = i % 4
        if variant == 2:
            # Avro-encodable, but the event type's required field is null
            required = _REQUIRED[topic]
            if topic in (CLAIMS, SERVICING):
                value[required] = ""  # non-nullable id: empty string breaks minLength
            else:
                value[required] = None
            return (
                self.codec.encode(topic, value, validate=False),
                SCHEMA_INVALID,
                f"Avro with {required} missing",
                "raw",
            )
        js = to_jsonable(self.codec.validate(topic, value))
        if variant == 0:
            js["occurred_at"] = "yesterday"
            return _dumps(js), SCHEMA_INVALID, "JSON with an unparseable timestamp", "json"
        if variant == 1:
            del js["customer_id"]
            return _dumps(js), SCHEMA_INVALID, "JSON without customer_id", "json"
        js["event_id"] = 12345
        return _dumps(js), SCHEMA_INVALID, "JSON with a numeric event_id", "json"

    def _unknown_type(self, topic: str, value: dict[str, Any]) -> Malformed:
        """A well-formed record of an event type the topic's schema does not know."""
        value["event_type"] = _UNKNOWN_TYPES[topic]
        data = self.codec.encode(topic, value, validate=False)
        return data, UNKNOWN_EVENT_TYPE, f"unknown event type {value['event_type']}", "raw"
