"""Decoded contract events → the flat, plain-typed dicts the processor works on.

Avro logical types decode to datetime, date and Decimal; the processor wants epoch
milliseconds and floats, and a few contract names are shortened here in one place.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from streams.units import SECOND_MS

#: A normalised event: the flat fields of one of the four input contracts, renamed and
#: plain-typed. Left free-form on purpose: which fields it has depends on its domain, and the
#: SLA rules look fields up by the names their YAML file gives (``match``, ``when.field``).
Event = dict[str, Any]

DOMAINS = ("sales", "underwriting", "claims", "servicing")
_RENAMES = {
    "policy_start_date": "policy_start",
    "renewal_due_date": "renewal_date",
    "customer_segment": "segment",
    "premium": "annual_premium",
}


def date_ms(day: dt.date) -> int:
    """Midnight UTC of a date, in epoch milliseconds."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * SECOND_MS)


def to_ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * SECOND_MS)
    if isinstance(value, dt.date):
        return date_ms(value)
    return int(value)


def normalise(domain: str, event: dict[str, Any]) -> Event:
    """A decoded contract event (Avro logical types and all) as the processor reads it."""
    out: Event = {"domain": domain}
    for key, value in event.items():
        key = _RENAMES.get(key, key)
        if isinstance(value, Decimal):
            value = float(value)
        elif isinstance(value, dt.date):  # datetime is a date too
            value = to_ms(value)
        out[key] = value
    return out
