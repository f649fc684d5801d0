"""Check an event against its Avro schema and bring it to canonical Python form.

Why not fastavro's validator: it answers yes/no (or a terse message) and does not convert the
JSON forms a source may send (ISO-8601 timestamps, decimal strings, base64 bytes). This one is
compiled once per schema into a tree of small checkers, names the offending field by path, and
returns the event in the exact form the Avro decoder returns, so JSON and Avro inputs of the
same event compare equal:

- timestamp-millis -> timezone-aware UTC ``datetime`` truncated to the millisecond
  (accepts an aware ``datetime``, epoch milliseconds as int, or an ISO-8601 string with offset)
- date -> ``date`` (accepts a ``date``, epoch days as int, or ``YYYY-MM-DD``)
- decimal -> ``Decimal`` quantized to the schema's scale (accepts Decimal, int, float, numeric
  string; refuses more decimal places than the scale, more digits than the precision)
- bytes -> ``bytes`` (JSON: base64 text); enums -> their symbol; missing optional -> default.

Contract rules beyond Avro types live in the .avsc as extra attributes (Avro keeps unknown
attributes as metadata): ``minimum``/``maximum``/``minLength`` on fields, and on input
records ``event_types`` mapping each event type to its ``required`` fields and fixed
``values``.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import SCHEMA_INVALID, UNKNOWN_EVENT_TYPE, EventValidationError

#: (value, path, from_json) -> canonical value
Checker = Callable[[Any, str, bool], Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_INT_RANGE = {"int": (-(1 << 31), (1 << 31) - 1), "long": (-(1 << 63), (1 << 63) - 1)}
_MISSING = object()


def _fail(path: str, problem: str) -> EventValidationError:
    return EventValidationError(path, problem, SCHEMA_INVALID)


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _child(path: str, name: str) -> str:
    return name if path in ("", "$") else f"{path}.{name}"


def parse_timestamp(value: Any, path: str) -> datetime:
    """A UTC datetime (millisecond precision) from a datetime, epoch ms or ISO-8601 text."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _fail(path, "timestamp has no UTC offset (use an aware datetime in UTC)")
        dt = value.astimezone(UTC)
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            dt = _EPOCH + timedelta(milliseconds=value)
        except OverflowError:
            raise _fail(path, f"epoch milliseconds {value} out of range") from None
        return dt
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise _fail(
                path, f"'{value}' is not an ISO-8601 timestamp (e.g. 2026-02-02T08:30:00.000Z)"
            ) from None
        if parsed.tzinfo is None:
            raise _fail(path, f"timestamp '{value}' has no UTC offset (append Z or +08:00)")
        dt = parsed.astimezone(UTC)
    else:
        raise _fail(
            path,
            f"expected a timestamp (ISO-8601 text or epoch milliseconds), got {_describe(value)}",
        )
    if dt.microsecond % 1000:
        dt = dt.replace(microsecond=dt.microsecond - dt.microsecond % 1000)
    return dt


def parse_date(value: Any, path: str) -> date:
    """A date from a ``date``, epoch days or ``YYYY-MM-DD`` text."""
    if isinstance(value, datetime):
        raise _fail(path, "expected a date, got a datetime")
    if isinstance(value, date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return _EPOCH_DATE + timedelta(days=value)
        except OverflowError:
            raise _fail(path, f"epoch days {value} out of range") from None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise _fail(path, f"'{value}' is not an ISO-8601 date (YYYY-MM-DD)") from None
    raise _fail(path, f"expected a date (YYYY-MM-DD), got {_describe(value)}")


@dataclass(frozen=True)
class EventTypeRule:
    """What one event type needs beyond the Avro types: non-null fields and fixed values."""

    required: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)


