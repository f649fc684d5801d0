"""The synthetic insurer: deterministic per seed, realistic mix, and a ground truth that matches
what it published (recomputed here independently from the events, and read back from Kafka)."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import CLAIMS, INPUT_TOPICS, SALES, SERVICING, Codec, default_registry
from streams.domain.anomaly.detect import AnomalyConfig
from streams.domain.calendar import BusinessCalendar
from streams.domain.processor import BREACH, OUTCOME, CustomerProcessor
from streams.domain.sla.rules import DEFAULT_RULES_FILE, load_rules
from streams.events import normalise
from streams.ops.publish import consume
from streams.ops.topics import create_topics, delete_prefixed_topics
from streams.settings import Settings
from streams.simulator import (
    GeneratedEvent,
    GeneratorConfig,
    GroundTruth,
    InsurerSimulation,
    SlaFigures,
    generate,
    generate_events,
)
from streams.simulator import cli as generator_cli
from streams.simulator.config import (
    CLAIM_ACCEPTANCE,
    CLAIM_SETTLEMENT,
    COMPLAINT_RESOLUTION,
    INQUIRY_FIRST_RESPONSE,
    RENEWAL_REMINDER,
    SMALL_CLAIM_PAYMENT,
)
from streams.simulator.progress import Progress
from streams.simulator.runner import REALTIME, run, summary
from streams.units import DAY_MS

CODEC = Codec()
SMALL = GeneratorConfig(
    customers=600,
    days=30,
    seed=11,
    duplicate_share=0.01,
    out_of_order_share=0.01,
    json_share=0.05,
    high_frequency_claimants=2,
    provider_spikes=2,
    early_claims=4,
    malformed_bad_bytes=4,
    malformed_schema_invalid=4,
    malformed_unknown_type=3,
)


@pytest.fixture(scope="module")
def small_run() -> tuple[list[GeneratedEvent], GroundTruth]:
    return generate(SMALL)


def _prefixed(settings: Settings, name: str) -> Settings:
    kafka = dataclasses.replace(settings.kafka, topic_prefix=f"test-{name}-{uuid.uuid4().hex[:8]}.")
    return dataclasses.replace(settings, kafka=kafka)


@pytest.fixture
def hub(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    s = _prefixed(settings, request.node.name[:20].replace("_", "-"))
    create_topics(s)
    yield s
    delete_prefixed_topics(s)


def _fingerprint(events: list[GeneratedEvent]) -> str:
    digest = hashlib.sha256()
    for ev in events:
        digest.update(f"{ev.topic}|{ev.key}|{ev.emit_ms}|{ev.injection}|".encode())
        digest.update(ev.encode(CODEC))
    return digest.hexdigest()


# -- determinism and realism (pure) -------------------------------------------------------


def test_same_seed_same_records_other_seed_other_records() -> None:
    config = SMALL.with_(customers=200, days=10)
    first = list(generate_events(config))
    again = list(generate_events(config))
    assert _fingerprint(first) == _fingerprint(again)
    other = list(generate_events(config.with_(seed=12)))
    assert _fingerprint(other) != _fingerprint(first)
    _, truth_a = generate(config)
    _, truth_b = generate(config)
    assert truth_a.to_json() == truth_b.to_json()


def test_default_run_is_a_realistic_mix_of_the_right_size() -> None:
    events, truth = generate(GeneratorConfig())
    assert 50_000 <= truth.total_events <= 100_000
    assert len(events) == truth.total_records
    every_type = {(t, e) for t in INPUT_TOPICS for e in CODEC.schema(t).event_types}
    assert {(t, e) for t, types in truth.counts.items() for e in types} == every_type
    sales, claims, servicing = (truth.counts[t] for t in (SALES, CLAIMS, SERVICING))
    assert sales["policy_issued"] > sales["renewal_reminder_sent"] > sales["policy_lapsed"] > 0
    assert claims["claim_reported"] >= 300
    assert claims["claim_paid"] > 5 * claims["claim_rejected"]
    assert servicing["inquiry_opened"] > 5 * servicing["complaint_opened"] > 0
    assert sum(truth.segments.values()) == 20_000
    assert truth.segments["standard"] > truth.segments["high_net_worth"] > 0
    # most obligations are met, a configurable share is not
    for rule, outcomes in truth.sla_summary().items():
        met = outcomes.get("on_time", 0)
        assert met > 0.8 * sum(outcomes.values()), rule
        assert outcomes.get("late", 0) + outcomes.get("missing", 0) > 0, rule


def test_events_are_valid_and_come_out_in_simulated_time(
    small_run: tuple[list[GeneratedEvent], GroundTruth],
) -> None:
    events, _ = small_run
    emits = [ev.emit_ms for ev in events]
    assert emits == sorted(emits)
    for ev in events:
        if ev.value is None:
            continue
        CODEC.validate(ev.topic, ev.value)  # every generated event honours the contract
        assert ev.key == ev.value["customer_id"]
        if ev.injection is None:
            assert ev.time_ms == ev.emit_ms == ev.value["occurred_at"]
        else:
            assert ev.emit_ms > ev.time_ms


def test_ground_truth_counts_and_injections_match_the_records(
    small_run: tuple[list[GeneratedEvent], GroundTruth],
) -> None:
    events, truth = small_run
    counts: dict[str, Counter[str]] = {}
    records: Counter[str] = Counter()
    seen: set[str] = set()
    duplicates, late, malformed_sha = [], [], []
    for ev in events:
        records[ev.topic] += 1
        if ev.value is None:
            malformed_sha.append(hashlib.sha256(ev.encode(CODEC)).hexdigest())
            continue
        event_id = ev.value["event_id"]
        if event_id in seen:
            duplicates.append(event_id)
            assert ev.injection == "duplicate"
            continue
        seen.add(event_id)
        counts.setdefault(ev.topic, Counter())[ev.value["event_type"]] += 1
        if ev.injection == "out_of_order":
            late.append(event_id)
    assert {t: dict(c) for t, c in counts.items()} == truth.counts
    assert dict(records) == truth.records
    assert sorted(duplicates) == sorted(d.event_id for d in truth.duplicates)
    assert sorted(late) == sorted(o.event_id for o in truth.out_of_order)
    assert sorted(malformed_sha) == sorted(m.value_sha256 for m in truth.malformed)
    assert truth.malformed_counts == {"bad_bytes": 4, "schema_invalid": 4, "unknown_event_type": 3}
    assert truth.duplicates and truth.out_of_order and truth.json_encoded
    assert truth.json_encoded == sum(
        1
        for ev in events
        if ev.encoding == "json" and ev.injection != "duplicate" and ev.value is not None
    )
    for m in truth.malformed:
        raw = next(
            ev.raw
            for ev in events
            if ev.raw is not None and hashlib.sha256(ev.raw).hexdigest() == m.value_sha256
        )
        with pytest.raises(Exception) as info:
            CODEC.decode(m.topic, raw)
        assert getattr(info.value, "kind", None) == m.expected_error_kind


def _ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def _recompute_obligations(
    events: list[GeneratedEvent], truth: GroundTruth, config: GeneratorConfig
) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every SLA obligation and its outcome, from the published events alone.

    The rules' semantics are restated here; their figures are the hub's (``config.sla``).
    """
    sla, until = config.sla, truth.generated_until_ms
    calendar = sla.calendar
    segment: dict[str, str] = {}
    first: dict[str, dict[str, Any]] = {}
    for ev in events:
        if ev.value is not None and ev.value["event_id"] not in first:
            first[ev.value["event_id"]] = ev.value
    values = sorted(first.values(), key=lambda v: _ms(v["occurred_at"]))
    for v in values:
        if v.get("customer_segment") and v["customer_id"] not in segment:
            segment[v["customer_id"]] = v["customer_segment"]
    starts: dict[tuple[str, str], tuple[int, int, str]] = {}  # -> (start, deadline, customer)
    ends: dict[tuple[str, str], int] = {}

    def deadline_of(rule: str, customer: str, t: int) -> int:
        return sla.limit(rule, segment.get(customer, "standard")).deadline(t, calendar)

    for v in values:
        t, etype, cust = _ms(v["occurred_at"]), v["event_type"], v["customer_id"]
        if etype == "inquiry_opened":
            starts[(INQUIRY_FIRST_RESPONSE, v["case_id"])] = (
                t,
                deadline_of(INQUIRY_FIRST_RESPONSE, cust, t),
                cust,
            )
        elif etype == "inquiry_responded":
            ends.setdefault((INQUIRY_FIRST_RESPONSE, v["case_id"]), t)
        elif etype == "complaint_opened":
            starts[(COMPLAINT_RESOLUTION, v["case_id"])] = (
                t,
                deadline_of(COMPLAINT_RESOLUTION, cust, t),
                cust,
            )
        elif etype == "complaint_resolved":
            ends.setdefault((COMPLAINT_RESOLUTION, v["case_id"]), t)
        elif etype == "claim_reported":
            claim = v["claim_id"]
            starts[(CLAIM_ACCEPTANCE, claim)] = (t, deadline_of(CLAIM_ACCEPTANCE, cust, t), cust)
            starts[(CLAIM_SETTLEMENT, claim)] = (t, deadline_of(CLAIM_SETTLEMENT, cust, t), cust)
            if v["claimed_amount"] < sla.small_claim_threshold:
                starts[(SMALL_CLAIM_PAYMENT, claim)] = (
                    t,
                    deadline_of(SMALL_CLAIM_PAYMENT, cust, t),
                    cust,
                )
        elif etype == "claim_accepted":
            ends.setdefault((CLAIM_ACCEPTANCE, v["claim_id"]), t)
        elif etype in ("claim_paid", "claim_rejected"):
            ends.setdefault((CLAIM_SETTLEMENT, v["claim_id"]), t)
            ends.setdefault((SMALL_CLAIM_PAYMENT, v["claim_id"]), t)
        elif etype == "policy_issued" and t < truth.window_start_ms:
            due = v["renewal_due_date"]
            due_ms = (due - date(1970, 1, 1)).days * DAY_MS
            starts[(RENEWAL_REMINDER, v["policy_id"])] = (
                t,
                due_ms - sla.renewal_lead_ms(segment.get(cust, "standard")),
                cust,
            )
        elif etype == "renewal_reminder_sent":
            ends.setdefault((RENEWAL_REMINDER, v["policy_id"]), t)
    out = {}
    for key, (start, deadline, _cust) in starts.items():
        end = ends.get(key)
        if end is not None:
            outcome = "late" if end > deadline else "on_time"
        elif deadline <= until:
            outcome = "missing"
        else:
            if key[0] == RENEWAL_REMINDER:
                continue  # not yet due and no reminder: left out of the ground truth
            outcome = "open"
        out[key] = (outcome, start, deadline, end)
    return out


