"""Avro single-object encoding framing: CRC-64-AVRO (Rabin) fingerprints and the 10-byte header.

The Avro specification frames a schemaless datum as ``C3 01`` + the writer schema's 64-bit
Rabin fingerprint (little-endian) + the datum, so a reader that holds the schema files can
pick the writer schema without a registry service.
"""

from __future__ import annotations

from typing import Any

from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_SIZE = 10
_EMPTY = 0xC15D213AA4D7A795


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _table()


def rabin_fingerprint(data: bytes) -> int:
    """CRC-64-AVRO of ``data`` as the specification computes it (an unsigned 64-bit int)."""
    fp = _EMPTY
    table = _TABLE
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def canonical_form(schema: Any) -> str:
    """The schema's Parsing Canonical Form (docs, defaults and custom attributes stripped)."""
    return str(to_parsing_canonical_form(parse_schema(schema, _write_hint=False)))


def schema_fingerprint(schema: Any) -> int:
    """64-bit Rabin fingerprint of the schema's Parsing Canonical Form."""
    return rabin_fingerprint(canonical_form(schema).encode("utf-8"))


def single_object_header(fingerprint: int) -> bytes:
    """``C3 01`` followed by the fingerprint in little-endian byte order."""
    return MAGIC + fingerprint.to_bytes(8, "little")


def read_header(data: bytes) -> int | None:
    """The writer fingerprint if ``data`` starts with a single-object header, else None."""
    if len(data) >= HEADER_SIZE and data[0] == 0xC3 and data[1] == 0x01:
        return int.from_bytes(data[2:HEADER_SIZE], "little")
    return None
