"""What a generator run's ground truth says the worker must output, checked against what it did.

The checks of tests/e2e/test_worker_e2e.py, which the resilience tests run again on a run
that was interrupted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from streams.domain.anomaly.detect import AnomalyConfig, high_frequency
from streams.settings import Settings
from streams.simulator import GroundTruth
from streams.simulator.config import SLA_RULES
from streams.simulator.model import GeneratedEvent
from support.outputs import Outputs, metric_values, partition_of


@dataclass
class ExpectedBreaches:
    sure: set[tuple[str, str]]  # must be on the breach topic
    maybe: set[tuple[str, str]]  # deadline passed between the two watermark readings
    late: set[tuple[str, str]]  # completed_late
    on_time: set[tuple[str, str]]  # met


def expected_breaches(gt: GroundTruth, out: Outputs, s: Settings) -> ExpectedBreaches:
    """Late completions always; missing ones once the partition's watermark passed them.

    The worker breaches an open obligation when its partition's watermark (slowest topic
    minus the allowed lateness, then wall-clock advance while idle) passes the deadline, so
    obligations due near the end of the generated window are not expected yet.
    """
    sure, maybe, late, on_time = set(), set(), set(), set()
    for ob in gt.sla_obligations:
        key = (ob.rule, ob.subject_id)
        assert ob.deadline_ms is not None
        if ob.outcome == "late":
            late.add(key)
            sure.add(key)
        elif ob.outcome == "on_time":
            on_time.add(key)
        else:  # missing or open: no completion
            p = partition_of(ob.customer_id, s)
            if ob.deadline_ms < out.wm_before[p]:
                sure.add(key)
            elif ob.deadline_ms < out.wm_after[p]:
                maybe.add(key)
    return ExpectedBreaches(sure, maybe, late, on_time)


def valid_events(events: list[GeneratedEvent]) -> list[GeneratedEvent]:
    """Each valid event once (no duplicates, no malformed records)."""
    return [ev for ev in events if ev.value is not None and ev.injection != "duplicate"]


def legitimately_high_frequency(events: list[GeneratedEvent], cfg: AnomalyConfig) -> dict[str, int]:
    """Customers the worker's Poisson rule flags on the events in time order → claim count.

    The rule of streams/domain/anomaly/detect.py evaluated at each claim report, against the
    product lines of the customer's policies active at that moment.
    """
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ev in valid_events(events):
        by_customer[ev.key].append(ev.value)  # type: ignore[arg-type]
    flagged = {}
    for customer, evs in by_customer.items():
        evs.sort(key=lambda e: e["occurred_at"])
        policies: dict[str, tuple[str, bool]] = {}
        claims: dict[str, int] = {}
        for e in evs:
            etype = e["event_type"]
            if etype in ("policy_issued", "policy_renewed"):
                policies[e["policy_id"]] = (e.get("product_line") or "", True)
            elif etype in ("policy_lapsed", "policy_cancelled") and e["policy_id"] in policies:
                policies[e["policy_id"]] = (policies[e["policy_id"]][0], False)
            if e.get("claim_id") and e["event_type"].startswith("claim_"):
                claims[e["claim_id"]] = min(
                    claims.get(e["claim_id"], e["occurred_at"]), e["occurred_at"]
                )
            if etype == "claim_reported":
                lines = [line for line, active in policies.values() if active]
                window = [(t, c) for c, t in claims.items()]
                anomalous, _ = high_frequency(customer, window, lines, e["occurred_at"], cfg)
                if anomalous:
                    flagged[customer] = len(claims)
                    break
    return flagged


@dataclass
class Score:
    kind: str
    injected: int
    flagged: int
    true_positives: int
    found: int  # injected ones found

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.injected if self.injected else 1.0

    def __str__(self) -> str:
        return (
            f"{self.kind:<24} injected {self.injected:>3}  flagged {self.flagged:>3}  "
            f"precision {self.precision:.3f}  recall {self.recall:.3f}"
        )


def anomaly_scores(gt: GroundTruth, out: Outputs) -> tuple[list[Score], dict[str, set[str]]]:
    """Precision and recall per kind, against the generator's injections.

    Returns the scores and the flagged subjects per kind (customer ids, provider|day,
    claim ids).
    """
    recs = list(out.latest_anomalies().values())
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        by_kind[r["kind"]].append(r)
    scores = []
    flagged: dict[str, set[str]] = {}

    hf_injected = {h.customer_id for h in gt.high_frequency_customers}
    hf_flagged = {r["subject_id"] for r in by_kind["high_frequency_customer"]}
    flagged["high_frequency_customer"] = hf_flagged
    tp = len(hf_flagged & hf_injected)
    scores.append(Score("high_frequency_customer", len(hf_injected), len(hf_flagged), tp, tp))

    # A spike is injected on a local (Asia/Shanghai) day between 08:00 and 20:00, i.e. on
    # the same UTC day the worker counts by.
    spikes = {(p.provider_id, p.day) for p in gt.provider_spikes}
    ps = {
        (r["subject_id"], r["window_start"].date().isoformat()) for r in by_kind["provider_spike"]
    }
    flagged["provider_spike"] = {f"{p}|{d}" for p, d in ps}
    tp = len(ps & spikes)
    scores.append(Score("provider_spike", len(spikes), len(ps), tp, tp))

    early = {e.claim_id for e in gt.early_claims}
    early_flagged = {r["evidence_claim_ids"][0] for r in by_kind["early_claim"]}
    flagged["early_claim"] = early_flagged
    tp = len(early_flagged & early)
    scores.append(Score("early_claim", len(early), len(early_flagged), tp, tp))
    unknown = set(by_kind) - {"high_frequency_customer", "provider_spike", "early_claim"}
    assert not unknown, f"unexpected anomaly kinds {unknown}"
    return scores, flagged


def rule_table(gt: GroundTruth, exp: ExpectedBreaches, got: set[tuple[str, str]]) -> str:
    rows = [f"{'rule':<24} {'obligations':>11} {'late':>5} {'missing':>8} {'breached':>8}"]
    per_rule: dict[str, Counter[str]] = defaultdict(Counter)
    for ob in gt.sla_obligations:
        per_rule[ob.rule][ob.outcome] += 1
    for rule in SLA_RULES:
        c = per_rule[rule]
        n_got = sum(1 for r, _ in got if r == rule)
        rows.append(f"{rule:<24} {sum(c.values()):>11} {c['late']:>5} {c['missing']:>8} {n_got:>8}")
    return "\n".join(rows)


def check_against_ground_truth(
    s: Settings,
    events: list[GeneratedEvent],
    gt: GroundTruth,
    out: Outputs,
    metrics: str | None,
) -> None:
    # -- SLA: every rule, exactly -----------------------------------------------------------
    exp = expected_breaches(gt, out, s)
    got = out.breach_keys("breached")
    table = rule_table(gt, exp, got)
    print("\n" + table)
    for rule in SLA_RULES:  # the config makes every rule breach at least once
        assert any(r == rule for r, _ in exp.sure), f"no expected breach of {rule}\n{table}"
    assert len(exp.maybe) <= 3, (
        f"too many deadlines passed while reading: {exp.maybe}; "
        f"watermarks {out.wm_before} -> {out.wm_after}"
    )
    missing = sorted(exp.sure - got)
    extra = sorted(got - exp.sure - exp.maybe)
    assert not missing and not extra, (
        f"breaches missing {missing}, unexpected {extra}\n{table}\n"
        f"watermarks {out.wm_before} -> {out.wm_after}"
    )
    late = out.breach_keys("completed_late")
    assert late == exp.late, f"completed_late: missing {exp.late - late}, extra {late - exp.late}"
    outcomes = {
        (r["rule"], r["subject_id"]): r["status"]
        for r in out.unique(out.outcomes, "outcome_id").values()
    }
    met = {k for k, v in outcomes.items() if v == "met"}
    assert met == exp.on_time, f"met: missing {exp.on_time - met}, extra {met - exp.on_time}"
    late = {k for k, v in outcomes.items() if v == "completed_late"}
    assert late == exp.late, f"late outcomes: missing {exp.late - late}, extra {late - exp.late}"
    # Out-of-order deliveries touched obligations that were graded above.
    ooo = {o.event_id for o in gt.out_of_order}
    graded = [ob for ob in gt.sla_obligations if ob.start_event_id in ooo or ob.end_event_id in ooo]
    assert len(ooo) >= 10 and graded, "the run injected too few out-of-order events"

    # -- dead letters and duplicates --------------------------------------------------------
    # A dead letter is identified by the record it refuses: a worker taking over re-sends the
    # dead letters of records its predecessor had not committed (at-least-once).
    dead = Counter(
        r["error_kind"]
        for r in {(r["topic"], r["partition"], r["offset"]): r for r in out.dead}.values()
    )
    injected = Counter(m.expected_error_kind for m in gt.malformed)
    assert dead == injected, f"dead letters {dead}, injected {injected}"
    assert len(gt.duplicates) >= 10, "the run injected too few duplicates"
    if metrics is not None:  # a restarted worker counts its replays as duplicates too
        dups = sum(metric_values(metrics, "hub_worker_duplicate_events_total").values())
        assert dups == len(gt.duplicates), f"{dups} duplicates seen, {len(gt.duplicates)} sent"

    # -- profiles: every customer, claims counted once ---------------------------------------
    valid = valid_events(events)
    claims: dict[str, set[str]] = defaultdict(set)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for ev in valid:
        v = ev.value
        assert v is not None
        if ev.topic == "insurance.claims.v1":
            claims[ev.key].add(v["claim_id"])
        first[ev.key] = min(first.get(ev.key, v["occurred_at"]), v["occurred_at"])
        last[ev.key] = max(last.get(ev.key, 0), v["occurred_at"])
    profiles = out.latest_profiles()
    assert gt.customers == len(first), "every generated customer has events"
    assert set(profiles) == set(first), (
        f"profiles missing {sorted(set(first) - set(profiles))[:10]}, "
        f"unknown {sorted(set(profiles) - set(first))[:10]}"
    )
    wrong = {
        c: (p["claims"]["total"], len(claims[c]))
        for c, p in profiles.items()
        if p["claims"]["total"] != len(claims[c])
    }
    assert not wrong, f"claim totals (profile, distinct generated): {wrong}"
    times = {
        c: (p["first_seen_at"], p["last_event_at"])
        for c, p in profiles.items()
        if (
            int(p["first_seen_at"].timestamp() * 1000),
            int(p["last_event_at"].timestamp() * 1000),
        )
        != (first[c], last[c])
    }
    assert not times, f"first/last event times differ: {times}"
    # version: +1 per event applied, +1 per breach (at most n_breached: a breach the watermark
    # fires while the topics are read may be on one topic and not yet on the other). An event
    # applied twice would show here.
    n_events = Counter(ev.key for ev in valid)
    n_breached = Counter(
        r["customer_id"]
        for r in out.unique(out.breaches, "breach_id").values()
        if r["status"] == "breached"
    )
    versions = {
        c: (p["version"], n_events[c], n_breached[c])
        for c, p in profiles.items()
        if not n_events[c] <= p["version"] <= n_events[c] + n_breached[c]
    }
    assert not versions, f"(version, events, breaches) out of bounds: {versions}"

    # -- anomalies ---------------------------------------------------------------------------
    scores, flagged = anomaly_scores(gt, out)
    report = "\n".join(str(sc) for sc in scores)
    print(report)
    cfg = AnomalyConfig.load()
    legit = legitimately_high_frequency(events, cfg)
    hf = next(sc for sc in scores if sc.kind == "high_frequency_customer")
    ps = next(sc for sc in scores if sc.kind == "provider_spike")
    early = next(sc for sc in scores if sc.kind == "early_claim")
    assert hf.injected >= 3 and ps.injected >= 2 and early.injected >= 5, report
    assert hf.recall == 1.0, report
    assert ps.recall == 1.0, report
    # Ordinary customers: flagged only where the rule itself says so on their own events.
    ordinary = flagged["high_frequency_customer"] - {
        h.customer_id for h in gt.high_frequency_customers
    }
    assert ordinary <= set(legit), f"{report}\nflagged without cause: {ordinary - set(legit)}"
    assert flagged["high_frequency_customer"] == set(legit), (report, legit)
    assert ps.precision == 1.0, f"{report}\n{flagged['provider_spike']}"
    assert early.recall == 1.0 and early.precision == 1.0, report
    print(f"high-frequency flags the rule justifies: {legit}")
