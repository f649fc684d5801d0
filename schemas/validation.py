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
attributes as metadata; they are not part of the fingerprint): ``minimum``/``maximum`` on
numbers, ``minLength``/``maxLength`` (characters) and ``pattern`` on strings, ``maxItems`` on
arrays, and on input records ``event_types`` mapping each event type to its ``required``
fields and fixed ``values``. Field attributes apply through a nullable union; an array's
``maxItems`` sits on the array type (or the field), its items' limits on the item type.

A ``pattern`` must match the whole string (JSON Schema semantics; ``\\d``, ``\\w`` are ASCII).
Every string of an input schema (one with ``event_types``) also refuses C0 controls other
than tab, newline and carriage return, DEL, C1 controls, bidirectional controls (U+200E,
U+200F, U+202A-U+202E, U+2066-U+2069) and lone surrogates. Output schemas (written by the
hub from checked inputs, and dead letters that must hold whatever was refused) do not.

Problems never quote more than ~40 characters of a value, so an oversized or hostile value
cannot blow up an error message or a dead letter.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import reprlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import SCHEMA_INVALID, UNKNOWN_EVENT_TYPE, EventValidationError

#: (value, path, from_json) -> canonical value
Checker = Callable[[Any, str, bool], Any]
#: (value fresh from the Avro decoder, path) -> None, or raises: the rules Avro cannot carry
Rule = Callable[[Any, str], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_INT_RANGE = {"int": (-(1 << 31), (1 << 31) - 1), "long": (-(1 << 63), (1 << 63) - 1)}
_MISSING = object()
#: Field attributes the validator reads (everything else on a field is documentation).
_FIELD_ATTRS = ("minimum", "maximum", "minLength", "maxLength", "pattern", "maxItems")
_QUOTE_LIMIT = 40

_BIDI_CONTROLS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
#: Characters no string of an input schema may hold (see the module docstring).
_FORBIDDEN_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)

_REPR = reprlib.Repr()
_REPR.maxstring = _QUOTE_LIMIT
_REPR.maxother = _QUOTE_LIMIT


def _fail(path: str, problem: str) -> EventValidationError:
    return EventValidationError(path, problem, SCHEMA_INVALID)


def _describe(value: Any) -> str:
    # bounded work and output, whatever the size of ``value``
    return f"{type(value).__name__} {_quote(value)}"


def _quote(value: Any) -> str:
    """At most ~40 characters showing ``value``: text as ``repr``, numbers as written."""
    if isinstance(value, str):
        if len(value) > _QUOTE_LIMIT:
            return repr(value[: _QUOTE_LIMIT - 3]) + "..."
        return repr(value)
    try:
        text = str(value) if isinstance(value, int | float | Decimal) else _REPR.repr(value)
    except ValueError:  # an int beyond the interpreter's digit limit for str()
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


def _key_path(key: Any) -> str:
    """A JSON object key as a field name in an error: escaped and capped if need be."""
    text = str(key)
    if len(text) <= 64 and text.isprintable():
        return text
    return _quote(text)