def test_sla_ground_truth_matches_an_independent_recomputation(
    small_run: tuple[list[GeneratedEvent], GroundTruth],
) -> None:
    events, truth = small_run
    expected = _recompute_obligations(events, truth, SMALL)
    actual = {
        (o.rule, o.subject_id): (o.outcome, o.start_ms, o.deadline_ms, o.end_ms)
        for o in truth.sla_obligations
    }
    assert actual == expected
    rules = Counter(o.rule for o in truth.sla_obligations)
    assert set(rules) == {
        INQUIRY_FIRST_RESPONSE,
        CLAIM_ACCEPTANCE,
        CLAIM_SETTLEMENT,
        SMALL_CLAIM_PAYMENT,
        COMPLAINT_RESOLUTION,
        RENEWAL_REMINDER,
    }
    for o in truth.sla_obligations:
        assert o.should_breach == (o.outcome in ("late", "missing"))
        if o.injected == "late" and o.end_ms is not None:
            assert o.outcome == "late"
    breaches = truth.expected_breaches
    assert breaches and len(breaches) < 0.25 * len(truth.sla_obligations)


def _hub_outcomes(
    events: list[GeneratedEvent], until_ms: int, config: GeneratorConfig
) -> dict[tuple[str, str], tuple[Any, ...]]:
    """What the hub's own processor reports for the events, read as the worker reads them.

    Every record is decoded and normalised like the worker does and applied per customer by
    ``CustomerProcessor`` (deduplication, segments, out-of-order ends) under the run's rules;
    the watermark stays behind everything until the end, then passes ``until_ms``.
    """
    processor = CustomerProcessor(config.sla.rules, AnomalyConfig.load(), b"test-pii-key")
    states: dict[str, Any] = {}
    found: dict[tuple[str, str], tuple[Any, ...]] = {}
    for ev in events:
        if ev.value is None:
            continue
        event = normalise(ev.topic.split(".")[1], CODEC.decode(ev.topic, ev.encode(CODEC)))
        res = processor.on_event(states.get(ev.key), event, -1)
        states[ev.key] = res.state
        for output, r in res.outputs:
            if output == OUTCOME:  # the first obligation per subject (renewals open another)
                outcome = "on_time" if r["status"] == "met" else "late"
                found.setdefault(
                    (r["rule"], r["subject_id"]),
                    (outcome, r["started_at"], r["deadline_at"], r["completed_at"]),
                )
    for state in states.values():
        for output, r in processor.on_watermark(state, until_ms + 1).outputs:
            if output == BREACH and r["status"] == "breached":
                found.setdefault(
                    (r["rule"], r["subject_id"]),
                    ("missing", r["started_at"], r["deadline_at"], None),
                )
        for ob in state.obligations.values():
            if ob["status"] == "open" and ob["rule"] != RENEWAL_REMINDER:  # renewals: as above
                found.setdefault(
                    (ob["rule"], ob["subject_id"]),
                    ("open", ob["start_ms"], ob["deadline_ms"], None),
                )
    return found


