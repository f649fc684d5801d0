"""The one keyed hash of personal data, shared by the worker and the sink.

``HMAC-SHA256(HUB_PII_KEY, value)`` in lowercase hex: the worker derives a profile's
``person_key`` from the ID number with it and the sink hashes the same fields of the events
it lands, so ``events.person_key`` joins ``customer_profile.person_key``. Keyed, not plain:
ID and phone numbers are short enough to brute-force from an unkeyed SHA-256.
"""

from __future__ import annotations

import hmac
from typing import Any

#: Top-level fields of the input contracts that carry personal data.
PII_FIELDS: tuple[str, ...] = ("customer_name", "phone", "id_number")


def pii_hash(secret: bytes, value: Any) -> str:
    """The keyed hash of one value ("" for no value)."""
    if value is None or value == "":
        return ""
    return hmac.digest(secret, str(value).encode(), "sha256").hex()
