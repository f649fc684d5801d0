"""SLA rules from YAML: when an obligation opens, what closes it, and its deadline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streams.domain.calendar import BusinessCalendar
from streams.events import Event, date_ms
from streams.settings import SLA_RULES_FILE, Settings
from streams.units import DAY_MS, DAY_S, HOUR_MS, MINUTE_MS, SECOND_MS

DEFAULT_RULES_FILE = SLA_RULES_FILE  # the packaged rules (HUB_SLA_RULES overrides them)
_UNIT_MS = {"seconds": SECOND_MS, "minutes": MINUTE_MS, "hours": HOUR_MS, "days": DAY_MS}


@dataclass(frozen=True)
class Limit:
    """A duration in milliseconds, or a count of working days on the business calendar."""

    ms: int = 0
    working_days: int = 0

    @classmethod
    def parse(cls, spec: dict[str, Any], where: str) -> Limit:  # a YAML mapping
        if not isinstance(spec, dict) or len(spec) != 1:
            raise ValueError(
                f"{where}: a limit is one of {{seconds|minutes|hours|days|working_days: N}}"
            )
        ((unit, amount),) = spec.items()
        if unit == "working_days":
            return cls(working_days=int(amount))
        if unit not in _UNIT_MS:
            raise ValueError(f"{where}: unknown unit {unit!r}")
        return cls(ms=int(float(amount) * _UNIT_MS[unit]))

    def deadline(self, start_ms: int, calendar: BusinessCalendar) -> int:
        if self.working_days:
            return calendar.add_working_days(start_ms, self.working_days)
        return start_ms + self.ms

    def nominal_seconds(self) -> int:
        """The limit as reported on breach records (a working day counts as 24 h)."""
        return self.ms // SECOND_MS if not self.working_days else self.working_days * DAY_S


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    start: frozenset[str]
    end: frozenset[str]
    match: str
    target: float
    limit: Limit | None = None
    segment_limits: dict[str, Limit] = field(default_factory=dict)
    when_field: str | None = None
    when_below: float | None = None
    deadline_field: str | None = None
    days_before: int = 0
    segment_days_before: dict[str, int] = field(default_factory=dict)

    def applies(self, event: Event) -> bool:
        if event.get(self.match) in (None, ""):
            return False
        if self.when_field is not None:
            value = event.get(self.when_field)
            if value is None or self.when_below is None or float(value) >= self.when_below:
                return False
        return not (self.deadline_field and not event.get(self.deadline_field))

    def limit_for(self, segment: str | None) -> Limit | None:
        if segment and segment in self.segment_limits:
            return self.segment_limits[segment]
        return self.limit

    @property
    def segments(self) -> list[str]:
        """Segments with limits of their own."""
        return sorted({*self.segment_limits, *self.segment_days_before})

    def deadline(
        self, event: Event, start_ms: int, segment: str | None, calendar: BusinessCalendar
    ) -> int:
        if self.deadline_field:
            due_ms = int(event[self.deadline_field])
            days = self.segment_days_before.get(segment or "", self.days_before)
            return due_ms - days * DAY_MS
        limit = self.limit_for(segment)
        assert limit is not None
        return limit.deadline(start_ms, calendar)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    calendar: BusinessCalendar
    allowed_lateness_ms: int
    quiet_ms: int  # a topic heard from this recently still holds its partition's watermark
    live_horizon_ms: int
    dedup_horizon_ms: int
    max_future_skew_ms: int  # occurred_at further ahead of the record's Kafka time: refused
    min_event_ms: int  # occurred_at before this floor: refused as implausible

    def starting(self, event_type: str) -> list[Rule]:
        return [r for r in self.rules if event_type in r.start]

    def ending(self, event_type: str) -> list[Rule]:
        return [r for r in self.rules if event_type in r.end]

    def by_name(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)


def _epoch_ms(value: Any, where: str) -> int:
    """Midnight UTC of a ``YYYY-MM-DD`` date (YAML may already have parsed it)."""
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from None
    return date_ms(day)


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules at `path`; by default the settings' (``HUB_SLA_RULES`` or the packaged file)."""
    path = path or Settings.from_env().rules.sla
    raw: dict[str, Any] = yaml.safe_load(path.read_text())  # free-form YAML, checked below
    cal = raw.get("calendar", {})
    rules = []
    for name, spec in raw["rules"].items():
        where = f"{path}: rule {name}"
        if ("limit" in spec) == ("deadline_from" in spec):
            raise ValueError(f"{where}: give exactly one of 'limit' or 'deadline_from'")
        when = spec.get("when") or {}
        deadline_from = spec.get("deadline_from") or {}
        rules.append(
            Rule(
                name=name,
                description=spec.get("description", ""),
                start=frozenset(spec["start"]),
                end=frozenset(spec["end"]),
                match=spec["match"],
                target=float(spec["target"]),
                limit=Limit.parse(spec["limit"], where) if "limit" in spec else None,
                segment_limits={
                    seg: Limit.parse(lim, f"{where} segment {seg}")
                    for seg, lim in (spec.get("segments") or {}).items()
                    if "limit" in spec
                },
                segment_days_before={
                    seg: int(lim["days_before"])
                    for seg, lim in (spec.get("segments") or {}).items()
                    if "deadline_from" in spec
                },
                when_field=when.get("field"),
                when_below=float(when["below"]) if "below" in when else None,
                deadline_field=deadline_from.get("field"),
                days_before=int(deadline_from.get("days_before", 0)),
            )
        )
    return RuleSet(
        rules=tuple(rules),
        calendar=BusinessCalendar(cal.get("country", "CN"), cal.get("timezone", "Asia/Shanghai")),
        allowed_lateness_ms=int(float(raw.get("allowed_lateness_seconds", 300)) * SECOND_MS),
        quiet_ms=int(float(raw.get("idle_advance_after_seconds", 5)) * SECOND_MS),
        live_horizon_ms=int(float(raw.get("live_horizon_hours", 72)) * HOUR_MS),
        dedup_horizon_ms=int(float(raw.get("dedup_horizon_days", 30)) * DAY_MS),
        max_future_skew_ms=int(float(raw.get("max_future_skew_seconds", 3600)) * SECOND_MS),
        min_event_ms=_epoch_ms(raw.get("min_event_time", "1990-01-01"), f"{path}: min_event_time"),
    )