class RecordValidator:
    """Compiled validator for one record schema (see module docstring)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._names: dict[str, Any] = {}
        self.schema = schema
        self.event_types: dict[str, EventTypeRule] = {
            name: EventTypeRule(tuple(rule.get("required", ())), dict(rule.get("values", {})))
            for name, rule in schema.get("event_types", {}).items()
        }
        self._check = self._build(schema, schema.get("namespace"), {})
        self._constraints = _collect_constraints(schema, ())

    def validate(self, event: Any, *, from_json: bool = False) -> dict[str, Any]:
        """The canonical form of ``event``; raises EventValidationError naming the field."""
        result: dict[str, Any] = self._check(event, "$", from_json)
        if self.event_types:
            self.check_event_type(result)
        return result

    def check_decoded(self, record: dict[str, Any]) -> dict[str, Any]:
        """Contract rules Avro types cannot carry, for a record fresh from the Avro decoder.

        Types are already guaranteed by the binary format, so only ranges, non-empty
        strings and the per-event-type rules are left: a fraction of ``validate``'s cost.
        """
        for path, minimum, maximum, min_length in self._constraints:
            value: Any = record
            for name in path:
                value = value.get(name) if value is not None else None
            if value is None:
                continue
            dotted = ".".join(path)
            if min_length is not None and len(value) < min_length:
                raise _fail(dotted, "must not be empty" if min_length == 1 else "too short")
            _check_range(value, dotted, minimum, maximum)
        if self.event_types:
            self.check_event_type(record)
        return record

    def check_event_type(self, event: Mapping[str, Any]) -> None:
        """Per-type rules of input topics: known type, required fields, fixed values."""
        event_type = event.get("event_type")
        rule = self.event_types.get(event_type)  # type: ignore[arg-type]
        if rule is None:
            known = ", ".join(sorted(self.event_types))
            raise EventValidationError(
                "event_type",
                f"unknown event type {event_type!r} (known: {known})",
                UNKNOWN_EVENT_TYPE,
            )
        for name in rule.required:
            if event.get(name) is None:
                raise _fail(name, f"required for event_type '{event_type}' but missing or null")
        for name, expected in rule.values.items():
            if event.get(name) != expected:
                raise _fail(
                    name,
                    f"must be {expected!r} for event_type '{event_type}', got {event.get(name)!r}",
                )

    # -- compilation --------------------------------------------------------------------

    def _resolve(self, schema: Any, namespace: str | None) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            found = self._names.get(full) or self._names.get(schema)
            if found is None:
                raise ValueError(f"unknown named type {schema!r}")
            return found
        return schema

    def _register(self, schema: dict[str, Any], namespace: str | None) -> str | None:
        name = schema["name"]
        ns = schema.get("namespace", namespace)
        full = name if "." in name or not ns else f"{ns}.{name}"
        self._names[full] = schema
        self._names.setdefault(name, schema)
        return full.rsplit(".", 1)[0] if "." in full else None

    def _build(self, schema: Any, namespace: str | None, attrs: Mapping[str, Any]) -> Checker:
        schema = self._resolve(schema, namespace)
        if isinstance(schema, list):
            return self._union(schema, namespace, attrs)
        if isinstance(schema, str):
            return self._primitive(schema, attrs)
        kind = schema["type"]
        logical = schema.get("logicalType")
        if kind == "record":
            inner = self._register(schema, namespace)
            return self._record(schema, inner)
        if kind == "enum":
            self._register(schema, namespace)
            return _enum_checker(schema)
        if kind == "array":
            return _array_checker(self._build(schema["items"], namespace, {}))
        if kind == "map":
            return _map_checker(self._build(schema["values"], namespace, {}))
        if kind == "fixed":
            self._register(schema, namespace)
            return _fixed_checker(int(schema["size"]))
        if logical == "timestamp-millis" and kind == "long":
            return lambda v, p, js: parse_timestamp(v, p)
        if logical == "date" and kind == "int":
            return lambda v, p, js: parse_date(v, p)
        if logical == "decimal" and kind == "bytes":
            return _decimal_checker(int(schema["precision"]), int(schema.get("scale", 0)), attrs)
        if kind in _PRIMITIVES:
            return self._primitive(kind, {**schema, **attrs})
        raise ValueError(f"unsupported Avro type {kind!r}")

    def _primitive(self, kind: str, attrs: Mapping[str, Any]) -> Checker:
        if kind == "string":
            return _string_checker(attrs.get("minLength"))
        if kind in ("int", "long"):
            return _int_checker(kind, attrs.get("minimum"), attrs.get("maximum"))
        if kind in ("float", "double"):
            return _float_checker(attrs.get("minimum"), attrs.get("maximum"))
        if kind == "boolean":
            return _bool_checker
        if kind == "bytes":
            return _bytes_checker
        if kind == "null":
            return _null_checker
        raise ValueError(f"unsupported Avro type {kind!r}")

    def _union(
        self, branches: list[Any], namespace: str | None, attrs: Mapping[str, Any]
    ) -> Checker:
        nullable = "null" in branches
        others = [b for b in branches if b != "null"]
        checkers = [self._build(b, namespace, attrs) for b in others]
        if len(checkers) == 1:
            only = checkers[0]

            def nullable_one(v: Any, p: str, js: bool) -> Any:
                return None if v is None else only(v, p, js)

            return nullable_one if nullable else only

        def any_branch(v: Any, p: str, js: bool) -> Any:
            if v is None:
                if nullable:
                    return None
                raise _fail(p, "must not be null")
            first: EventValidationError | None = None
            for check in checkers:
                try:
                    return check(v, p, js)
                except EventValidationError as exc:
                    first = first or exc
            assert first is not None
            raise first

        return any_branch

    def _record(self, schema: dict[str, Any], namespace: str | None) -> Checker:
        fields: list[tuple[str, Checker, Any, bool]] = []
        for f in schema["fields"]:
            ftype = f["type"]
            attrs = {k: f[k] for k in ("minimum", "maximum", "minLength") if k in f}
            check = self._build(ftype, namespace, attrs)
            resolved = self._resolve(ftype, namespace)
            nullable = isinstance(resolved, list) and "null" in resolved
            default = f.get("default", _MISSING)
            if default is not _MISSING and default is not None:
                default = check(_avro_default(resolved, default), f["name"], False)
            fields.append((f["name"], check, default, nullable))
        names = {f[0] for f in fields}
        record_name = schema.get("name", "record")

        def record(v: Any, p: str, js: bool) -> dict[str, Any]:
            if not isinstance(v, Mapping):
                raise _fail(p, f"expected an object ({record_name}), got {_describe(v)}")
            for key in v:
                if key not in names:
                    raise _fail(_child(p, str(key)), f"unknown field (not in {record_name})")
            out: dict[str, Any] = {}
            for name, check, default, nullable in fields:
                value = v.get(name, _MISSING)
                path = _child(p, name)
                if value is _MISSING:
                    if default is not _MISSING:
                        out[name] = default
                        continue
                    if nullable:
                        out[name] = None
                        continue
                    raise _fail(path, "missing required field")
                if value is None and not nullable:
                    raise _fail(path, "must not be null")
                out[name] = check(value, path, js)
            return out

        return record


def _collect_constraints(
    schema: dict[str, Any], prefix: tuple[str, ...]
) -> list[tuple[tuple[str, ...], Any, Any, Any]]:
    """(field path, minimum, maximum, minLength) of every constrained field, nested included."""
    found = []
    for f in schema.get("fields", ()):
        path = (*prefix, f["name"])
        if any(k in f for k in ("minimum", "maximum", "minLength")):
            found.append((path, f.get("minimum"), f.get("maximum"), f.get("minLength")))
        ftype = f["type"]
        if isinstance(ftype, dict) and ftype.get("type") == "record":
            found.extend(_collect_constraints(ftype, path))
    return found


def _avro_default(schema: Any, default: Any) -> Any:
    """An Avro JSON default in Python form: bytes defaults are ISO-8859-1 text."""
    if isinstance(schema, list):
        schema = schema[0]
    if isinstance(schema, dict) and schema.get("type") in ("bytes", "fixed"):
        raw = default.encode("latin-1") if isinstance(default, str) else default
        if schema.get("logicalType") == "decimal":
            unscaled = int.from_bytes(raw, "big", signed=True) if raw else 0
            return Decimal(unscaled).scaleb(-int(schema.get("scale", 0)))
        return raw
    if schema == "bytes" and isinstance(default, str):
        return default.encode("latin-1")
    return default


def _check_range(value: Any, path: str, minimum: Any, maximum: Any) -> None:
    if minimum is not None and value < minimum:
        raise _fail(path, f"{value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise _fail(path, f"{value} is above the maximum {maximum}")


def _string_checker(min_length: int | None) -> Checker:
    def check(v: Any, p: str, js: bool) -> str:
        if not isinstance(v, str):
            raise _fail(p, f"expected a string, got {_describe(v)}")
        if min_length is not None and len(v) < min_length:
            raise _fail(p, "must not be empty" if min_length == 1 else f"shorter than {min_length}")
        return v

    return check


def _int_checker(kind: str, minimum: Any, maximum: Any) -> Checker:
    low, high = _INT_RANGE[kind]

    def check(v: Any, p: str, js: bool) -> int:
        if type(v) is not int and (isinstance(v, bool) or not isinstance(v, int)):
            raise _fail(p, f"expected an integer ({kind}), got {_describe(v)}")
        if not low <= v <= high:
            raise _fail(p, f"{v} does not fit in an Avro {kind}")
        _check_range(v, p, minimum, maximum)
        return int(v)

    return check


def _float_checker(minimum: Any, maximum: Any) -> Checker:
    def check(v: Any, p: str, js: bool) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _fail(p, f"expected a number, got {_describe(v)}")
        value = float(v)
        if not math.isfinite(value):
            raise _fail(p, f"{v} is not a finite number")
        _check_range(value, p, minimum, maximum)
        return value

    return check


def _bool_checker(v: Any, p: str, js: bool) -> bool:
    if not isinstance(v, bool):
        raise _fail(p, f"expected true or false, got {_describe(v)}")
    return v


def _null_checker(v: Any, p: str, js: bool) -> None:
    if v is not None:
        raise _fail(p, f"expected null, got {_describe(v)}")


def _bytes_checker(v: Any, p: str, js: bool) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if js and isinstance(v, str):
        try:
            return base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(p, "expected base64 text for bytes") from None
    raise _fail(p, f"expected bytes{' (base64 text)' if js else ''}, got {_describe(v)}")


def _fixed_checker(size: int) -> Checker:
    def check(v: Any, p: str, js: bool) -> bytes:
        data = _bytes_checker(v, p, js)
        if len(data) != size:
            raise _fail(p, f"expected exactly {size} bytes, got {len(data)}")
        return data

    return check


def _enum_checker(schema: dict[str, Any]) -> Checker:
    symbols = tuple(schema["symbols"])
    allowed = frozenset(symbols)

    def check(v: Any, p: str, js: bool) -> str:
        if v.__class__ is str and v in allowed:
            return v
        raise _fail(p, f"{v!r} is not one of {', '.join(symbols)}")

    return check


def _array_checker(item: Checker) -> Checker:
    def check(v: Any, p: str, js: bool) -> list[Any]:
        if not isinstance(v, list | tuple):
            raise _fail(p, f"expected an array, got {_describe(v)}")
        return [item(x, f"{p}[{i}]", js) for i, x in enumerate(v)]

    return check


def _map_checker(value: Checker) -> Checker:
    def check(v: Any, p: str, js: bool) -> dict[str, Any]:
        if not isinstance(v, Mapping):
            raise _fail(p, f"expected an object (map), got {_describe(v)}")
        out = {}
        for key, x in v.items():
            if not isinstance(key, str):
                raise _fail(p, f"map key {key!r} is not a string")
            out[key] = value(x, _child(p, key), js)
        return out

    return check


def _decimal_checker(precision: int, scale: int, attrs: Mapping[str, Any]) -> Checker:
    quantum = Decimal(1).scaleb(-scale)
    minimum = attrs.get("minimum")
    maximum = attrs.get("maximum")
    max_abs = Decimal(10) ** (precision - scale)

    def check(v: Any, p: str, js: bool) -> Decimal:
        if isinstance(v, Decimal):
            value = v
        elif isinstance(v, bool):
            raise _fail(p, f"expected a decimal number, got {_describe(v)}")
        elif isinstance(v, int):
            value = Decimal(v)
        elif isinstance(v, float):
            value = Decimal(repr(v))
        elif isinstance(v, str):
            try:
                value = Decimal(v.strip())
            except InvalidOperation:
                raise _fail(p, f"'{v}' is not a decimal number") from None
        else:
            raise _fail(p, f"expected a decimal number, got {_describe(v)}")
        if not value.is_finite():
            raise _fail(p, f"{v} is not a finite number")
        if abs(value) >= max_abs:  # first: quantize() of a huge value would raise
            raise _fail(p, f"{v} exceeds the precision of {precision} digits")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -scale and value != value.quantize(quantum):
            raise _fail(p, f"{v} has more than {scale} decimal places")
        _check_range(value, p, minimum, maximum)
        return value.quantize(quantum)

    return check