def test_sla_ground_truth_is_what_the_hubs_processor_reports(
    small_run: tuple[list[GeneratedEvent], GroundTruth],
) -> None:
    events, truth = small_run
    actual = {
        (o.rule, o.subject_id): (o.outcome, o.start_ms, o.deadline_ms, o.end_ms)
        for o in truth.sla_obligations
    }
    assert _hub_outcomes(events, truth.generated_until_ms, SMALL) == actual


def _write_rules(path: Path, change: dict[str, Any]) -> Path:
    raw = yaml.safe_load(DEFAULT_RULES_FILE.read_text())
    for name, spec in change.items():
        raw["rules"][name].update(spec)
    path.write_text(yaml.safe_dump(raw))
    return path


def test_sla_figures_and_calendar_come_from_the_hub_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules_file = _write_rules(
        tmp_path / "rules.yml",
        {
            INQUIRY_FIRST_RESPONSE: {
                "limit": {"hours": 6},
                "segments": {"high_net_worth": {"hours": 1}},
            },
            SMALL_CLAIM_PAYMENT: {
                "when": {"field": "claimed_amount", "below": 2000},
                "limit": {"working_days": 2},
            },
            RENEWAL_REMINDER: {"deadline_from": {"field": "renewal_date", "days_before": 20}},
        },
    )
    monkeypatch.setenv("HUB_SLA_RULES", str(rules_file))  # as the worker is configured
    config = GeneratorConfig(customers=300, days=20, seed=4)
    hub = load_rules()
    assert config.sla.rules.rules == hub.rules
    assert config.calendar.country == hub.calendar.country == "CN"
    assert config.sla.small_claim_threshold == 2000
    assert config.sla.renewal_lead_ms("standard") == 20 * DAY_MS
    assert config.sla.renewal_lead_ms("high_net_worth") == 45 * DAY_MS
    recorded = config.to_json()["sla"]
    assert recorded[INQUIRY_FIRST_RESPONSE]["limit"] == {"seconds": 6 * 3600}
    assert recorded[SMALL_CLAIM_PAYMENT]["limit"] == {"working_days": 2}

    events, truth = generate(config)
    reported = {
        ev.value["claim_id"]: ev.value
        for ev in events
        if ev.value is not None and ev.value["event_type"] == "claim_reported"
    }
    by_rule: dict[str, list[Any]] = {}
    for o in truth.sla_obligations:
        by_rule.setdefault(o.rule, []).append(o)
        assert o.start_ms is not None and o.deadline_ms is not None
        if o.injected == "late" and o.end_ms is not None:
            assert o.outcome == "late"  # the generator plans with the rules it grades by
    for o in by_rule[INQUIRY_FIRST_RESPONSE]:
        hours = 1 if o.segment == "high_net_worth" else 6
        assert o.deadline_ms - o.start_ms == hours * 3600 * 1000
    small = {o.subject_id for o in by_rule[SMALL_CLAIM_PAYMENT]}
    assert small == {c for c, v in reported.items() if v["claimed_amount"] < 2000}
    for o in by_rule[SMALL_CLAIM_PAYMENT]:
        assert o.deadline_ms == hub.calendar.add_working_days(o.start_ms, 2)
    for o in by_rule[RENEWAL_REMINDER]:
        assert o.due_date is not None
        days = 45 if o.segment == "high_net_worth" else 20
        due_ms = (o.due_date - date(1970, 1, 1)).days * DAY_MS
        assert o.deadline_ms == due_ms - days * DAY_MS
    # and the hub's processor, running these rules, agrees with the whole ground truth
    actual = {
        (o.rule, o.subject_id): (o.outcome, o.start_ms, o.deadline_ms, o.end_ms)
        for o in truth.sla_obligations
    }
    assert _hub_outcomes(events, truth.generated_until_ms, config) == actual


