"""Hand-written event sequences for exact end-to-end assertions (the generator does volume)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from kafka import KafkaProducer

from schemas.codec import Codec
from schemas.topics import BY_DOMAIN
from streams.settings import Settings
from streams.units import DAY_MS, HOUR_MS

#: The scenarios' time steps, in milliseconds.
DAY, HOUR = DAY_MS, HOUR_MS

_ids = itertools.count(1)
DOMAIN_TOPIC = {domain: t.logical for domain, t in BY_DOMAIN.items()}


def ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def event(domain: str, etype: str, customer: str, t_ms: int, **fields: Any) -> tuple[str, dict]:
    base: dict[str, Any] = {
        "event_id": f"ev-{next(_ids)}-{customer}-{etype}",
        "event_type": etype,
        "customer_id": customer,
        "occurred_at": ts(t_ms),
        "source": f"{domain}-system",
    }
    defaults: dict[str, dict[str, Any]] = {
        "policy_issued": {
            "product_line": "motor",
            "product_code": "MOT-1",
            "premium": Decimal("1200.00"),
            "sum_assured": Decimal("50000.00"),
            "channel": "agent",
            "policy_start_date": ts(t_ms).date(),
            "renewal_due_date": (ts(t_ms) + dt.timedelta(days=365)).date(),
            "customer_segment": "standard",
            "customer_name": "Wang Fang",
            "phone": "+86 138 0013 8000",
            "id_number": "110101199003074514",
        },
        "claim_reported": {
            "product_line": "motor",
            "claim_type": "collision",
            "claimed_amount": Decimal("8000.00"),
            "incident_date": ts(t_ms).date(),
        },
        "claim_paid": {"paid_amount": Decimal("7000.00")},
        "claim_rejected": {"rejection_reason": "not covered"},
        "inquiry_opened": {"case_kind": "inquiry", "channel": "phone", "category": "billing"},
        "inquiry_responded": {"case_kind": "inquiry"},
        "inquiry_resolved": {"case_kind": "inquiry"},
        "complaint_opened": {"case_kind": "complaint", "channel": "app", "category": "claims"},
        "complaint_resolved": {"case_kind": "complaint"},
        "renewal_reminder_sent": {},
        "survey_answered": {"case_kind": "survey", "nps_score": 9},
    }
    return DOMAIN_TOPIC[domain], {**base, **defaults.get(etype, {}), **fields}


def publish(s: Settings, events: list[tuple[str, dict]], raw: list[tuple[str, bytes]] = ()) -> None:  # type: ignore[assignment]
    """Encode (Avro single-object) and send keyed by customer_id, in list order."""
    codec = Codec()
    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap, linger_ms=5)
    for logical, e in events:
        producer.send(
            s.kafka.topic_prefix + logical,
            key=e["customer_id"].encode(),
            value=codec.encode(logical, e),
        )
    for logical, value in raw:
        producer.send(s.kafka.topic_prefix + logical, key=b"bad", value=value)
    producer.flush()
    producer.close()
