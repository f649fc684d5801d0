"""The one error type every codec path raises, so callers can route bad records by kind."""

from __future__ import annotations

#: Kinds a consumer routes on (the dead-letter topic's ``error_kind``).
MALFORMED = "malformed"  # neither Avro single-object nor a JSON object; truncated; bad UTF-8
UNKNOWN_SCHEMA = "unknown_schema"  # Avro fingerprint not among the schema files we ship
SCHEMA_INVALID = "schema_invalid"  # a field is missing, of the wrong type or out of range
UNKNOWN_EVENT_TYPE = "unknown_event_type"  # well-formed, but event_type is not in the contract

ERROR_KINDS = (MALFORMED, UNKNOWN_SCHEMA, SCHEMA_INVALID, UNKNOWN_EVENT_TYPE)


class EventValidationError(ValueError):
    """An event refused by the contract: names the field and the problem.

    ``field`` is a dotted path (``policies.active_count``, ``evidence_claim_ids[2]``) or ``$``
    for the record as a whole (bytes that do not parse at all).
    """

    def __init__(
        self, field: str, problem: str, kind: str = SCHEMA_INVALID, topic: str | None = None
    ) -> None:
        self.field = field
        self.problem = problem
        self.kind = kind
        self.topic = topic
        where = f"{topic}: " if topic else ""
        super().__init__(f"{where}field '{field}': {problem}")

    def with_topic(self, topic: str) -> EventValidationError:
        """The same error, attributed to ``topic`` (for messages raised below the codec)."""
        return EventValidationError(self.field, self.problem, self.kind, topic)