def test_the_generator_needs_every_rule_it_simulates() -> None:
    hub = load_rules()
    without = dataclasses.replace(
        hub, rules=tuple(r for r in hub.rules if r.name != COMPLAINT_RESOLUTION)
    )
    with pytest.raises(ValueError, match=COMPLAINT_RESOLUTION):
        SlaFigures(without)


def test_business_calendar_local_dates_and_offsets() -> None:
    china = BusinessCalendar()
    midnight_beijing = int(datetime(2026, 2, 1, 16, 0, tzinfo=UTC).timestamp() * 1000)
    assert china.timezone == "Asia/Shanghai"
    assert china.local_date(midnight_beijing - 1) == date(2026, 2, 1)
    assert china.local_date(midnight_beijing) == date(2026, 2, 2)
    assert china.utc_offset_ms(midnight_beijing) == 8 * 3_600_000
    new_york = BusinessCalendar("US", "America/New_York")
    july = int(datetime(2026, 7, 1, 12, tzinfo=UTC).timestamp() * 1000)
    assert new_york.utc_offset_ms(midnight_beijing) == -5 * 3_600_000
    assert new_york.utc_offset_ms(july) == -4 * 3_600_000


def test_risk_signal_injections_are_in_the_records(
    small_run: tuple[list[GeneratedEvent], GroundTruth],
) -> None:
    events, truth = small_run
    reported = {
        ev.value["claim_id"]: ev.value
        for ev in events
        if ev.value is not None and ev.value["event_type"] == "claim_reported"
    }
    starts = {
        ev.value["policy_id"]: ev.value["policy_start_date"]
        for ev in events
        if ev.value is not None and ev.value["event_type"] == "policy_issued"
    }
    per_customer = Counter(v["customer_id"] for v in reported.values())
    hf = {h.customer_id for h in truth.high_frequency_customers}
    assert len(hf) == 2
    for h in truth.high_frequency_customers:
        assert len(h.claim_ids) >= SMALL.high_frequency_claims[0]
        assert all(reported[c]["customer_id"] == h.customer_id for c in h.claim_ids)
    # nobody else comes close: natural claimants file at most a few claims
    assert max(n for c, n in per_customer.items() if c not in hf) <= 3
    assert len(truth.provider_spikes) == 2
    for spike in truth.provider_spikes:
        assert len(spike.claim_ids) >= SMALL.provider_spike_claims[0]
        days = {
            SMALL.calendar.local_date(_ms(reported[c]["occurred_at"])).isoformat()
            for c in spike.claim_ids
        }
        assert days == {spike.day}
        assert {reported[c]["provider_id"] for c in spike.claim_ids} == {spike.provider_id}
        others_that_day = sum(
            1
            for c, v in reported.items()
            if c not in spike.claim_ids
            and v["provider_id"] == spike.provider_id
            and SMALL.calendar.local_date(_ms(v["occurred_at"])).isoformat() == spike.day
        )
        assert others_that_day <= 2
    early = {e.claim_id for e in truth.early_claims}
    assert len(early) == SMALL.early_claims
    for claim_id, v in reported.items():
        start = starts.get(v["policy_id"])
        if start is None:
            continue
        days_in = (_ms(v["occurred_at"]) - (start - date(1970, 1, 1)).days * DAY_MS) / DAY_MS
        assert (days_in < SMALL.early_claim_days) == (claim_id in early), claim_id


