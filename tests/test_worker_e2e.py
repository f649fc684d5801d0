"""Generator ground truth → a real `hub worker` → output topics, compared exactly.

The generator plans a small insurer with every injected fault (duplicates, out-of-order
deliveries, late and missing completions, malformed records, high-frequency claimants,
provider spikes, early claims) and records what the hub must report. The worker runs as a
subprocess against the real local Kafka; its output topics are read back and compared.

The data is fed the way a live hub sees it: the backfill (the book of policies issued
before the window: one burst of old sales events) is published and processed first, then
the window's records follow in time order at a pace the worker keeps up with, so that all
four topics of a partition stay active. A worker started on a large backlog instead
currently gets some results wrong (its watermark can run ahead of a topic it has not read
yet, and a claim can be read before the policy it is on): a known worker defect, outside
what these tests assert. For a live stream they check the hub's promises exactly.

Out-of-order deliveries are delayed by at most 4 minutes, inside the rules' allowed
lateness (5 minutes): that is the contract under which results must be exact.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import HubProcess, isolated, read_topic, wait_for
from kafka import KafkaConsumer, TopicPartition

from schemas import INPUT_TOPICS, Codec
from streams.domain.anomaly.detect import AnomalyConfig, high_frequency
from streams.kafka_admin import group_lag, total_lag
from streams.ops.publish import EventPublisher, partition_for
from streams.settings import Settings
from streams.simulator import GeneratorConfig, GroundTruth, generate
from streams.simulator.config import SLA_RULES
from streams.simulator.model import GeneratedEvent
from streams.worker.topics import ensure_worker_topics

PROFILE = "insurance.customer-profile.v1"
BREACH = "insurance.sla-breach.v1"
OUTCOME = "insurance.sla-outcome.v1"
ANOMALY = "insurance.claim-anomaly.v1"
DEAD = "insurance.dead-letter.v1"
OUTPUTS = (PROFILE, BREACH, OUTCOME, ANOMALY, DEAD)

#: Small, with every fault raised so that each kind appears in a few hundred events.
E2E_CONFIG = GeneratorConfig(
    seed=20260202,
    customers=600,
    days=21,
    late_share=0.15,
    missing_share=0.06,
    duplicate_share=0.03,
    out_of_order_share=0.03,
    max_out_of_order_s=240,  # inside allowed_lateness_seconds (300)
    high_frequency_claimants=4,
    provider_spikes=2,
    early_claims=8,
    complaints_per_customer_year=1.0,
)


# -- feeding the worker -------------------------------------------------------------------


def input_topics(s: Settings) -> list[str]:
    return [s.kafka.topic_prefix + t for t in INPUT_TOPICS]


def worker_lag(s: Settings) -> int:
    return total_lag(s.kafka.bootstrap, s.worker.app_id, input_topics(s))


def publish(
    s: Settings,
    events: Iterable[GeneratedEvent],
    *,
    rate: float | None = None,
    codec: Codec | None = None,
) -> int:
    """Publish generated records as the generator's runner does, at most `rate` per second."""
    codec = codec or Codec()
    pub = EventPublisher(s, codec=codec, validate=False, client_id="hub-e2e-test")
    n = 0
    t0 = time.monotonic()
    try:
        for ev in events:
            if rate:
                ahead = t0 + n / rate - time.monotonic()
                if ahead > 0:
                    pub.poll()
                    time.sleep(ahead)
            pub.publish_raw(ev.topic, ev.encode(codec), key=ev.key)
            n += 1
        pub.flush()
    finally:
        pub.close()
    return n


def split_backfill(
    config: GeneratorConfig, events: list[GeneratedEvent]
) -> tuple[list[GeneratedEvent], list[GeneratedEvent]]:
    """(history published before the window, the window's records in publication order)."""
    backfill = [ev for ev in events if ev.emit_ms < config.start_ms]
    return backfill, events[len(backfill) :]


def feed_live(
    s: Settings,
    config: GeneratorConfig,
    events: list[GeneratedEvent],
    worker: HubProcess,
    *,
    rate: float = 250.0,
) -> None:
    """Backfill, wait until the worker has it, then the window in time order at `rate`/s."""
    backfill, window = split_backfill(config, events)
    assert window and window[0].emit_ms >= config.start_ms
    publish(s, backfill)
    wait_for(lambda: worker_lag(s) == 0, 120, "the backfill processed", worker)
    publish(s, window, rate=rate)


# -- reading the results --------------------------------------------------------------------


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def metric_values(text: str, name: str) -> dict[str, float]:
    """{label text: value} of one metric in Prometheus text format."""
    out = {}
    for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


def watermarks(ports: Iterable[int]) -> dict[int, int]:
    """Event-time watermark (ms) per partition, from the workers' /metrics (the highest)."""
    out: dict[int, int] = {}
    for port in ports:
        for labels, v in metric_values(
            scrape(port), "hub_worker_watermark_timestamp_seconds"
        ).items():
            p = int(re.search(r'partition="(\d+)"', labels).group(1))  # type: ignore[union-attr]
            out[p] = max(out.get(p, 0), int(v * 1000))
    return out


