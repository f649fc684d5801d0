"""Obligations: opened by a start event, closed by an end event, breached at the deadline.

Pure functions over one customer's obligation map, so the same code runs in the Faust agent,
in replays and in unit tests. Event time only: `watermark_ms` decides what is overdue.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal

from streams.domain.records import Obligation, SlaBreachRecord, SlaFields, SlaOutcomeRecord
from streams.domain.sla.rules import Rule, RuleSet
from streams.events import Event
from streams.units import SECOND_MS

OPEN: Final = "open"
BREACHED: Final = "breached"
Kind = Literal["breached", "met", "completed_late"]


@dataclass(frozen=True)
class Outcome:
    """A breach (at the deadline) or a closed obligation: a record for the output topics."""

    kind: Kind
    record: SlaFields  # the obligation as its breach and outcome records report it

    @property
    def id(self) -> str:
        return breach_id(self.record["rule"], self.record["subject_id"], self.kind)

    def breach(self) -> SlaBreachRecord | None:
        """Its ``insurance.sla-breach.v1`` record: a breach, or an obligation completed late."""
        if self.kind == "met":
            return None
        return {"breach_id": self.id, **self.record, "status": self.kind}

    def outcome(self) -> SlaOutcomeRecord | None:
        """Its ``insurance.sla-outcome.v1`` record: an obligation closed, in time or late."""
        if self.kind == "breached":
            return None
        return {"outcome_id": self.id, **self.record, "status": self.kind}


def obligation_key(rule: str, subject_id: str) -> str:
    return f"{rule}|{subject_id}"


def breach_id(rule: str, subject_id: str, status: str) -> str:
    """Deterministic, so a replay re-sends the same id and downstream can deduplicate."""
    return hashlib.sha1(f"{rule}|{subject_id}|{status}".encode()).hexdigest()[:20]


def _outcome(kind: Kind, ob: Obligation, detected_at_ms: int, completed: int | None) -> Outcome:
    return Outcome(
        kind,
        {
            "rule": ob["rule"],
            "segment": ob["segment"],
            "customer_id": ob["customer_id"],
            "subject_id": ob["subject_id"],
            "started_at": ob["start_ms"],
            "deadline_at": ob["deadline_ms"],
            "detected_at": detected_at_ms,
            "completed_at": completed,
            "duration_seconds": (
                None if completed is None else (completed - ob["start_ms"]) // SECOND_MS
            ),
            "limit_seconds": ob["limit_s"],
        },
    )


def on_event(
    obligations: dict[str, Obligation],
    early_ends: dict[str, int],
    event: Event,
    segment: str,
    rules: RuleSet,
) -> list[Outcome]:
    """Open and close obligations for one (deduplicated) event."""
    out: list[Outcome] = []
    etype, t = event["event_type"], event["occurred_at"]
    for rule in rules.ending(etype):
        subject = event.get(rule.match)
        if not subject:
            continue
        key = obligation_key(rule.name, str(subject))
        ob = obligations.get(key)
        if ob is None:
            # End before start (out of order): remember it for when the start arrives.
            early_ends[key] = min(t, early_ends.get(key, t))
            continue
        _settle(ob, segment)
        out.extend(_close(obligations, key, ob, t))
    for rule in rules.starting(etype):
        if not rule.applies(event):
            continue
        subject = str(event[rule.match])
        key = obligation_key(rule.name, subject)
        if key in obligations:
            continue  # a second start for the same subject keeps the first deadline
        ob = _open(rule, event, subject, segment, rules)
        obligations[key] = ob
        if key in early_ends:
            out.extend(_close(obligations, key, ob, max(early_ends.pop(key), ob["start_ms"])))
    return out


def _open(rule: Rule, event: Event, subject: str, segment: str, rules: RuleSet) -> Obligation:
    """An open obligation, with its deadline for every segment the rule distinguishes.

    The customer's segment may arrive later than this event (a claim read from its topic
    before the policy is read from the sales topic), so the deadline that counts is chosen
    by the segment known when the obligation is checked or closed.
    """
    start = int(event["occurred_at"])
    by_segment: dict[str, list[int]] = {}
    for seg in (None, *rule.segments):
        deadline = rule.deadline(event, start, seg, rules.calendar)
        limit = rule.limit_for(seg)
        limit_s = limit.nominal_seconds() if limit else max(0, (deadline - start) // SECOND_MS)
        by_segment["" if seg is None else seg] = [deadline, limit_s]
    deadline, limit_s = _for_segment(by_segment, segment)
    return {
        "rule": rule.name,
        "subject_id": subject,
        "customer_id": event["customer_id"],
        "start_ms": start,
        "by_segment": by_segment,
        "status": OPEN,
        "completed_ms": None,
        "segment": segment,
        "deadline_ms": deadline,
        "limit_s": limit_s,
    }


def _for_segment(by_segment: dict[str, list[int]], segment: str) -> list[int]:
    """[deadline_ms, limit_s] for a segment: its own, or the rule's default."""
    return by_segment.get(segment) or by_segment[""]


def _settle(ob: Obligation, segment: str) -> None:
    """Fix segment, deadline and limit from the segment known now (until it is breached)."""
    if ob["status"] != OPEN:
        return
    deadline, limit_s = _for_segment(ob["by_segment"], segment)
    ob["segment"], ob["deadline_ms"], ob["limit_s"] = segment, deadline, limit_s


def _close(
    obligations: dict[str, Obligation], key: str, ob: Obligation, end_ms: int
) -> list[Outcome]:
    ob["completed_ms"] = end_ms
    del obligations[key]
    if ob["status"] == BREACHED:
        return [_outcome("completed_late", ob, end_ms, end_ms)]
    if end_ms <= ob["deadline_ms"]:
        return [_outcome("met", ob, end_ms, end_ms)]
    # The deadline passed before the watermark caught up with it: still one breach first.
    return [_outcome("breached", ob, end_ms, None), _outcome("completed_late", ob, end_ms, end_ms)]


def fire_due(obligations: dict[str, Obligation], watermark_ms: int, segment: str) -> list[Outcome]:
    """Breach every open obligation whose deadline the watermark has passed, exactly once."""
    out = []
    for ob in obligations.values():
        _settle(ob, segment)
        if ob["status"] == OPEN and ob["deadline_ms"] < watermark_ms:
            ob["status"] = BREACHED
            out.append(_outcome("breached", ob, watermark_ms, ob["completed_ms"]))
    return out


def next_deadline(obligations: dict[str, Obligation], segment: str) -> int | None:
    due = []
    for ob in obligations.values():
        _settle(ob, segment)
        if ob["status"] == OPEN:
            due.append(ob["deadline_ms"])
    return min(due) if due else None
