"""Every schema file the hub ships, found by topic and by fingerprint.

Layout (the files are the contract; no registry service is involved):

- ``schemas/<topic>.avsc`` -- the current schema of each topic, used to write and as the
  reader schema;
- ``schemas/revisions/<topic>/<anything>.avsc`` -- earlier (or announced later) revisions,
  known by fingerprint so records written with them still decode.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_writer

from .binary import Decoder, Encoder, UnsupportedSchema, compile_decoder, compile_encoder
from .fingerprint import schema_fingerprint, single_object_header
from .validation import EventTypeRule, RecordValidator

SCHEMA_DIR = Path(__file__).resolve().parent


@dataclass
class TopicSchema:
    """One schema revision of one topic, with its compiled encoder and validator."""

    topic: str
    schema: dict[str, Any]
    fingerprint: int
    current: bool = True
    path: Path | None = None
    parsed: Any = field(init=False, repr=False)
    header: bytes = field(init=False, repr=False)
    validator: RecordValidator = field(init=False, repr=False)
    _encoder: Encoder | None = field(init=False, repr=False)
    #: reads a datum written with this very revision (None: use fastavro)
    decoder: Decoder | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parsed = parse_schema(self.schema)
        self.header = single_object_header(self.fingerprint)
        self.validator = RecordValidator(self.schema)
        try:
            self._encoder = compile_encoder(self.schema, self.header)
        except UnsupportedSchema:
            self._encoder = None
        try:
            self.decoder = compile_decoder(self.schema)
        except UnsupportedSchema:
            self.decoder = None

    @property
    def event_types(self) -> Mapping[str, EventTypeRule]:
        """Event types of an input topic (empty for output topics)."""
        return self.validator.event_types

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.schema["fields"]]

    def encode_unchecked(self, event: Mapping[str, Any]) -> bytes:
        """Single-object encoding without validation (trusted, codec-input-form values)."""
        if self._encoder is not None:
            return self._encoder(event)
        buf = io.BytesIO()
        buf.write(self.header)
        schemaless_writer(buf, self.parsed, dict(event))
        return buf.getvalue()


class SchemaRegistry:
    """Schemas by topic (the current one) and by fingerprint (every known revision)."""

    def __init__(self) -> None:
        self._current: dict[str, TopicSchema] = {}
        self._by_fingerprint: dict[int, TopicSchema] = {}
        self._revisions: dict[str, list[TopicSchema]] = {}

    @classmethod
    def load(cls, directory: Path | str | None = None) -> SchemaRegistry:
        """Read ``<topic>.avsc`` files and ``revisions/<topic>/*.avsc`` under ``directory``."""
        root = Path(directory) if directory is not None else SCHEMA_DIR
        registry = cls()
        revisions = root / "revisions"
        if revisions.is_dir():
            for path in sorted(revisions.glob("*/*.avsc")):
                registry.register(path.parent.name, _read(path), current=False, path=path)
        for path in sorted(root.glob("*.avsc")):
            registry.register(path.stem, _read(path), current=True, path=path)
        if not registry._current:
            raise FileNotFoundError(f"no .avsc schema files in {root}")
        return registry

    def register(
        self,
        topic: str,
        schema: dict[str, Any],
        *,
        current: bool = True,
        path: Path | None = None,
    ) -> TopicSchema:
        """Add a revision; ``current`` makes it the topic's writer and reader schema."""
        fp = schema_fingerprint(schema)
        known = self._by_fingerprint.get(fp)
        if known is not None and known.topic != topic:
            raise ValueError(
                f"schema for {topic!r} has the same fingerprint as {known.topic!r}; "
                "give each topic's record its own name"
            )
        entry = TopicSchema(topic, schema, fp, current=current, path=path)
        self._by_fingerprint[fp] = entry
        revisions = self._revisions.setdefault(topic, [])
        revisions[:] = [r for r in revisions if r.fingerprint != fp] + [entry]
        if current:
            previous = self._current.get(topic)
            if previous is not None and previous.fingerprint != fp:
                previous.current = False
            self._current[topic] = entry
        return entry

    def current(self, topic: str) -> TopicSchema:
        try:
            return self._current[topic]
        except KeyError:
            known = ", ".join(sorted(self._current))
            raise KeyError(f"no schema for topic {topic!r} (known: {known})") from None

    def by_fingerprint(self, fingerprint: int) -> TopicSchema | None:
        return self._by_fingerprint.get(fingerprint)

    def revisions(self, topic: str) -> list[TopicSchema]:
        return list(self._revisions.get(topic, ()))

    def topics(self) -> list[str]:
        return sorted(self._current)

    def __contains__(self, topic: object) -> bool:
        return topic in self._current

    def __iter__(self) -> Iterator[TopicSchema]:
        return iter(self._current.values())


def _read(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


@cache
def default_registry() -> SchemaRegistry:
    """The schemas shipped in this package (loaded once per process)."""
    return SchemaRegistry.load()
