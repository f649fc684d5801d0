"""What one event does to one customer: profile, SLA obligations, customer anomalies.

Kept free of Faust and Kafka so that replays, unit tests and the agent run the same code;
the agent only reads and writes the state and sends the returned records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.anomaly.detect import AnomalyConfig, early_claim, high_frequency
from streams.customer import CustomerState, apply_domain_fields, prune
from streams.sla import engine
from streams.sla.rules import RuleSet

PROFILE, BREACH, OUTCOME, ANOMALY = "profile", "sla-breach", "sla-outcome", "claim-anomaly"


@dataclass
class Result:
    state: CustomerState
    changed: bool = False
    duplicate: bool = False
    outputs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (output, record)
    provider_claim: dict[str, Any] | None = None  # forwarded to the provider agent

    def add(self, output: str, record: dict[str, Any]) -> None:
        self.outputs.append((output, record))


class CustomerProcessor:
    def __init__(self, rules: RuleSet, anomalies: AnomalyConfig, pii_secret: bytes) -> None:
        self.rules = rules
        self.anomalies = anomalies
        self.secret = pii_secret

    def on_event(
        self, state: CustomerState | None, event: dict[str, Any], watermark_ms: int
    ) -> Result:
        """Apply a decoded, normalised event (see streams.events) once."""
        if state is None:
            state = CustomerState(customer_id=event["customer_id"])
        res = Result(state)
        if event["event_id"] in state.seen:
            res.duplicate = True
            return res
        state.seen[event["event_id"]] = event["occurred_at"]
        apply_domain_fields(state, event, self.secret)
        for outcome in engine.on_event(
            state.obligations, state.early_ends, event, state.segment, self.rules
        ):
            self._emit_outcome(res, outcome)
        if event["domain"] == "claims" and event["event_type"] == "claim_reported":
            self._claim_reported(res, event)
        elif event["domain"] == "sales" and event.get("policy_start") is not None:
            # The policy may be read after its claims (another topic): check them now.
            for cid, claim in state.claims.items():
                if claim.get("policy_id") == event.get("policy_id"):
                    self._check_early(res, cid, claim["reported_ms"])
        self._fire(res, watermark_ms)
        prune(state, state.last_event_ms, self.rules.dedup_horizon_ms)
        res.changed = True
        state.version += 1  # and one more per breach: see _emit_outcome
        return res

    def on_watermark(self, state: CustomerState, watermark_ms: int) -> Result:
        """Breach what the watermark has made overdue (called for customers with due deadlines)."""
        res = Result(state)
        self._fire(res, watermark_ms)
        res.changed = bool(res.outputs)
        return res

    def _fire(self, res: Result, watermark_ms: int) -> None:
        for outcome in engine.fire_due(res.state.obligations, watermark_ms, res.state.segment):
            self._emit_outcome(res, outcome)

    def _emit_outcome(self, res: Result, outcome: engine.Outcome) -> None:
        if outcome.kind == "breached":
            res.state.breach_times.append(outcome.record["deadline_at"])
            # The version counts events applied plus breaches: the same number whether the
            # watermark breached an obligation on its own or its late end event did, so a
            # worker restarted after a crash never gives an older profile a version that
            # its predecessor had already published.
            res.state.version += 1
        if outcome.kind in ("breached", "completed_late"):
            res.add(BREACH, outcome.record)
        if outcome.kind in ("met", "completed_late"):
            record = dict(outcome.record)
            record["outcome_id"] = record.pop("breach_id")
            res.add(OUTCOME, record)

    def _claim_reported(self, res: Result, event: dict[str, Any]) -> None:
        state, cfg = res.state, self.anomalies
        claim_id, t = event["claim_id"], event["occurred_at"]
        self._check_early(res, claim_id, t)
        lines = [
            p.get("product_line") or ""
            for p in state.policies.values()
            if p.get("status") == "active"
        ]
        claims = [(c["reported_ms"], cid) for cid, c in state.claims.items()]
        anomalous, record = high_frequency(state.customer_id, claims, lines, t, cfg)
        episode = state.anomaly.get("high_frequency_customer", {})
        if anomalous and record and not episode.get("active"):
            record["detected_at"] = t
            state.anomaly["high_frequency_customer"] = {"active": True, "since": t}
            res.add(ANOMALY, record)
        elif not anomalous and episode.get("active"):
            state.anomaly["high_frequency_customer"] = {"active": False, "since": t}
        if event.get("provider_id"):
            res.provider_claim = {
                "provider_id": event["provider_id"],
                "claim_id": claim_id,
                "occurred_at": t,
            }

    def _check_early(self, res: Result, claim_id: str, reported_ms: int) -> None:
        """One early_claim record per claim reported soon after its policy started."""
        state = res.state
        claim = state.claims.get(claim_id, {})
        policy = state.policies.get(claim.get("policy_id") or "")
        if claim.get("early_flagged") or not policy:
            return
        record = early_claim(
            state.customer_id, claim_id, reported_ms, policy.get("start_ms"), self.anomalies
        )
        if record:
            claim["early_flagged"] = True
            record["detected_at"] = reported_ms
            state.anomaly["early_claim"] = {"active": True, "since": reported_ms}
            res.add(ANOMALY, record)
