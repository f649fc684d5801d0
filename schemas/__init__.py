"""The hub's event contracts: Avro schemas per topic and a codec, with no Kafka dependency.

Source systems can vendor this package to produce valid records; the hub uses it to read them.

    from schemas import Codec, CLAIMS
    codec = Codec()
    data = codec.encode(CLAIMS, event)      # Avro single-object bytes, validated
    event = codec.decode(CLAIMS, data)      # also accepts the JSON form
"""

from __future__ import annotations

from .codec import Codec, format_timestamp, to_jsonable
from .errors import (
    ERROR_KINDS,
    MALFORMED,
    SCHEMA_INVALID,
    UNKNOWN_EVENT_TYPE,
    UNKNOWN_SCHEMA,
    EventValidationError,
)
from .fingerprint import rabin_fingerprint, schema_fingerprint, single_object_header
from .registry import SCHEMA_DIR, SchemaRegistry, TopicSchema, default_registry

# Logical topic names: public contract. Deployments may put a prefix in front of them.
SALES = "insurance.sales.v1"
UNDERWRITING = "insurance.underwriting.v1"
CLAIMS = "insurance.claims.v1"
SERVICING = "insurance.servicing.v1"
CUSTOMER_PROFILE = "insurance.customer-profile.v1"
SLA_BREACH = "insurance.sla-breach.v1"
SLA_OUTCOME = "insurance.sla-outcome.v1"
CLAIM_ANOMALY = "insurance.claim-anomaly.v1"
DEAD_LETTER = "insurance.dead-letter.v1"

#: Keyed by customer_id and co-partitioned (same partition count).
INPUT_TOPICS: tuple[str, ...] = (SALES, UNDERWRITING, CLAIMS, SERVICING)
OUTPUT_TOPICS: tuple[str, ...] = (
    CUSTOMER_PROFILE,
    SLA_BREACH,
    SLA_OUTCOME,
    CLAIM_ANOMALY,
    DEAD_LETTER,
)
ALL_TOPICS: tuple[str, ...] = INPUT_TOPICS + OUTPUT_TOPICS

__all__ = [
    "ALL_TOPICS",
    "CLAIMS",
    "CLAIM_ANOMALY",
    "CUSTOMER_PROFILE",
    "DEAD_LETTER",
    "ERROR_KINDS",
    "INPUT_TOPICS",
    "MALFORMED",
    "OUTPUT_TOPICS",
    "SALES",
    "SCHEMA_DIR",
    "SCHEMA_INVALID",
    "SERVICING",
    "SLA_BREACH",
    "SLA_OUTCOME",
    "UNDERWRITING",
    "UNKNOWN_EVENT_TYPE",
    "UNKNOWN_SCHEMA",
    "Codec",
    "EventValidationError",
    "SchemaRegistry",
    "TopicSchema",
    "default_registry",
    "format_timestamp",
    "rabin_fingerprint",
    "schema_fingerprint",
    "single_object_header",
    "to_jsonable",
]
