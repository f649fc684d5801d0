"""One customer's state: the profile, open SLA obligations and the ids already applied.

Stored as one JSON value per customer in the worker's RocksDB table, so applying an event
costs one table write however many parts of the profile it touches.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypeVar, get_args

from streams.domain.records import (
    AnomalyEpisode,
    Claim,
    Obligation,
    Policy,
    ProfileRecord,
    UnderwritingDecision,
)
from streams.events import Event
from streams.pii import pii_hash
from streams.units import DAY_MS, SECOND_MS

CLOSED_CLAIM = {"claim_paid", "claim_rejected", "claim_closed"}
INACTIVE_POLICY = {"policy_lapsed", "policy_cancelled"}
DECISIONS: frozenset[str] = frozenset(get_args(UnderwritingDecision))
_CopiedField = Literal["product_line", "premium", "sum_assured", "renewal_ms"]
#: Sales event fields copied onto the policy (event field, policy field).
_POLICY_FIELDS: tuple[tuple[str, _CopiedField], ...] = (
    ("product_line", "product_line"),
    ("annual_premium", "premium"),
    ("sum_assured", "sum_assured"),
    ("renewal_date", "renewal_ms"),
)
_V = TypeVar("_V")


@dataclass
class CustomerState:
    customer_id: str
    partition: int = -1  # input partition, so recovery can rebuild per-partition deadline heaps
    segment: str = "standard"
    person_key: str | None = None
    first_seen_ms: int = 0
    last_event_ms: int = 0
    version: int = 0
    policies: dict[str, Policy] = field(default_factory=dict)
    applications: dict[str, str] = field(default_factory=dict)  # id -> pending | decision
    latest_decision: UnderwritingDecision | None = None
    claims: dict[str, Claim] = field(default_factory=dict)
    claims_total: int = 0
    paid_total: float = 0.0
    open_inquiries: list[str] = field(default_factory=list)
    complaint_times: list[int] = field(default_factory=list)
    last_nps: int | None = None
    last_contact_ms: int | None = None
    breach_times: list[int] = field(default_factory=list)
    obligations: dict[str, Obligation] = field(default_factory=dict)  # rule|subject -> obligation
    early_ends: dict[str, int] = field(default_factory=dict)  # rule|subject -> end read first
    anomaly: dict[str, AnomalyEpisode] = field(default_factory=dict)  # kind -> flag or episode
    seen: dict[str, int] = field(default_factory=dict)  # event_id -> occurred_at
    # Free-form: [topic, partition, offset, outputs] entries (JSON lists) that
    # streams/worker/outbox.py owns; the domain logic only carries them.
    outbox: list[list[Any]] = field(default_factory=list)

    def dumps(self) -> bytes:
        # Every field is already JSON-native; asdict() would deep-copy the lot for nothing.
        return json.dumps(self.__dict__, separators=(",", ":")).encode()

    @classmethod
    def loads(cls, raw: bytes) -> CustomerState:
        return cls(**json.loads(raw))


def person_key(secret: bytes, id_number: str) -> str:
    """A keyed hash: a stable link between records without the ID number in clear."""
    return pii_hash(secret, id_number)


def apply_domain_fields(state: CustomerState, e: Event, secret: bytes) -> None:
    """Fold one event's domain facts into the profile (SLA and anomalies are elsewhere)."""
    t, etype = e["occurred_at"], e["event_type"]
    if not state.first_seen_ms or t < state.first_seen_ms:
        state.first_seen_ms = t
    state.last_event_ms = max(state.last_event_ms, t)
    if e.get("segment"):
        state.segment = e["segment"]
    if e.get("id_number") and state.person_key is None:
        state.person_key = person_key(secret, str(e["id_number"]))

    policy_id = e.get("policy_id")
    if e["domain"] == "sales" and policy_id:
        p = state.policies.setdefault(policy_id, {"status": "quoted"})
        for src, dst in _POLICY_FIELDS:
            if e.get(src) is not None:
                p[dst] = e[src]
        if e.get("policy_start") is not None:
            # Inception: a renewal's new term start is not when the policy began (early
            # claims count from inception), whichever of the two events is read first.
            p["start_ms"] = min(p.get("start_ms", e["policy_start"]), e["policy_start"])
        if etype in ("policy_issued", "policy_renewed"):
            p["status"] = "active"
        elif etype in INACTIVE_POLICY:
            p["status"] = "inactive"
    elif e["domain"] == "underwriting" and e.get("application_id"):
        decision = e.get("decision")
        if decision in DECISIONS:
            state.applications[e["application_id"]] = decision
            state.latest_decision = decision
        else:
            state.applications.setdefault(e["application_id"], "pending")
    elif e["domain"] == "claims" and e.get("claim_id"):
        c = state.claims.get(e["claim_id"])
        if c is None:
            c = state.claims[e["claim_id"]] = {"reported_ms": t, "status": "open", "paid": 0.0}
            state.claims_total += 1
        if etype == "claim_reported":
            c["reported_ms"] = min(c["reported_ms"], t)
        if e.get("provider_id"):
            c["provider_id"] = e["provider_id"]
        if e.get("policy_id"):
            c["policy_id"] = e["policy_id"]
        if etype == "claim_paid" and e.get("paid_amount") is not None:
            state.paid_total += float(e["paid_amount"]) - c["paid"]
            c["paid"] = float(e["paid_amount"])
        if etype in CLOSED_CLAIM:
            c["status"] = "closed"
    elif e["domain"] == "servicing":
        state.last_contact_ms = max(state.last_contact_ms or 0, t)
        case = e.get("case_id")
        if etype == "inquiry_opened" and case and case not in state.open_inquiries:
            state.open_inquiries.append(case)
        elif etype == "inquiry_resolved" and case in state.open_inquiries:
            state.open_inquiries.remove(case)
        elif etype == "complaint_opened":
            state.complaint_times.append(t)
        if e.get("nps_score") is not None:
            state.last_nps = int(e["nps_score"])


