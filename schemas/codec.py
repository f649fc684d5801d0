"""Encode and decode the hub's records: Avro single-object encoding, or JSON from sources.

Wire forms a consumer accepts on every topic:

- Avro single-object encoding: ``C3 01`` + the writer schema's CRC-64-AVRO fingerprint
  (8 bytes, little-endian) + the Avro binary datum. The fingerprint picks the writer schema
  among the shipped files; fastavro resolves it against the reader's current schema, so a
  record written with an older or newer revision decodes (added fields get their default,
  removed ones are skipped).
- JSON: a UTF-8 object with the schema's field names (timestamps as ISO-8601 with offset or
  epoch milliseconds, dates as ``YYYY-MM-DD``, decimals as numbers or strings, bytes as
  base64), checked against the same schema.

Every refusal is an :class:`EventValidationError` with the field, the problem and a ``kind``
(malformed, unknown_schema, schema_invalid, unknown_event_type) to route dead letters by.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastavro import schemaless_reader

from .errors import MALFORMED, UNKNOWN_SCHEMA, EventValidationError
from .fingerprint import HEADER_SIZE, MAGIC, read_header
from .registry import SchemaRegistry, TopicSchema, default_registry

_WHITESPACE = b" \t\r\n"


class Codec:
    """Encoder and decoder for every topic of a :class:`SchemaRegistry`.

    Topics are logical names (``insurance.claims.v1``), without any deployment prefix.
    """

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry if registry is not None else default_registry()

    def schema(self, topic: str) -> TopicSchema:
        """The current schema of ``topic`` (KeyError for a topic without one)."""
        return self.registry.current(topic)

    # -- producing ---------------------------------------------------------------------

    def validate(
        self, topic: str, event: Mapping[str, Any], *, from_json: bool = False
    ) -> dict[str, Any]:
        """The canonical form of ``event``, or EventValidationError naming the field."""
        try:
            return self.schema(topic).validator.validate(event, from_json=from_json)
        except EventValidationError as exc:
            raise exc.with_topic(topic) from None

    def encode(self, topic: str, event: Mapping[str, Any], *, validate: bool = True) -> bytes:
        """Avro single-object bytes of ``event``.

        ``validate=False`` skips the contract check for trusted producers (the generator);
        a value the encoder cannot write is still refused, with the field named.
        """
        schema = self.schema(topic)
        if validate:
            event = self.validate(topic, event)
        try:
            return schema.encode_unchecked(event)
        except Exception as exc:
            self.validate(topic, event)  # names the field when the contract is broken
            raise EventValidationError("$", f"cannot encode: {exc}", topic=topic) from exc

    def encode_json(self, topic: str, event: Mapping[str, Any], *, validate: bool = True) -> bytes:
        """The JSON wire form of ``event`` (what a source without Avro may publish)."""
        if validate:
            event = self.validate(topic, event)
        return json.dumps(to_jsonable(event), separators=(",", ":"), ensure_ascii=False).encode()

    # -- consuming ---------------------------------------------------------------------

    def decode(self, topic: str, data: bytes | None, *, validate: bool = True) -> dict[str, Any]:
        """The event in canonical form, from Avro single-object or JSON bytes.

        ``validate`` re-checks contract rules Avro types cannot express (event type, fields
        required per type, ranges); JSON input is always checked, since parsing it is
        checking it.
        """
        reader = self.schema(topic)
        if data is None:
            raise EventValidationError("$", "record has no value (tombstone)", MALFORMED, topic)
        fingerprint = read_header(data)
        try:
            if fingerprint is not None:
                record = self._decode_avro(reader, fingerprint, data)
                if validate:
                    record = reader.validator.check_decoded(record)
                return record
            if data[:2] == MAGIC:
                raise EventValidationError(
                    "$", f"truncated single-object header ({len(data)} bytes)", MALFORMED
                )
            if data.lstrip(_WHITESPACE)[:1] == b"{":
                return reader.validator.validate(_parse_json(data), from_json=True)
            raise EventValidationError(
                "$",
                "neither Avro single-object encoding (C3 01 + fingerprint) nor a JSON object "
                f"(starts with {bytes(data[:4])!r})",
                MALFORMED,
            )
        except EventValidationError as exc:
            raise exc.with_topic(topic) from None

    def _decode_avro(self, reader: TopicSchema, fingerprint: int, data: bytes) -> dict[str, Any]:
        writer = self.registry.by_fingerprint(fingerprint)
        if writer is None:
            raise EventValidationError(
                "$",
                f"unknown writer schema fingerprint {fingerprint:016x}: "
                "deploy that revision's .avsc file to this consumer",
                UNKNOWN_SCHEMA,
            )
        if writer.topic != reader.topic:
            raise EventValidationError(
                "$",
                f"written with the schema of {writer.topic}, not {reader.topic}",
                UNKNOWN_SCHEMA,
            )
        if writer is reader and reader.decoder is not None:
            # the common case: the compiled reader of this exact revision (~2x fastavro)
            raw = data if type(data) is bytes else bytes(data)
            try:
                fast, end = reader.decoder(raw, HEADER_SIZE)
            except Exception as exc:  # any failure on arbitrary bytes is "malformed"
                raise EventValidationError(
                    "$", f"Avro body does not decode ({type(exc).__name__}: {exc})", MALFORMED
                ) from None
            if end != len(raw):
                problem = (
                    f"{len(raw) - end} bytes left over after the Avro record"
                    if end < len(raw)
                    else "Avro body does not decode (the record runs past the end)"
                )
                raise EventValidationError("$", problem, MALFORMED)
            return fast
        buf = io.BytesIO(data)
        buf.seek(HEADER_SIZE)
        reader_schema = None if writer is reader else reader.parsed
        try:
            record = schemaless_reader(buf, writer.parsed, reader_schema)
        except Exception as exc:  # any failure on arbitrary bytes is "malformed"
            if type(exc).__name__ == "SchemaResolutionError":
                raise EventValidationError(
                    "$",
                    f"writer revision cannot be read as the current schema: {exc}",
                    UNKNOWN_SCHEMA,
                ) from None
            raise EventValidationError(
                "$", f"Avro body does not decode ({type(exc).__name__}: {exc})", MALFORMED
            ) from None
        rest = len(data) - buf.tell()
        if rest:
            raise EventValidationError(
                "$", f"{rest} bytes left over after the Avro record", MALFORMED
            )
        if not isinstance(record, dict):
            raise EventValidationError("$", "Avro datum is not a record", MALFORMED)
        return record


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _parse_json(data: bytes) -> Any:
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventValidationError(
            "$", f"JSON is not valid UTF-8 ({exc.reason})", MALFORMED
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise EventValidationError("$", f"not valid JSON: {exc}", MALFORMED) from None
    if not isinstance(value, dict):
        raise EventValidationError("$", "JSON value is not an object", MALFORMED)
    return value


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, the form the contract documents."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_jsonable(value: Any) -> Any:
    """Canonical event values as JSON-ready values (timestamps ISO-8601 Z, bytes base64).

    Decimals become JSON numbers when a float holds them exactly, else strings, so no
    amount is silently rounded.
    """
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value
