"""Everything that shapes the synthetic insurer.

The SLA figures and the business calendar are not kept here: ``SlaFigures`` takes them from
the hub's own rules (streams/domain/sla/rules.yml, or the file ``HUB_SLA_RULES`` names, exactly as
the worker loads them), and the ground truth computes deadlines with the rules' own
functions, so what the generator says should breach is what the hub's rules say.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from streams.domain.calendar import BusinessCalendar
from streams.domain.sla.rules import Limit, Rule, RuleSet, load_rules
from streams.events import normalise
from streams.settings import Settings
from streams.units import DAY_S, SECOND_MS

# SLA rule names (also the ``rule`` field of insurance.sla-breach.v1): the rules the generator
# simulates. Their figures come from the rules file, which must define all of them.
INQUIRY_FIRST_RESPONSE = "inquiry_first_response"
CLAIM_ACCEPTANCE = "claim_acceptance"
CLAIM_SETTLEMENT = "claim_settlement"
SMALL_CLAIM_PAYMENT = "small_claim_payment"
COMPLAINT_RESOLUTION = "complaint_resolution"
RENEWAL_REMINDER = "renewal_reminder"
SLA_RULES = (
    INQUIRY_FIRST_RESPONSE,
    CLAIM_ACCEPTANCE,
    CLAIM_SETTLEMENT,
    SMALL_CLAIM_PAYMENT,
    COMPLAINT_RESOLUTION,
    RENEWAL_REMINDER,
)
#: rules with a duration limit (the others: renewal_reminder counts back from a due date)
LIMITED_RULES = tuple(r for r in SLA_RULES if r != RENEWAL_REMINDER)

SEGMENT_STANDARD = "standard"
SEGMENT_AFFLUENT = "affluent"
SEGMENT_HNW = "high_net_worth"

_EPOCH_DATE = date(1970, 1, 1)


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def hub_rules(path: Path | None = None) -> RuleSet:
    """The SLA rules of ``path`` (the settings' rules file when none), loaded once per file."""
    return _rules_of(path or Settings.from_env().rules.sla)


@functools.lru_cache(maxsize=8)
def _rules_of(path: Path) -> RuleSet:
    return load_rules(path)


def _limit_json(limit: Limit) -> dict[str, int]:
    if limit.working_days:
        return {"working_days": limit.working_days}
    return {"seconds": limit.ms // SECOND_MS}


@dataclass(frozen=True)
class SlaFigures:
    """The hub's SLA rules, as the generator plans with them and grades its ground truth.

    Nothing is restated here: limits per rule and segment, the small-claim threshold and
    working days, the renewal reminder's lead per segment and the business calendar are read
    from the ``RuleSet`` (by default ``load_rules()``, which honours ``HUB_SLA_RULES`` like the
    worker), and deadlines are computed by ``Rule.deadline`` / ``Limit.deadline``, the
    functions the worker's engine calls, on start events normalised as the worker does.
    """

    rules: RuleSet = field(default_factory=hub_rules)

    def __post_init__(self) -> None:
        names = {r.name for r in self.rules.rules}
        missing = [name for name in SLA_RULES if name not in names]
        if missing:
            raise ValueError(
                "the SLA rules lack rules the generator simulates: " + ", ".join(missing)
            )
        for name in LIMITED_RULES:
            if self.rules.by_name(name).limit is None:
                raise ValueError(f"SLA rule {name}: the generator needs a 'limit'")
        if not self.rules.by_name(RENEWAL_REMINDER).deadline_field:
            raise ValueError(f"SLA rule {RENEWAL_REMINDER}: the generator needs 'deadline_from'")
        if self.rules.by_name(SMALL_CLAIM_PAYMENT).when_below is None:
            raise ValueError(f"SLA rule {SMALL_CLAIM_PAYMENT}: the generator needs 'when.below'")

    @classmethod
    def load(cls, path: Path | None = None) -> SlaFigures:
        """The rules at ``path`` (default: ``HUB_SLA_RULES`` or streams/domain/sla/rules.yml)."""
        return cls(hub_rules(path))

    @property
    def calendar(self) -> BusinessCalendar:
        return self.rules.calendar

    def rule(self, name: str) -> Rule:
        return self.rules.by_name(name)

    def limit(self, rule: str, segment: str) -> Limit:
        """The limit of a duration rule for a customer segment."""
        limit = self.rule(rule).limit_for(segment)
        if limit is None:
            raise ValueError(f"SLA rule {rule} has no duration limit")
        return limit

    def deadline(
        self, rule: str, segment: str, start_ms: int, start_event: Mapping[str, Any] | None = None
    ) -> int:
        """The hub's deadline for an obligation started at ``start_ms``.

        ``start_event``: fields of the start event as published (contract names and types,
        e.g. ``renewal_due_date``), normalised here as the worker normalises them.
        """
        event = normalise("", dict(start_event or {}))
        return self.rule(rule).deadline(event, start_ms, segment, self.calendar)

    def opens(self, rule: str, event: Mapping[str, Any]) -> bool:
        """Whether the hub opens an obligation of ``rule`` for ``event`` (as published)."""
        r = self.rule(rule)
        return event.get("event_type") in r.start and r.applies(normalise("", dict(event)))

    def renewal_lead_ms(self, segment: str) -> int:
        """How long before the renewal due date (00:00 UTC) the reminder is due."""
        return -self.deadline(RENEWAL_REMINDER, segment, 0, {"renewal_due_date": _EPOCH_DATE})

    @property
    def small_claim_threshold(self) -> Decimal:
        """Claims with a claimed amount below this are small claims."""
        return Decimal(str(self.rule(SMALL_CLAIM_PAYMENT).when_below))

    def to_json(self) -> dict[str, Any]:
        """The figures the run used (recorded in the ground truth)."""
        cal = self.calendar
        out: dict[str, Any] = {"calendar": {"country": cal.country, "timezone": cal.timezone}}
        for name in SLA_RULES:
            rule = self.rule(name)
            spec: dict[str, Any] = {"start": sorted(rule.start), "end": sorted(rule.end)}
            if rule.limit is not None:
                spec["limit"] = _limit_json(rule.limit)
                spec["segments"] = {s: _limit_json(v) for s, v in rule.segment_limits.items()}
            else:
                spec["days_before"] = rule.days_before
                spec["segments"] = {
                    s: {"days_before": d} for s, d in rule.segment_days_before.items()
                }
            if rule.when_field is not None:
                spec["when"] = {"field": rule.when_field, "below": rule.when_below}
            out[name] = spec
        return out


@dataclass(frozen=True)
class GeneratorConfig:
    """Size, behaviour and injected faults of one synthetic run (deterministic per seed).

    Rates are per year, the way insurers quote them; they are applied over ``days`` of
    simulated business starting at ``start``.
    """

    seed: int = 42
    customers: int = 20_000
    days: float = 30.0
    #: Simulated time starts here (a Monday; the 30 days include the Spring Festival holiday
    #: and two worked weekend days, which exercises the working-day rule).
    start: datetime = datetime(2026, 2, 2, tzinfo=UTC)
    #: Publish the policies already in force (issued in the year before ``start``) and recent
    #: renewal reminders first, at their historical times, so profiles and renewal rules start
    #: from a realistic book.
    backfill: bool = True
    segments: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {SEGMENT_STANDARD: 0.78, SEGMENT_AFFLUENT: 0.17, SEGMENT_HNW: 0.05}
        )
    )
    #: Share of customers with no policy yet (prospects: they get quotes).
    prospect_share: float = 0.10
    #: Expected claims per policy-year, by product line.
    claim_frequency: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {"life": 0.005, "health": 0.45, "motor": 0.20, "property": 0.05}
        )
    )
    inquiries_per_customer_year: float = 1.8
    complaints_per_customer_year: float = 0.12
    policy_changes_per_policy_year: float = 0.4
    quotes_per_customer_year: float = 0.6
    cancellations_per_policy_year: float = 0.02
    renewal_rate: float = 0.85
    #: An unrenewed policy lapses this long after its renewal due date.
    lapse_grace_days: int = 15
    survey_response_share: float = 0.25
    #: Most SLA completions are on time; this share of obligations completes late ...
    late_share: float = 0.08
    #: ... and this share never completes.
    missing_share: float = 0.02
    # -- injected risk signals --
    high_frequency_claimants: int = 3
    high_frequency_claims: tuple[int, int] = (6, 10)
    provider_spikes: int = 2
    provider_spike_claims: tuple[int, int] = (15, 25)
    early_claims: int = 10
    #: A claim reported within this many days of its policy's start is "early"; natural claims
    #: never are, so every early claim in the ground truth is an injected one.
    early_claim_days: int = 30
    # -- injected delivery faults --
    duplicate_share: float = 0.002
    out_of_order_share: float = 0.002
    max_out_of_order_s: int = 1800
    malformed_bad_bytes: int = 5
    malformed_schema_invalid: int = 5
    malformed_unknown_type: int = 5
    #: Share of valid events sent as JSON instead of Avro (sources starting with JSON).
    json_share: float = 0.0
    #: SLA figures and business calendar: the hub's rules (see ``SlaFigures``)
    sla: SlaFigures = field(default_factory=SlaFigures.load)

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be at least 1")
        if self.days <= 0:
            raise ValueError("days must be positive")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        for name in (
            "late_share",
            "missing_share",
            "duplicate_share",
            "out_of_order_share",
            "json_share",
            "prospect_share",
            "survey_response_share",
            "renewal_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.late_share + self.missing_share > 1.0:
            raise ValueError("late_share + missing_share must not exceed 1")
        if abs(sum(self.segments.values()) - 1.0) > 1e-6:
            raise ValueError("segment shares must add up to 1")

    @property
    def calendar(self) -> BusinessCalendar:
        """The business calendar of the hub's SLA rules (working days, local dates)."""
        return self.sla.calendar

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * SECOND_MS)

    @property
    def end_ms(self) -> int:
        return self.start_ms + int(self.days * DAY_S * SECOND_MS)

    def with_(self, **changes: Any) -> GeneratorConfig:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The knobs as JSON (recorded in the ground truth so a run can be reproduced)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, SlaFigures):
                value = value.to_json()
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out
