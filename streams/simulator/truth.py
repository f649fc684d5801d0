"""What a generator run published and injected, so tests can grade the hub against it.

Everything here is recorded when the event is handed out (not when it is planned), so the
ground truth describes exactly the records a consumer of ``generate_events`` received, even
when the run is cut short.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .config import SlaFigures

ON_TIME = "on_time"
LATE = "late"
MISSING = "missing"
OPEN = "open"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO-8601 UTC with a Z (None stays None)."""
    if ms is None:
        return None
    dt = _EPOCH + timedelta(milliseconds=ms)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str | None) -> int | None:
    if text is None:
        return None
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (dt - _EPOCH) // timedelta(milliseconds=1)


@dataclass
class SlaObligation:
    """One service-level obligation the run created, and how it ended.

    ``outcome``: on_time, late (completed after the deadline), missing (no completion and
    the deadline is before ``generated_until``), open (no completion, deadline still ahead).
    ``should_breach`` is true for late and missing: what the hub must report under the rules
    the run was generated with (``GeneratorConfig.sla``). ``injected`` is what the generator
    intended (late, missing or None); an obligation can also end late as a knock-on effect
    (a late acceptance delays payment).
    """

    rule: str
    subject_id: str
    customer_id: str
    segment: str
    limit_s: int
    injected: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    deadline_ms: int | None = None
    start_event_id: str | None = None
    end_event_id: str | None = None
    due_date: date | None = None
    outcome: str = OPEN
    should_breach: bool = False

    def settle(self, sla: SlaFigures, until_ms: int) -> None:
        """Compute deadline, outcome and should_breach from the published times.

        The deadline is the hub's: ``Rule.deadline`` of the rules the generator ran with, on
        the start event's published fields (the renewal due date for renewal reminders).
        """
        if self.start_ms is None:
            return
        start_event = {} if self.due_date is None else {"renewal_due_date": self.due_date}
        self.deadline_ms = sla.deadline(self.rule, self.segment, self.start_ms, start_event)
        if self.end_ms is not None:
            self.outcome = LATE if self.end_ms > self.deadline_ms else ON_TIME
        elif self.deadline_ms <= until_ms:
            self.outcome = MISSING
        else:
            self.outcome = OPEN
        self.should_breach = self.outcome in (LATE, MISSING)

    def to_json(self) -> dict[str, Any]:
        duration = None
        if self.end_ms is not None and self.start_ms is not None:
            duration = (self.end_ms - self.start_ms) // 1000
        limit = self.limit_s
        if self.deadline_ms is not None and self.start_ms is not None:
            limit = (self.deadline_ms - self.start_ms) // 1000
        return {
            "rule": self.rule,
            "subject_id": self.subject_id,
            "customer_id": self.customer_id,
            "segment": self.segment,
            "start": iso(self.start_ms),
            "deadline": iso(self.deadline_ms),
            "end": iso(self.end_ms),
            "limit_seconds": limit,
            "duration_seconds": duration,
            "outcome": self.outcome,
            "should_breach": self.should_breach,
            "injected": self.injected,
            "start_event_id": self.start_event_id,
            "end_event_id": self.end_event_id,
            "due_date": self.due_date.isoformat() if self.due_date else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlaObligation:
        ob = cls(
            rule=data["rule"],
            subject_id=data["subject_id"],
            customer_id=data["customer_id"],
            segment=data["segment"],
            limit_s=int(data["limit_seconds"]),
            injected=data.get("injected"),
            start_ms=parse_iso(data.get("start")),
            end_ms=parse_iso(data.get("end")),
            deadline_ms=parse_iso(data.get("deadline")),
            start_event_id=data.get("start_event_id"),
            end_event_id=data.get("end_event_id"),
            due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
            outcome=data["outcome"],
            should_breach=bool(data["should_breach"]),
        )
        return ob


@dataclass
class DuplicateInjection:
    """A valid event published a second time (same event_id, same bytes)."""

    event_id: str
    topic: str
    customer_id: str
    delay_ms: int


@dataclass
class OutOfOrderInjection:
    """A valid event published ``delay_ms`` of simulated time after its turn."""

    event_id: str
    topic: str
    customer_id: str
    delay_ms: int


@dataclass
class MalformedInjection:
    """A record the hub must refuse, with the dead-letter ``error_kind`` it must get."""

    topic: str
    kind: str  # bad_bytes | schema_invalid | unknown_event_type
    expected_error_kind: str  # malformed | schema_invalid | unknown_event_type
    key: str
    value_sha256: str
    description: str


@dataclass
class HighFrequencyInjection:
    customer_id: str
    claim_ids: list[str] = field(default_factory=list)


@dataclass
class ProviderSpikeInjection:
    provider_id: str
    day: str  # local calendar date (business calendar offset), ISO
    claim_ids: list[str] = field(default_factory=list)


@dataclass
class EarlyClaimInjection:
    claim_id: str
    policy_id: str
    customer_id: str
    policy_start_date: str
    days_after_start: float


@dataclass
class GroundTruth:
    """Counts and injections of one run; ``to_json``/``write`` for tests and the demo."""

    seed: int
    clock: str
    config: dict[str, Any]
    window_start_ms: int
    window_end_ms: int
    generated_until_ms: int = 0
    complete: bool = False
    customers: int = 0
    segments: dict[str, int] = field(default_factory=dict)
    #: distinct valid events handed out, by logical topic and event type (duplicates excluded)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: every record handed out per logical topic: valid + duplicates + malformed
    records: dict[str, int] = field(default_factory=dict)
    json_encoded: int = 0
    duplicates: list[DuplicateInjection] = field(default_factory=list)
    out_of_order: list[OutOfOrderInjection] = field(default_factory=list)
    malformed: list[MalformedInjection] = field(default_factory=list)
    sla_obligations: list[SlaObligation] = field(default_factory=list)
    #: renewal obligations whose deadline lies beyond the run and have no reminder yet
    renewal_obligations_open: int = 0
    high_frequency_customers: list[HighFrequencyInjection] = field(default_factory=list)
    provider_spikes: list[ProviderSpikeInjection] = field(default_factory=list)
    early_claims: list[EarlyClaimInjection] = field(default_factory=list)

    # -- views -------------------------------------------------------------------------

    @property
    def total_events(self) -> int:
        return sum(sum(types.values()) for types in self.counts.values())

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def malformed_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.malformed:
            out[m.kind] = out.get(m.kind, 0) + 1
        return out

    @property
    def expected_breaches(self) -> list[SlaObligation]:
        return [o for o in self.sla_obligations if o.should_breach]

    # -- JSON --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "clock": self.clock,
            "config": self.config,
            "window_start": iso(self.window_start_ms),
            "window_end": iso(self.window_end_ms),
            "generated_until": iso(self.generated_until_ms),
            "complete": self.complete,
            "customers": self.customers,
            "segments": self.segments,
            "total_events": self.total_events,
            "total_records": self.total_records,
            "counts": self.counts,
            "records": self.records,
            "json_encoded": self.json_encoded,
            "duplicates": [asdict(d) for d in self.duplicates],
            "out_of_order": [asdict(o) for o in self.out_of_order],
            "malformed_counts": self.malformed_counts,
            "malformed": [asdict(m) for m in self.malformed],
            "sla_summary": self.sla_summary(),
            "sla_obligations": [o.to_json() for o in self.sla_obligations],
            "renewal_obligations_open": self.renewal_obligations_open,
            "high_frequency_customers": [asdict(h) for h in self.high_frequency_customers],
            "provider_spikes": [asdict(p) for p in self.provider_spikes],
            "early_claims": [asdict(e) for e in self.early_claims],
        }

    def sla_summary(self) -> dict[str, dict[str, int]]:
        """Obligations per rule and outcome."""
        out: dict[str, dict[str, int]] = {}
        for o in self.sla_obligations:
            per_rule = out.setdefault(o.rule, {})
            per_rule[o.outcome] = per_rule.get(o.outcome, 0) + 1
        return out

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroundTruth:
        return cls(
            seed=data["seed"],
            clock=data["clock"],
            config=data["config"],
            window_start_ms=parse_iso(data["window_start"]) or 0,
            window_end_ms=parse_iso(data["window_end"]) or 0,
            generated_until_ms=parse_iso(data["generated_until"]) or 0,
            complete=data["complete"],
            customers=data["customers"],
            segments=dict(data["segments"]),
            counts={k: dict(v) for k, v in data["counts"].items()},
            records=dict(data["records"]),
            json_encoded=data["json_encoded"],
            duplicates=[DuplicateInjection(**d) for d in data["duplicates"]],
            out_of_order=[OutOfOrderInjection(**o) for o in data["out_of_order"]],
            malformed=[MalformedInjection(**m) for m in data["malformed"]],
            sla_obligations=[SlaObligation.from_json(o) for o in data["sla_obligations"]],
            renewal_obligations_open=data.get("renewal_obligations_open", 0),
            high_frequency_customers=[
                HighFrequencyInjection(**h) for h in data["high_frequency_customers"]
            ],
            provider_spikes=[ProviderSpikeInjection(**p) for p in data["provider_spikes"]],
            early_claims=[EarlyClaimInjection(**e) for e in data["early_claims"]],
        )

    @classmethod
    def read(cls, path: str | Path) -> GroundTruth:
        return cls.from_json(json.loads(Path(path).read_text()))
