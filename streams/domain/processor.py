"""What one event does to one customer: profile, SLA obligations, customer anomalies.

Kept free of Faust and Kafka so that replays, unit tests and the agent run the same code;
the agent only reads and writes the state and sends the returned records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.topics import ANOMALY_TOPIC, BREACH_TOPIC, OUTCOME_TOPIC, PROFILE_TOPIC, Topic
from streams.domain.anomaly.detect import (
    VERSION_STEP_MS,
    AnomalyConfig,
    anomaly_id,
    content_digest,
    early_claim,
    high_frequency,
)
from streams.domain.customer import CustomerState, apply_domain_fields, cap, prune
from streams.domain.records import AnomalyEpisode, AnomalyFigures, OutputRecord, ProviderClaim
from streams.domain.sla import engine
from streams.domain.sla.rules import RuleSet
from streams.events import Event
from streams.units import DAY_MS

# The output topics, under the names importers know them by. Every record sent to one carries
# the topic's key field (Topic.key): customer_id, or subject_id for anomalies.
PROFILE, BREACH, OUTCOME, ANOMALY = PROFILE_TOPIC, BREACH_TOPIC, OUTCOME_TOPIC, ANOMALY_TOPIC
HIGH_FREQUENCY = "high_frequency_customer"


@dataclass
class Result:
    state: CustomerState
    changed: bool = False
    duplicate: bool = False
    outputs: list[tuple[Topic, OutputRecord]] = field(default_factory=list)  # (topic, record)
    provider_claim: ProviderClaim | None = None  # forwarded to the provider agent
    pruned: dict[str, int] = field(default_factory=dict)  # state entries dropped over its caps
    revised: set[str] = field(default_factory=set)  # anomaly_ids re-published as a new version

    def add(self, topic: Topic, record: OutputRecord) -> None:
        self.outputs.append((topic, record))


class CustomerProcessor:
    def __init__(self, rules: RuleSet, anomalies: AnomalyConfig, pii_secret: bytes) -> None:
        self.rules = rules
        self.anomalies = anomalies
        self.secret = pii_secret

    def on_event(self, state: CustomerState | None, event: Event, watermark_ms: int) -> Result:
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
        res.pruned = cap(state)
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
        breach, closed = outcome.breach(), outcome.outcome()
        if breach is not None:
            res.add(BREACH, breach)
        if closed is not None:
            res.add(OUTCOME, closed)

    def _claim_reported(self, res: Result, event: Event) -> None:
        state, cfg = res.state, self.anomalies
        claim_id, t = event["claim_id"], event["occurred_at"]
        self._check_early(res, claim_id, t)
        lines = [
            p.get("product_line") or ""
            for p in state.policies.values()
            if p.get("status") == "active"
        ]
        claims = [(c["reported_ms"], cid) for cid, c in state.claims.items()]
        episode = state.anomaly.get(HIGH_FREQUENCY)
        if episode is not None and not episode.get("active"):
            episode = None  # closed: an anomaly now opens a new episode
        # A late claim does not move an open episode's window back (nor shrink its figures).
        as_of = max(t, episode.get("as_of", episode["since"])) if episode is not None else t
        anomalous, record = high_frequency(state.customer_id, claims, lines, as_of, cfg)
        if anomalous and record:
            self._high_frequency_version(res, episode, record, t, as_of)
        elif not anomalous and episode is not None:
            state.anomaly[HIGH_FREQUENCY] = {"active": False, "since": t}
        if event.get("provider_id"):
            res.provider_claim = {
                "provider_id": event["provider_id"],
                "claim_id": claim_id,
                "occurred_at": t,
            }

    def _high_frequency_version(
        self,
        res: Result,
        episode: AnomalyEpisode | None,
        record: AnomalyFigures,
        t: int,
        as_of: int,
    ) -> None:
        """Open an episode (the first record, at the threshold) or publish its next version.

        Every version keeps the episode's anomaly_id (anchored at the window's first claim
        when it opened), so claim_anomaly_latest shows one anomaly growing with each claim;
        detected_at is the claim's time, at least a second after the previous version's
        (the column holds seconds), so the newest version is the one ClickHouse keeps.
        """
        state = res.state
        digest = content_digest(record)
        if episode is None:
            since, detected = t, t
        else:
            since = episode["since"]
            record["anomaly_id"] = episode.get("anomaly_id") or self._episode_id(state, since)
            episode["as_of"] = as_of
            if episode.get("digest") == digest:
                return  # e.g. a claim re-reported under a new event id: no figure changed
            detected = max(t, episode.get("detected_at", since) + VERSION_STEP_MS)
        state.anomaly[HIGH_FREQUENCY] = {
            "active": True,
            "since": since,
            "anomaly_id": record["anomaly_id"],
            "detected_at": detected,
            "as_of": as_of,
            "digest": digest,
        }
        res.add(ANOMALY, {**record, "detected_at": detected})
        if episode is not None:
            res.revised.add(record["anomaly_id"])

    def _episode_id(self, state: CustomerState, since: int) -> str:
        """The anomaly_id of an episode opened before its id was kept in the state: anchored,
        as when it opened, at the first claim of the window that ended at its start."""
        start = since - self.anomalies.hf_window_days * DAY_MS
        window = sorted(
            (c["reported_ms"], cid)
            for cid, c in state.claims.items()
            if start < c["reported_ms"] <= since
        )
        anchor = window[0][1] if window else str(since)
        return anomaly_id(HIGH_FREQUENCY, state.customer_id, anchor)

    def _check_early(self, res: Result, claim_id: str, reported_ms: int) -> None:
        """One early_claim record per claim reported soon after its policy started."""
        state = res.state
        claim = state.claims.get(claim_id)
        if claim is None or claim.get("early_flagged"):
            return
        policy = state.policies.get(claim.get("policy_id") or "")
        if not policy:
            return
        record = early_claim(
            state.customer_id, claim_id, reported_ms, policy.get("start_ms"), self.anomalies
        )
        if record:
            claim["early_flagged"] = True
            state.anomaly["early_claim"] = {"active": True, "since": reported_ms}
            res.add(ANOMALY, {**record, "detected_at": reported_ms})
