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
from .topics import (
    ANOMALY_TOPIC,
    BREACH_TOPIC,
    CLAIMS_TOPIC,
    DEAD_LETTER_TOPIC,
    INPUTS,
    OUTCOME_TOPIC,
    OUTPUTS,
    PROFILE_TOPIC,
    SALES_TOPIC,
    SERVICING_TOPIC,
    TOPICS,
    UNDERWRITING_TOPIC,
    Topic,
)

# Logical topic names (public contract), from the registry in schemas/topics.py.
SALES = SALES_TOPIC.logical
UNDERWRITING = UNDERWRITING_TOPIC.logical
CLAIMS = CLAIMS_TOPIC.logical
SERVICING = SERVICING_TOPIC.logical
CUSTOMER_PROFILE = PROFILE_TOPIC.logical
SLA_BREACH = BREACH_TOPIC.logical
SLA_OUTCOME = OUTCOME_TOPIC.logical
CLAIM_ANOMALY = ANOMALY_TOPIC.logical
DEAD_LETTER = DEAD_LETTER_TOPIC.logical

#: Keyed by customer_id and co-partitioned (same partition count).
INPUT_TOPICS: tuple[str, ...] = tuple(t.logical for t in INPUTS)
OUTPUT_TOPICS: tuple[str, ...] = tuple(t.logical for t in OUTPUTS)
ALL_TOPICS: tuple[str, ...] = tuple(t.logical for t in TOPICS)

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
    "Topic",
    "TopicSchema",
    "default_registry",
    "format_timestamp",
    "rabin_fingerprint",
    "schema_fingerprint",
    "single_object_header",
    "to_jsonable",
]