def test_ground_truth_json_round_trip(
    small_run: tuple[list[GeneratedEvent], GroundTruth], tmp_path: Path
) -> None:
    _, truth = small_run
    path = tmp_path / "truth.json"
    truth.write(path)
    data = json.loads(path.read_text())
    assert data["total_events"] == truth.total_events
    assert data["sla_obligations"][0]["start"].endswith("Z")
    assert GroundTruth.read(path).to_json() == truth.to_json()


def test_stopping_early_settles_a_consistent_ground_truth() -> None:
    sim = InsurerSimulation(SMALL)
    taken = []
    for ev in sim:
        taken.append(ev)
        if len(taken) == 1200:
            break
    truth = sim.close()
    assert not truth.complete
    assert truth.total_records == 1200
    assert truth.generated_until_ms == taken[-1].emit_ms
    ids = {ev.value["event_id"] for ev in taken if ev.value is not None}
    for o in truth.sla_obligations:
        assert o.start_event_id in ids
        assert o.end_event_id is None or o.end_event_id in ids


def test_progress_bar_draws_on_a_stream() -> None:
    out = io.StringIO()
    bar = Progress(0, 1000, enabled=True, stream=out, interval_s=0)
    bar.update(10, 500)
    bar.close(20, 1000)
    text = out.getvalue()
    assert "50%" in text and "100%" in text and text.endswith("\n")


