"""Decoded contract events → the flat, plain-typed dicts the processor works on.

Avro logical types decode to datetime, date and Decimal; the processor wants epoch
milliseconds and floats, and a few contract names are shortened here in one place.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

DOMAINS = ("sales", "underwriting", "claims", "servicing")
_RENAMES = {
    "policy_start_date": "policy_start",
    "renewal_due_date": "renewal_date",
    "customer_segment": "segment",
    "premium": "annual_premium",
}


def to_ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return int(
            dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp() * 1000
        )
    return int(value)


def normalise(domain: str, event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"domain": domain}
    for key, value in event.items():
        key = _RENAMES.get(key, key)
        if isinstance(value, Decimal):
            value = float(value)
        elif isinstance(value, dt.date):  # datetime is a date too
            value = to_ms(value)
        out[key] = value
    return out