#: Most entries kept per part of a customer's state, so its row stays far below Kafka's
#: 1 MB request size however many events one customer gets (identifiers are at most 128
#: characters by contract). The oldest go first; hub_worker_state_pruned_total counts them.
STATE_CAPS = {
    "seen": 2000,
    "policies": 200,
    "applications": 200,
    "claims": 500,
    "obligations": 500,
    "early_ends": 200,
    "open_inquiries": 200,
    "complaint_times": 1000,
    "breach_times": 1000,
}


def _newest(items: dict[str, _V], cap: int, age: Callable[[_V], Any]) -> dict[str, _V]:
    return dict(sorted(items.items(), key=lambda kv: age(kv[1]))[-cap:])


def cap(state: CustomerState) -> dict[str, int]:
    """Drop the oldest entries over STATE_CAPS; returns how many went, per part."""
    before = {part: len(getattr(state, part)) for part in STATE_CAPS}
    over = {part for part, n in before.items() if n > STATE_CAPS[part]}
    if not over:
        return {}
    c = STATE_CAPS
    if "seen" in over:
        state.seen = _newest(state.seen, c["seen"], lambda t: t)
    if "policies" in over:  # lapsed and cancelled first, then the oldest
        state.policies = _newest(
            state.policies,
            c["policies"],
            lambda p: (p.get("status") == "active", p.get("start_ms") or 0),
        )
    if "applications" in over:  # insertion order is arrival order
        state.applications = dict(list(state.applications.items())[-c["applications"] :])
    if "claims" in over:
        state.claims = _newest(
            state.claims, c["claims"], lambda k: (k["status"] == "open", k["reported_ms"])
        )
    if "obligations" in over:  # decided ones first: an open one still owes a verdict
        state.obligations = _newest(
            state.obligations,
            c["obligations"],
            lambda ob: (ob.get("status") == "open", ob["deadline_ms"]),
        )
    if "early_ends" in over:
        state.early_ends = _newest(state.early_ends, c["early_ends"], lambda t: t)
    for part in ("open_inquiries", "complaint_times", "breach_times"):
        if part in over:
            setattr(state, part, getattr(state, part)[-c[part] :])
    return {part: before[part] - len(getattr(state, part)) for part in over}


