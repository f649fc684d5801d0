"""The shapes of a customer's state parts and of the records the domain logic produces.

``TypedDict``s, so they are plain dicts at runtime: the state is stored as JSON
(:meth:`streams.domain.customer.CustomerState.dumps`) and the output records are Avro-encoded
by the worker exactly as before; only mypy sees the types. The output records follow their
contracts in ``schemas/insurance.*.avsc`` field for field (times are epoch milliseconds,
money a :class:`~decimal.Decimal`, an Avro date a :class:`datetime.date`).

The events the processor reads stay ``dict[str, Any]`` (:data:`streams.events.Event`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal, NotRequired, Required, TypedDict

# -- enums of the contracts ---------------------------------------------------------------

UnderwritingDecision = Literal["standard", "rated", "exclusion", "declined", "postponed"]
BreachStatus = Literal["breached", "completed_late"]
OutcomeStatus = Literal["met", "completed_late"]
AnomalyKind = Literal["high_frequency_customer", "provider_spike", "early_claim"]
AnomalySubject = Literal["customer", "provider", "claim"]

# -- parts of a customer's state (CustomerState) ------------------------------------------


class Policy(TypedDict, total=False):
    """A policy of the customer, from the sales events (``CustomerState.policies``)."""

    status: Required[Literal["quoted", "active", "inactive"]]
    product_line: str
    premium: float  # annual premium
    sum_assured: float
    renewal_ms: int  # renewal due date (midnight UTC)
    start_ms: int  # inception: the earliest policy start read (early claims count from it)


class Claim(TypedDict):
    """A claim of the customer (``CustomerState.claims``)."""

    reported_ms: int
    status: Literal["open", "closed"]
    paid: float
    provider_id: NotRequired[str]
    policy_id: NotRequired[str]
    early_flagged: NotRequired[bool]  # its early_claim anomaly was published


class Obligation(TypedDict):
    """An SLA obligation (``CustomerState.obligations``, see streams/domain/sla/engine.py)."""

    rule: str
    subject_id: str
    customer_id: str
    start_ms: int
    # Segment ("" for the rule's default) -> [deadline_ms, limit_s]: a list, as JSON has it.
    by_segment: dict[str, list[int]]
    status: Literal["open", "breached"]
    completed_ms: int | None
    # Fixed from the segment known when it is checked or closed (engine._settle):
    segment: str
    deadline_ms: int
    limit_s: int


class AnomalyFlag(TypedDict):
    """A customer anomaly kind in the state (``CustomerState.anomaly``, by kind).

    All the early-claim marker holds, and all a closed high-frequency episode keeps.
    """

    active: bool
    since: int


class AnomalyEpisode(AnomalyFlag, total=False):
    """An open high-frequency episode: the flag, and what its next version needs."""

    anomaly_id: str  # every version of the episode keeps it
    detected_at: int  # the last version's
    as_of: int  # the end of the window the last version counted
    digest: str  # detect.content_digest of the last version


# -- output records -----------------------------------------------------------------------


class PolicySummary(TypedDict):
    active_count: int
    product_lines: list[str]
    total_annual_premium: Decimal
    total_sum_assured: Decimal
    next_renewal_due: dt.date | None


class UnderwritingSummary(TypedDict):
    latest_decision: UnderwritingDecision | None
    rated: bool
    exclusion: bool
    pending_applications: int


class ClaimSummary(TypedDict):
    total: int
    open: int
    paid_amount: Decimal
    last_claim_at: int | None
    count_30d: int
    count_90d: int
    count_365d: int


class ServicingSummary(TypedDict):
    open_inquiries: int
    complaints_90d: int
    last_nps: int | None
    last_contact_at: int | None


class ProfileRecord(TypedDict):
    """``insurance.customer-profile.v1``, keyed by ``customer_id``."""

    customer_id: str
    person_key: str | None
    segment: str | None
    policies: PolicySummary
    underwriting: UnderwritingSummary
    claims: ClaimSummary
    servicing: ServicingSummary
    sla_breaches_90d: int
    anomaly_flags: list[str]
    first_seen_at: int
    last_event_at: int
    version: int


class SlaFields(TypedDict):
    """What a breach and an outcome record both say about an obligation."""

    rule: str
    segment: str
    customer_id: str
    subject_id: str
    started_at: int
    deadline_at: int
    detected_at: int
    completed_at: int | None
    duration_seconds: int | None
    limit_seconds: int


class SlaBreachRecord(SlaFields):
    """``insurance.sla-breach.v1``, keyed by ``customer_id``."""

    breach_id: str
    status: BreachStatus


class SlaOutcomeRecord(SlaFields):
    """``insurance.sla-outcome.v1``, keyed by ``customer_id``."""

    outcome_id: str
    status: OutcomeStatus


class AnomalyFigures(TypedDict):
    """An anomaly as detected (streams/domain/anomaly/detect.py), before its version time."""

    anomaly_id: str
    kind: AnomalyKind
    subject_type: AnomalySubject
    subject_id: str
    window_start: int
    window_end: int
    observed: float
    expected: float
    score: float
    evidence_claim_ids: list[str]


class AnomalyRecord(AnomalyFigures):
    """``insurance.claim-anomaly.v1``, keyed by ``subject_id``."""

    detected_at: int  # the version: ClickHouse keeps the largest per anomaly_id


#: A record of one of the worker's output topics.
OutputRecord = ProfileRecord | SlaBreachRecord | SlaOutcomeRecord | AnomalyRecord


class ProviderClaim(TypedDict):
    """A claim_reported forwarded to the provider agent, keyed by ``provider_id`` (JSON)."""

    provider_id: str
    claim_id: str
    occurred_at: int
    resent: NotRequired[bool]  # set by the worker when it re-sends it from an outbox
