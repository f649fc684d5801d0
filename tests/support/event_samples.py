"""One valid event of every type of every topic: what the contract tests encode, refuse and
send through the broker (tests/unit/test_codec.py, tests/integration/test_codec_kafka.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas import (
    CLAIM_ANOMALY,
    CLAIMS,
    CUSTOMER_PROFILE,
    DEAD_LETTER,
    SALES,
    SERVICING,
    SLA_BREACH,
    SLA_OUTCOME,
    UNDERWRITING,
)

T0 = datetime(2026, 2, 3, 9, 30, 15, 123000, tzinfo=UTC)


def _envelope(topic: str, event_type: str, n: int) -> dict[str, Any]:
    return {
        "event_id": f"evt-{topic.split('.')[1]}-{event_type}-{n}",
        "event_type": event_type,
        "customer_id": f"C{n:07d}",
        "occurred_at": T0 + timedelta(minutes=n),
        "source": {
            SALES: "sales.policy-admin",
            UNDERWRITING: "underwriting.rules-engine",
            CLAIMS: "claims.core",
            SERVICING: "servicing.crm",
        }[topic],
    }


#: Domain fields for every event type of every input topic.
DOMAIN_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    SALES: {
        "quote_created": {
            "quote_id": "Q000000001",
            "product_line": "health",
            "product_code": "HLT-MEDPLUS",
            "premium": Decimal("899.00"),
            "sum_assured": Decimal("2000000"),
            "channel": "online",
            "customer_name": "Wang Fang",
            "phone": "+8613812345678",
        },
        "policy_issued": {
            "policy_id": "P000000001",
            "application_id": "AP000000001",
            "product_line": "life",
            "product_code": "LIFE-TERM20",
            "premium": Decimal("3210.55"),
            "sum_assured": Decimal("1000000.00"),
            "agent_id": "AG00042",
            "channel": "agent",
            "policy_start_date": date(2026, 2, 4),
            "renewal_due_date": date(2027, 2, 4),
            "customer_segment": "high_net_worth",
            "customer_name": "Li Na",
            "phone": "+8613912345678",
            "id_number": "11010119800101123X",
        },
        "renewal_reminder_sent": {
            "policy_id": "P000000001",
            "renewal_due_date": date(2026, 3, 20),
            "channel": "sms",
        },
        "policy_renewed": {
            "policy_id": "P000000001",
            "premium": Decimal("3300"),
            "policy_start_date": date(2026, 3, 20),
            "renewal_due_date": date(2027, 3, 20),
        },
        "policy_lapsed": {"policy_id": "P000000002", "reason": "premium_not_paid"},
        "policy_cancelled": {"policy_id": "P000000003", "reason": "cooling_off"},
    },
    UNDERWRITING: {
        "application_submitted": {
            "application_id": "AP000000001",
            "quote_id": "Q000000001",
            "product_line": "health",
            "product_code": "HLT-CI",
            "sum_assured": Decimal("500000"),
        },
        "evidence_requested": {"application_id": "AP000000001", "evidence_type": "medical_report"},
        "application_decided": {
            "application_id": "AP000000001",
            "decision": "rated",
            "risk_class": "substandard",
            "extra_premium_pct": 50,
        },
    },
    CLAIMS: {
        "claim_reported": {
            "claim_id": "CL000000001",
            "policy_id": "P000000001",
            "product_line": "health",
            "claim_type": "outpatient",
            "incident_date": date(2026, 2, 1),
            "claimed_amount": Decimal("1234.50"),
            "provider_id": "HOSP-0007",
        },
        "claim_accepted": {"claim_id": "CL000000001", "policy_id": "P000000001"},
        "documents_requested": {
            "claim_id": "CL000000001",
            "policy_id": "P000000001",
            "requested_documents": ["invoice", "medical_record"],
        },
        "claim_assessed": {
            "claim_id": "CL000000001",
            "policy_id": "P000000001",
            "assessed_amount": Decimal("1100.00"),
        },
        "claim_paid": {
            "claim_id": "CL000000001",
            "policy_id": "P000000001",
            "paid_amount": Decimal("1100.00"),
        },
        "claim_rejected": {
            "claim_id": "CL000000002",
            "policy_id": "P000000001",
            "rejection_reason": "waiting_period",
        },
        "claim_closed": {"claim_id": "CL000000001", "policy_id": "P000000001"},
    },
    SERVICING: {
        "inquiry_opened": {
            "case_id": "SV000000001",
            "case_kind": "inquiry",
            "channel": "phone",
            "category": "coverage",
            "policy_id": "P000000001",
        },
        "inquiry_responded": {"case_id": "SV000000001", "case_kind": "inquiry"},
        "inquiry_resolved": {"case_id": "SV000000001", "case_kind": "inquiry"},
        "complaint_opened": {
            "case_id": "SV000000002",
            "case_kind": "complaint",
            "channel": "wechat",
            "category": "claim_delay",
            "claim_id": "CL000000001",
        },
        "complaint_resolved": {"case_id": "SV000000002", "case_kind": "complaint"},
        "policy_change_requested": {
            "case_id": "SV000000003",
            "case_kind": "policy_change",
            "policy_id": "P000000001",
            "category": "address_change",
        },
        "policy_change_completed": {
            "case_id": "SV000000003",
            "case_kind": "policy_change",
            "policy_id": "P000000001",
        },
        "survey_answered": {
            "case_id": "SV000000004",
            "case_kind": "survey",
            "nps_score": 9,
            "related_case_id": "SV000000001",
        },
    },
}


def input_samples() -> list[tuple[str, dict[str, Any]]]:
    out = []
    n = 0
    for topic, types in DOMAIN_FIELDS.items():
        for event_type, fields in types.items():
            n += 1
            out.append((topic, {**_envelope(topic, event_type, n), **fields}))
    return out


def output_samples() -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            CUSTOMER_PROFILE,
            {
                "customer_id": "C0000001",
                "person_key": "9f" * 32,
                "segment": "standard",
                "policies": {
                    "active_count": 2,
                    "product_lines": ["health", "life"],
                    "total_annual_premium": Decimal("4109.55"),
                    "total_sum_assured": Decimal("3000000"),
                    "next_renewal_due": date(2026, 3, 20),
                },
                "underwriting": {
                    "latest_decision": "rated",
                    "rated": True,
                    "exclusion": False,
                    "pending_applications": 0,
                },
                "claims": {
                    "total": 3,
                    "open": 1,
                    "paid_amount": Decimal("1100"),
                    "last_claim_at": T0,
                    "count_30d": 1,
                    "count_90d": 2,
                    "count_365d": 3,
                },
                "servicing": {
                    "open_inquiries": 0,
                    "complaints_90d": 1,
                    "last_nps": 9,
                    "last_contact_at": T0,
                },
                "sla_breaches_90d": 1,
                "anomaly_flags": ["early_claim"],
                "first_seen_at": T0 - timedelta(days=300),
                "last_event_at": T0,
                "version": 17,
            },
        ),
        (
            SLA_BREACH,
            {
                "breach_id": "b-1",
                "rule": "claim_acceptance",
                "segment": "standard",
                "customer_id": "C0000001",
                "subject_id": "CL000000001",
                "started_at": T0,
                "deadline_at": T0 + timedelta(days=3),
                "status": "completed_late",
                "detected_at": T0 + timedelta(days=4),
                "completed_at": T0 + timedelta(days=4),
                "duration_seconds": 4 * 86400,
                "limit_seconds": 3 * 86400,
            },
        ),
        (
            SLA_OUTCOME,
            {
                "outcome_id": "o-1",
                "rule": "inquiry_first_response",
                "segment": "standard",
                "customer_id": "C0000001",
                "subject_id": "SV000000001",
                "started_at": T0,
                "deadline_at": T0 + timedelta(hours=12),
                "status": "met",
                "detected_at": T0 + timedelta(hours=1),
                "completed_at": T0 + timedelta(hours=1),
                "duration_seconds": 3600,
                "limit_seconds": 43200,
            },
        ),
        (
            CLAIM_ANOMALY,
            {
                "anomaly_id": "a-1",
                "kind": "provider_spike",
                "subject_type": "provider",
                "subject_id": "HOSP-0007",
                "window_start": T0,
                "window_end": T0 + timedelta(days=1),
                "observed": 18.0,
                "expected": 0.6,
                "score": 22.5,
                "evidence_claim_ids": ["CL000000001", "CL000000002"],
                "detected_at": T0,
            },
        ),
        (
            DEAD_LETTER,
            {
                "value": b"\xc3\x01garbage",
                "key": b"C0000001",
                "topic": "insurance.claims.v1",
                "partition": 3,
                "offset": 42,
                "reason": "field '$': truncated",
                "error_kind": "malformed",
                "field": "$",
                "received_at": T0,
            },
        ),
    ]


def sample(topic: str, event_type: str | None = None) -> dict[str, Any]:
    """A copy of a topic's input sample (the first, or the one of ``event_type``)."""
    for t, event in input_samples():
        if t == topic and (event_type is None or event["event_type"] == event_type):
            return dict(event)
    raise KeyError(topic)