def prune(state: CustomerState, now_ms: int, dedup_horizon_ms: int) -> None:
    """Bound the state: ids past the dedup horizon, closed claims and breaches past a year."""
    year_ago = now_ms - 365 * DAY_MS
    state.seen = {k: v for k, v in state.seen.items() if v >= now_ms - dedup_horizon_ms}
    state.claims = {
        k: c
        for k, c in state.claims.items()
        if c["status"] == "open" or c["reported_ms"] >= year_ago
    }
    state.complaint_times = [t for t in state.complaint_times if t >= now_ms - 90 * DAY_MS]
    state.breach_times = [t for t in state.breach_times if t >= now_ms - 90 * DAY_MS]
    state.obligations = {
        k: ob for k, ob in state.obligations.items() if ob["deadline_ms"] >= year_ago
    }
    state.early_ends = {k: t for k, t in state.early_ends.items() if t >= now_ms - dedup_horizon_ms}


def claim_times(state: CustomerState) -> list[int]:
    return sorted(c["reported_ms"] for c in state.claims.values())


def _money(x: float) -> Decimal:
    return Decimal(f"{x:.2f}")


def profile_record(state: CustomerState, as_of_ms: int) -> ProfileRecord:
    """The public profile of `insurance.customer-profile.v1` (no personal data in clear).

    Rolling counts are as of `as_of_ms` (the customer's last event time), so a replay of
    the same events yields the same profile whatever else the worker was doing.
    """
    active = [p for p in state.policies.values() if p.get("status") == "active"]
    times = claim_times(state)
    renewals = [
        p["renewal_ms"] for p in active if p.get("renewal_ms") and p["renewal_ms"] >= as_of_ms
    ]
    decisions = set(state.applications.values())

    def within(ts: list[int], days: int) -> int:
        return sum(1 for t in ts if t > as_of_ms - days * DAY_MS)

    return {
        "customer_id": state.customer_id,
        "person_key": state.person_key,
        "segment": state.segment,
        "policies": {
            "active_count": len(active),
            "product_lines": sorted({p["product_line"] for p in active if p.get("product_line")}),
            "total_annual_premium": _money(sum(float(p.get("premium") or 0) for p in active)),
            "total_sum_assured": _money(sum(float(p.get("sum_assured") or 0) for p in active)),
            "next_renewal_due": (
                dt.datetime.fromtimestamp(min(renewals) / SECOND_MS, tz=dt.UTC).date()
                if renewals
                else None
            ),
        },
        "underwriting": {
            "latest_decision": state.latest_decision,
            "rated": "rated" in decisions,
            "exclusion": "exclusion" in decisions,
            "pending_applications": sum(1 for d in state.applications.values() if d == "pending"),
        },
        "claims": {
            "total": state.claims_total,
            "open": sum(1 for c in state.claims.values() if c["status"] == "open"),
            "paid_amount": _money(state.paid_total),
            "last_claim_at": times[-1] if times else None,
            "count_30d": within(times, 30),
            "count_90d": within(times, 90),
            "count_365d": within(times, 365),
        },
        "servicing": {
            "open_inquiries": len(state.open_inquiries),
            "complaints_90d": within(state.complaint_times, 90),
            "last_nps": state.last_nps,
            "last_contact_at": state.last_contact_ms,
        },
        "sla_breaches_90d": within(state.breach_times, 90),
        "anomaly_flags": sorted(k for k, v in state.anomaly.items() if v.get("active")),
        "first_seen_at": state.first_seen_ms,
        "last_event_at": state.last_event_ms,
        "version": state.version,
    }