def count_records(s: Settings, *logical: str) -> int:
    """Records ever written to topics (the sum of their partitions' end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=s.kafka.bootstrap)
    try:
        tps = [
            TopicPartition(s.kafka.topic_prefix + t, p)
            for t in logical
            for p in consumer.partitions_for_topic(s.kafka.topic_prefix + t) or ()
        ]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()


def uncommitted(s: Settings) -> dict[str, int]:
    """Input records the worker's group has not committed, per topic[partition]."""
    lag = group_lag(s.kafka.bootstrap, s.worker.app_id, input_topics(s))
    return {f"{tp.topic}[{tp.partition}]": n for tp, n in lag.items() if n}


#: A topic read from within idle_advance_after_seconds (5 s) still holds its partition's
#: watermark back; once it is quiet the watermark moves on to the newest event, breaching
#: what that passes. Settled means outputs unchanged for longer than that.
SETTLE_QUIET_S = 7.0


def wait_settled(s: Settings, proc: HubProcess, timeout_s: float = 120.0) -> None:
    """Every input record committed, then the output topics quiet for SETTLE_QUIET_S."""
    deadline = time.monotonic() + timeout_s
    wait_for(
        lambda: worker_lag(s) == 0, timeout_s, "every input committed", proc,
        show=lambda: str(uncommitted(s)),
    )  # fmt: skip
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = count_records(s, *OUTPUTS)
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLE_QUIET_S:
            return
        time.sleep(0.5)
    raise AssertionError("the output topics never stopped changing")


@dataclass
class Outputs:
    """Everything on the output topics, plus the watermarks read before and after."""

    profiles: list[dict[str, Any]]
    breaches: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    dead: list[dict[str, Any]]
    wm_before: dict[int, int] = field(default_factory=dict)
    wm_after: dict[int, int] = field(default_factory=dict)

    def latest_profiles(self) -> dict[str, dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for p in self.profiles:
            if p["version"] > latest.get(p["customer_id"], {}).get("version", -1):
                latest[p["customer_id"]] = p
        return latest

    def unique(self, records: list[dict[str, Any]], id_field: str) -> dict[str, dict[str, Any]]:
        """Records by id; a re-sent copy (at-least-once) must be the same record."""
        out: dict[str, dict[str, Any]] = {}
        for r in records:
            first = out.setdefault(r[id_field], r)
            if first is not r:  # detected_at is the watermark of the moment: it may differ
                same = {k: v for k, v in first.items() if k != "detected_at"}
                again = {k: v for k, v in r.items() if k != "detected_at"}
                assert same == again, f"two records with one id differ: {first} {r}"
        return out

    def latest_anomalies(self) -> dict[str, dict[str, Any]]:
        """The newest version of each anomaly (an episode grows: claim_anomaly_latest)."""
        latest: dict[str, dict[str, Any]] = {}
        for a in self.anomalies:
            if a["detected_at"] >= latest.get(a["anomaly_id"], a)["detected_at"]:
                latest[a["anomaly_id"]] = a
        return latest

    def anomaly_contents(self) -> dict[str, dict[str, Any]]:
        """The newest version of each anomaly without its detected_at, which may be later
        where the records arrived in another order (the content may not)."""
        return {
            k: {f: v for f, v in a.items() if f != "detected_at"}
            for k, a in self.latest_anomalies().items()
        }

    def breach_keys(self, status: str) -> set[tuple[str, str]]:
        return {
            (r["rule"], r["subject_id"])
            for r in self.unique(self.breaches, "breach_id").values()
            if r["status"] == status
        }


def read_outputs(s: Settings, ports: Iterable[int]) -> Outputs:
    """Read every output topic between two watermark readings (see expected_breaches)."""
    ports = list(ports)
    before = watermarks(ports)
    time.sleep(2.0)  # what the watermark has passed is produced within this
    topics = {t: [r for _, r in read_topic(s, t)] for t in OUTPUTS}
    after = watermarks(ports)
    return Outputs(
        topics[PROFILE], topics[BREACH], topics[OUTCOME], topics[ANOMALY], topics[DEAD],
        before, after,
    )  # fmt: skip


# -- what the ground truth says -------------------------------------------------------------


def partition_of(customer_id: str, s: Settings) -> int:
    return partition_for(customer_id.encode(), s.kafka.input_partitions)


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


# -- the test -------------------------------------------------------------------------------


def test_generated_run_matches_ground_truth(settings: Settings, tmp_path: Path) -> None:
    s = isolated(settings, tmp_path)
    ensure_worker_topics(s)
    events, gt = generate(E2E_CONFIG)
    assert gt.complete
    worker = HubProcess(s, ["worker"], tmp_path / "worker.log")
    try:
        feed_live(s, E2E_CONFIG, events, worker)
        wait_settled(s, worker)
        out = read_outputs(s, [s.prometheus.worker_metrics_port])
        metrics = scrape(s.prometheus.worker_metrics_port)
    finally:
        worker.stop()
    check_against_ground_truth(s, events, gt, out, metrics)


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