# -- against the broker ------------------------------------------------------------------


def test_published_records_match_the_ground_truth(hub: Settings) -> None:
    config = SMALL.with_(customers=300, days=20)
    result = run(config, hub, progress=False)
    truth = result.ground_truth
    assert result.records == truth.total_records
    received = list(consume(hub, list(INPUT_TOPICS), idle_timeout_s=30))
    assert len(received) == truth.total_records
    records = Counter(r.topic for r in received)
    assert dict(records) == truth.records
    ids: Counter[str] = Counter()
    counts: dict[str, Counter[str]] = {}
    errors: Counter[str] = Counter()
    bad_sha = []
    json_records = 0
    for rec in received:
        if rec.error is not None:
            errors[rec.error.kind] += 1
            assert rec.raw is not None
            bad_sha.append(hashlib.sha256(rec.raw).hexdigest())
            continue
        assert rec.value is not None and rec.key == rec.value["customer_id"]
        ids[rec.value["event_id"]] += 1
        if ids[rec.value["event_id"]] == 1:
            counts.setdefault(rec.topic, Counter())[rec.value["event_type"]] += 1
            json_records += bool(rec.raw and rec.raw.startswith(b"{"))
    assert {t: dict(c) for t, c in counts.items()} == truth.counts
    assert sorted(i for i, n in ids.items() if n > 1) == sorted(
        d.event_id for d in truth.duplicates
    )
    assert dict(errors) == dict(Counter(m.expected_error_kind for m in truth.malformed))
    assert sorted(bad_sha) == sorted(m.value_sha256 for m in truth.malformed)
    assert json_records == truth.json_encoded > 0
    out = io.StringIO()
    summary(result, out)
    assert "claim_reported" in out.getvalue() and "should breach" in out.getvalue()