def _char_problem(text: str, position: int) -> str:
    code = ord(text[position])
    if 0xD800 <= code <= 0xDFFF:
        kind = "a lone surrogate"
    elif text[position] in _BIDI_CONTROLS:
        kind = "a bidirectional control character"
    else:
        kind = "a control character"
    return f"contains {kind} (U+{code:04X}) at position {position}"


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
            raise _fail(path, f"epoch milliseconds {_quote(value)} out of range") from None
        return dt
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise _fail(
                path,
                f"{_quote(value)} is not an ISO-8601 timestamp (e.g. 2026-02-02T08:30:00.000Z)",
            ) from None
        if parsed.tzinfo is None:
            raise _fail(path, f"timestamp {_quote(value)} has no UTC offset (append Z or +08:00)")
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
            raise _fail(path, f"epoch days {_quote(value)} out of range") from None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise _fail(path, f"{_quote(value)} is not an ISO-8601 date (YYYY-MM-DD)") from None
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
        #: input contracts refuse control and bidi characters in every string
        self._text_rules = bool(self.event_types)
        self._check = self._build(schema, schema.get("namespace"), {})
        # check_decoded's two tight loops: top-level strings (and nullable strings), checked
        # inline with a precise rule on the rare suspect; then every other field with a rule
        self._decoded_strings: tuple[
            tuple[str, int, int, Callable[[str], Any] | None, Rule], ...
        ] = ()
        self._decoded_rules: tuple[tuple[str, Rule], ...] = ()
        self._compile_decoded_rules(schema)

    def validate(self, event: Any, *, from_json: bool = False) -> dict[str, Any]:
        """The canonical form of ``event``; raises EventValidationError naming the field."""
        result: dict[str, Any] = self._check(event, "$", from_json)
        if self.event_types:
            self.check_event_type(result)
        return result

    def check_decoded(self, record: dict[str, Any]) -> dict[str, Any]:
        """Contract rules Avro types cannot carry, for a record fresh from the Avro decoder.

        Types are already guaranteed by the binary format, so only ranges, string lengths,
        patterns and characters, array sizes and the per-event-type rules are left: a
        fraction of ``validate``'s cost (one precompiled rule per constrained field).
        """
        get = record.get
        for name, shortest, longest, fullmatch, check in self._decoded_strings:
            text = get(name)
            if text is not None and (
                not shortest <= len(text) <= longest
                or not text.isprintable()
                or (fullmatch is not None and fullmatch(text) is None)
            ):
                check(text, name)  # raises naming the problem; tab, newline ... pass
        for name, rule in self._decoded_rules:
            value = get(name)
            if value is not None:
                rule(value, name)
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
                f"unknown event type {_quote(event_type)} (known: {known})",
                UNKNOWN_EVENT_TYPE,
            )
        for name in rule.required:
            if event.get(name) is None:
                raise _fail(name, f"required for event_type '{event_type}' but missing or null")
        for name, expected in rule.values.items():
            if event.get(name) != expected:
                raise _fail(
                    name,
                    f"must be {expected!r} for event_type '{event_type}', "
                    f"got {_quote(event.get(name))}",
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
            max_items = schema.get("maxItems", attrs.get("maxItems"))
            return _array_checker(self._build(schema["items"], namespace, {}), max_items)
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
            return _string_checker(_string_limits(attrs, self._text_rules))
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
            attrs = {k: f[k] for k in _FIELD_ATTRS if k in f}
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
                    raise _fail(_child(p, _key_path(key)), f"unknown field (not in {record_name})")
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

    # -- rules for records fresh from the Avro decoder (check_decoded) --------------------

    def _compile_decoded_rules(self, schema: dict[str, Any]) -> None:
        namespace = schema.get("namespace")
        strings = []
        others = []
        for f in schema.get("fields", ()):
            attrs = {k: f[k] for k in _FIELD_ATTRS if k in f}
            string_type = self._string_type(f["type"], namespace)
            if string_type is not None:
                limits = _string_limits({**string_type, **attrs}, self._text_rules)
                if limits is not None:
                    strings.append(
                        (f["name"], limits.shortest, limits.longest, limits.fullmatch, limits.check)
                    )
                continue
            rule = self._rule(f["type"], namespace, attrs, set())
            if rule is not None:
                others.append((f["name"], rule))
        self._decoded_strings = tuple(strings)
        self._decoded_rules = tuple(others)

    def _string_type(self, schema: Any, namespace: str | None) -> Mapping[str, Any] | None:
        """The string type's own attributes if ``schema`` is a string or nullable string."""
        schema = self._resolve(schema, namespace)
        if isinstance(schema, list):
            others = [b for b in schema if b != "null"]
            return self._string_type(others[0], namespace) if len(others) == 1 else None
        if schema == "string":
            return {}
        if isinstance(schema, dict) and schema.get("type") == "string":
            return schema
        return None

    def _field_rules(
        self, schema: dict[str, Any], namespace: str | None, seen: frozenset[int] | set[int]
    ) -> tuple[tuple[str, Rule], ...]:
        """(field name, rule) of the record's fields that carry contract rules."""
        rules = []
        for f in schema.get("fields", ()):
            attrs = {k: f[k] for k in _FIELD_ATTRS if k in f}
            rule = self._rule(f["type"], namespace, attrs, seen)
            if rule is not None:
                rules.append((f["name"], rule))
        return tuple(rules)

    def _rule(
        self,
        schema: Any,
        namespace: str | None,
        attrs: Mapping[str, Any],
        seen: frozenset[int] | set[int],
    ) -> Rule | None:
        """What check_decoded verifies of a non-null value of ``schema`` (None: nothing).

        The decoder guarantees the Avro type, so a rule only checks what the type cannot say.
        """
        schema = self._resolve(schema, namespace)
        if isinstance(schema, list):
            return self._union_rule(schema, namespace, attrs, seen)
        if isinstance(schema, str):
            kind, logical, merged = schema, None, attrs
        else:
            kind, logical, merged = schema["type"], schema.get("logicalType"), {**schema, **attrs}
        if kind in ("record", "error"):
            assert isinstance(schema, dict)
            if id(schema) in seen:  # a recursive type: its rules are not followed
                return None
            inner = self._register(schema, namespace)
            return _record_rule(self._field_rules(schema, inner, {*seen, id(schema)}))
        if kind == "array":
            assert isinstance(schema, dict)
            item = self._rule(schema["items"], namespace, {}, seen)
            return _array_rule(item, schema.get("maxItems", attrs.get("maxItems")))
        if kind == "map":
            assert isinstance(schema, dict)
            return _map_rule(self._rule(schema["values"], namespace, {}, seen))
        if kind in ("enum", "fixed"):
            assert isinstance(schema, dict)
            self._register(schema, namespace)
            return None
        if kind == "string":
            return _string_rule(merged, self._text_rules)
        numeric = kind in ("int", "long", "float", "double") or logical == "decimal"
        if numeric and logical in (None, "decimal"):
            return _range_rule(merged.get("minimum"), merged.get("maximum"))
        return None

    def _union_rule(
        self,
        branches: list[Any],
        namespace: str | None,
        attrs: Mapping[str, Any],
        seen: frozenset[int] | set[int],
    ) -> Rule | None:
        others = [b for b in branches if b != "null"]
        rules = [self._rule(b, namespace, attrs, seen) for b in others]
        if len(others) == 1:
            return rules[0]  # the common nullable field: the value has the branch's type
        by_type: dict[type, Rule] = {}
        for branch, rule in zip(others, rules, strict=True):
            if rule is not None:
                for python_type in _decoded_types(self._resolve(branch, namespace)):
                    by_type.setdefault(python_type, rule)
        if not by_type:
            return None

        def union_rule(v: Any, p: str) -> None:
            rule = by_type.get(type(v))
            if rule is not None:
                rule(v, p)

        return union_rule


def _decoded_types(schema: Any) -> tuple[type, ...]:
    """Python types the Avro decoder returns for ``schema`` (for rules of wide unions)."""
    kind = schema if isinstance(schema, str) else schema.get("type")
    logical = None if isinstance(schema, str) else schema.get("logicalType")
    if logical == "decimal":
        return (Decimal,)
    if logical is not None and kind in ("int", "long"):
        return ()  # dates and timestamps carry no rules
    return {
        "string": (str,),
        "int": (int,),
        "long": (int,),
        "float": (float,),
        "double": (float,),
        "array": (list,),
        "map": (dict,),
        "record": (dict,),
        "error": (dict,),
    }.get(kind, ())


class _StringLimits:
    """Length, pattern and character rules of one string field, compiled once."""

    __slots__ = ("forbidden", "fullmatch", "longest", "pattern", "shortest")

    def __init__(self, attrs: Mapping[str, Any], text_rules: bool) -> None:
        max_length = attrs.get("maxLength")
        self.shortest = int(attrs.get("minLength") or 0)
        self.longest = sys.maxsize if max_length is None else int(max_length)
        self.pattern: str | None = attrs.get("pattern") or None
        self.fullmatch = re.compile(self.pattern, re.ASCII).fullmatch if self.pattern else None
        self.forbidden = _FORBIDDEN_CHARS.search if text_rules else None

    def check(self, v: str, p: str) -> None:
        n = len(v)
        if n > self.longest:  # refused, never truncated; the value is not quoted
            raise _fail(p, f"{n} characters, longer than the maximum of {self.longest}")
        if n < self.shortest:
            minimum = self.shortest
            raise _fail(p, "must not be empty" if minimum == 1 else f"shorter than {minimum}")
        # every forbidden character is unprintable: the regex only runs on the rare rest
        if self.forbidden is not None and not v.isprintable():
            bad = self.forbidden(v)
            if bad is not None:
                raise _fail(p, _char_problem(v, bad.start()))
        if self.fullmatch is not None and self.fullmatch(v) is None:
            raise _fail(p, f"{_quote(v)} does not match the pattern {self.pattern}")


def _string_limits(attrs: Mapping[str, Any], text_rules: bool) -> _StringLimits | None:
    """The string's rules, or None when it has none."""
    if attrs.get("minLength") or "maxLength" in attrs or attrs.get("pattern") or text_rules:
        return _StringLimits(attrs, text_rules)
    return None


def _string_rule(attrs: Mapping[str, Any], text_rules: bool) -> Rule | None:
    limits = _string_limits(attrs, text_rules)
    return None if limits is None else limits.check


def _range_rule(minimum: Any, maximum: Any) -> Rule | None:
    if minimum is None and maximum is None:
        return None

    def rule(v: Any, p: str) -> None:
        _check_range(v, p, minimum, maximum)

    return rule


def _array_rule(item: Rule | None, max_items: Any) -> Rule | None:
    if item is None and max_items is None:
        return None
    most = sys.maxsize if max_items is None else int(max_items)

    def rule(v: Any, p: str) -> None:
        if len(v) > most:
            raise _fail(p, f"{len(v)} items, more than the maximum of {most}")
        if item is not None:
            for i, x in enumerate(v):
                if x is not None:
                    item(x, f"{p}[{i}]")

    return rule


def _map_rule(value: Rule | None) -> Rule | None:
    if value is None:
        return None

    def rule(v: Any, p: str) -> None:
        for key, x in v.items():
            if x is not None:
                value(x, _child(p, _key_path(key)))

    return rule


def _record_rule(fields: tuple[tuple[str, Rule], ...]) -> Rule | None:
    if not fields:
        return None

    def rule(v: Any, p: str) -> None:
        get = v.get
        for name, field_rule in fields:
            x = get(name)
            if x is not None:
                field_rule(x, _child(p, name))

    return rule


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


def _string_checker(limits: _StringLimits | None) -> Checker:
    if limits is None:

        def check_type(v: Any, p: str, js: bool) -> str:
            if not isinstance(v, str):
                raise _fail(p, f"expected a string, got {_describe(v)}")
            return v

        return check_type
    shortest, longest, fullmatch, rule = (
        limits.shortest,
        limits.longest,
        limits.fullmatch,
        limits.check,
    )

    def check(v: Any, p: str, js: bool) -> str:
        if not isinstance(v, str):
            raise _fail(p, f"expected a string, got {_describe(v)}")
        if (
            not shortest <= len(v) <= longest
            or not v.isprintable()
            or (fullmatch is not None and fullmatch(v) is None)
        ):
            rule(v, p)  # raises naming the problem; tab, newline ... pass
        return v

    return check


def _int_checker(kind: str, minimum: Any, maximum: Any) -> Checker:
    low, high = _INT_RANGE[kind]

    def check(v: Any, p: str, js: bool) -> int:
        if type(v) is not int and (isinstance(v, bool) or not isinstance(v, int)):
            raise _fail(p, f"expected an integer ({kind}), got {_describe(v)}")
        if not low <= v <= high:
            raise _fail(p, f"{_quote(v)} does not fit in an Avro {kind}")
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
        raise _fail(p, f"{_quote(v)} is not one of {', '.join(symbols)}")

    return check


def _array_checker(item: Checker, max_items: Any = None) -> Checker:
    most = sys.maxsize if max_items is None else int(max_items)

    def check(v: Any, p: str, js: bool) -> list[Any]:
        if not isinstance(v, list | tuple):
            raise _fail(p, f"expected an array, got {_describe(v)}")
        if len(v) > most:  # before looking at any item
            raise _fail(p, f"{len(v)} items, more than the maximum of {most}")
        return [item(x, f"{p}[{i}]", js) for i, x in enumerate(v)]

    return check


def _map_checker(value: Checker) -> Checker:
    def check(v: Any, p: str, js: bool) -> dict[str, Any]:
        if not isinstance(v, Mapping):
            raise _fail(p, f"expected an object (map), got {_describe(v)}")
        out = {}
        for key, x in v.items():
            if not isinstance(key, str):
                raise _fail(p, f"map key {_quote(key)} is not a string")
            out[key] = value(x, _child(p, _key_path(key)), js)
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
                raise _fail(p, f"{_quote(v)} is not a decimal number") from None
        else:
            raise _fail(p, f"expected a decimal number, got {_describe(v)}")
        if not value.is_finite():
            raise _fail(p, f"{_quote(v)} is not a finite number")
        if abs(value) >= max_abs:  # first: quantize() of a huge value would raise
            raise _fail(p, f"{_quote(v)} exceeds the precision of {precision} digits")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -scale and value != value.quantize(quantum):
            raise _fail(p, f"{_quote(v)} has more than {scale} decimal places")
        _check_range(value, p, minimum, maximum)
        return value.quantize(quantum)

    return check