def test_realtime_clock_stamps_events_with_now(hub: Settings) -> None:
    config = SMALL.with_(customers=150, days=10)
    before = int(time.time() * 1000)
    result = run(config, hub, clock=REALTIME, rate=1500, max_records=600, progress=False)
    after = int(time.time() * 1000)
    assert result.records == 600
    assert result.elapsed_s >= 0.35  # 600 records at 1,500/s
    truth = result.ground_truth
    assert truth.clock == "realtime" and not truth.complete
    stamps = [
        _ms(r.value["occurred_at"])
        for r in consume(hub, list(INPUT_TOPICS), idle_timeout_s=20)
        if r.value is not None
    ]
    assert len(stamps) >= 590
    assert before - 1000 <= min(stamps) and max(stamps) <= after + 1000
    for o in truth.sla_obligations:
        assert o.start_ms is not None and before - 1000 <= o.start_ms <= after + 1000


def test_simulated_clock_paces_by_speedup(hub: Settings) -> None:
    config = GeneratorConfig(
        customers=2000,
        days=1,
        seed=3,
        backfill=False,
        malformed_bad_bytes=0,
        malformed_schema_invalid=0,
        malformed_unknown_type=0,
    )
    events, _ = generate(config)
    speedup = 86_400 / 1.5  # one simulated day in 1.5 s
    expected = (events[-1].emit_ms - config.start_ms) / 1000 / speedup
    assert expected > 0.5
    start = time.monotonic()
    result = run(config, hub, speedup=speedup, progress=False, create=False)
    elapsed = time.monotonic() - start
    assert result.records == len(events)
    assert expected * 0.95 <= elapsed < expected + 8


def test_cli_generate_writes_ground_truth(
    hub: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    generator_cli.register(parser.add_subparsers())
    path = tmp_path / "gt.json"
    args = parser.parse_args(
        [
            "generate",
            "--customers",
            "150",
            "--days",
            "5",
            "--seed",
            "5",
            "--ground-truth",
            str(path),
            "--no-progress",
            "--late-share",
            "0.2",
            "--duplicate-share",
            "0.05",
            "--malformed-bad-bytes",
            "2",
        ]
    )
    assert args.func(args, hub) == 0
    out = capsys.readouterr().out
    assert "published" in out and "should breach" in out
    truth = GroundTruth.read(path)
    assert truth.seed == 5 and truth.customers == 150 and truth.complete
    assert truth.config["late_share"] == 0.2
    assert truth.malformed_counts["bad_bytes"] == 2
    received = list(consume(hub, list(INPUT_TOPICS), idle_timeout_s=20, decode=False))
    assert len(received) == truth.total_records
    bad = parser.parse_args(["generate", "--late-share", "1.5", "--no-progress"])
    assert bad.func(bad, hub) == 2


def test_schemas_used_by_the_generator_are_the_shipped_ones() -> None:
    registry = default_registry()
    assert all(t in registry for t in INPUT_TOPICS)
    assert datetime(2026, 2, 2, tzinfo=UTC) == GeneratorConfig().start


def test_recorded_run_replays_the_same_records(hub: Settings, tmp_path: Path) -> None:
    from streams.simulator.recording import load, record, replay

    config = SMALL.with_(customers=250, days=15)
    path = tmp_path / "run.hubrec"
    truth = record(config, path)
    events, live_truth = generate(config)
    assert truth.to_json() == live_truth.to_json()
    rec = load(path)
    assert rec.records == len(events) == truth.total_records
    result = replay(rec, hub, progress=False, create=False)
    assert result.records == len(events)
    received = list(consume(hub, list(INPUT_TOPICS), idle_timeout_s=20, decode=False))
    published = Counter((r.topic, r.key, r.raw) for r in received)
    expected = Counter((ev.topic, ev.key, ev.encode(CODEC)) for ev in events)
    assert published == expected
