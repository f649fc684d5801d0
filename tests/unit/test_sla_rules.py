"""Rule evaluation and the business calendar (pure unit tests)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from streams.domain.calendar import BusinessCalendar
from streams.domain.sla import engine
from streams.domain.sla.rules import load_rules

SH = dt.timezone(dt.timedelta(hours=8))
HOUR = 3_600_000


def ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=SH).timestamp() * 1000)


def test_calendar_skips_weekends_and_chinese_holidays() -> None:
    cal = BusinessCalendar("CN", "Asia/Shanghai")
    assert cal.is_working_day(dt.date(2026, 11, 20))  # a Friday
    assert not cal.is_working_day(dt.date(2026, 11, 21))  # Saturday
    assert not cal.is_working_day(dt.date(2026, 10, 1))  # National Day
    # Friday 15:00 + 1 working day = Monday 15:00.
    assert cal.add_working_days(ms(2026, 11, 20, 15, 0), 1) == ms(2026, 11, 23, 15, 0)
    # Reported on Saturday: counts from Monday 00:00, due Tuesday 00:00.
    assert cal.add_working_days(ms(2026, 11, 21, 10, 0), 1) == ms(2026, 11, 24, 0, 0)
    # Before the National Day holiday: due after it.
    assert cal.add_working_days(ms(2026, 9, 30, 15, 0), 1) == ms(2026, 10, 8, 15, 0)


def test_calendar_honours_worked_weekend_days() -> None:
    cal = BusinessCalendar("CN", "Asia/Shanghai")
    worked = dt.date(2026, 2, 14)  # a Saturday worked for the Spring Festival
    assert worked.weekday() == 5 and cal.is_working_day(worked)


def test_default_rules_carry_domain_figures() -> None:
    rules = load_rules()
    by = {r.name: r for r in rules.rules}
    assert by["inquiry_first_response"].limit and by["inquiry_first_response"].limit.ms == 12 * HOUR
    assert by["claim_acceptance"].limit and by["claim_acceptance"].limit.ms == 72 * HOUR
    assert by["claim_settlement"].limit and by["claim_settlement"].limit.ms == 7 * 24 * HOUR
    assert by["small_claim_payment"].limit and by["small_claim_payment"].limit.working_days == 1
    assert by["complaint_resolution"].limit and by["complaint_resolution"].limit.ms == 72 * HOUR
    assert by["renewal_reminder"].days_before == 30
    assert by["inquiry_first_response"].target == 0.90
    assert by["claim_acceptance"].target == 0.85
    # High-net-worth customers get stricter limits.
    hnw = by["claim_acceptance"].limit_for("high_net_worth")
    assert hnw and hnw.ms < 72 * HOUR


def test_rules_file_is_configurable(tmp_path: Path) -> None:
    f = tmp_path / "rules.yml"
    f.write_text(
        "rules:\n  quick:\n    start: [inquiry_opened]\n    end: [inquiry_responded]\n"
        "    match: case_id\n    limit: {seconds: 5}\n    target: 0.5\n"
    )
    rules = load_rules(f)
    assert rules.by_name("quick").limit and rules.by_name("quick").limit.ms == 5000
    f.write_text("rules:\n  bad:\n    start: [a]\n    end: [b]\n    match: x\n    target: 1\n")
    with pytest.raises(ValueError, match="exactly one of"):
        load_rules(f)


def _ev(etype: str, t: int, **kw: object) -> dict:
    return {"event_type": etype, "occurred_at": t, "customer_id": "C1", **kw}


def test_obligation_met_breached_and_completed_late() -> None:
    rules = load_rules()
    obs: dict = {}
    early: dict = {}
    t0 = ms(2026, 11, 2, 9, 0)
    assert (
        engine.on_event(obs, early, _ev("inquiry_opened", t0, case_id="A"), "standard", rules) == []
    )
    assert (
        engine.on_event(obs, early, _ev("inquiry_opened", t0, case_id="B"), "standard", rules) == []
    )
    met = engine.on_event(
        obs, early, _ev("inquiry_responded", t0 + HOUR, case_id="A"), "standard", rules
    )
    assert [o.kind for o in met] == ["met"]
    # The watermark passes B's deadline: one breach, at the deadline, and only once.
    assert engine.fire_due(obs, t0 + 12 * HOUR - 1, "standard") == []
    fired = engine.fire_due(obs, t0 + 12 * HOUR + 1, "standard")
    assert [(o.kind, o.record["subject_id"]) for o in fired] == [("breached", "B")]
    assert fired[0].record["deadline_at"] == t0 + 12 * HOUR
    assert engine.fire_due(obs, t0 + 20 * HOUR, "standard") == []
    late = engine.on_event(
        obs, early, _ev("inquiry_responded", t0 + 15 * HOUR, case_id="B"), "standard", rules
    )
    assert [o.kind for o in late] == ["completed_late"]
    assert late[0].record["duration_seconds"] == 15 * 3600
    assert obs == {}


def test_end_before_start_and_segment_limits() -> None:
    rules = load_rules()
    obs: dict = {}
    early: dict = {}
    t0 = ms(2026, 11, 2, 9, 0)
    # The acceptance arrives before the report (out of order).
    assert (
        engine.on_event(
            obs, early, _ev("claim_accepted", t0 + HOUR, claim_id="K"), "standard", rules
        )
        == []
    )
    out = engine.on_event(
        obs,
        early,
        _ev("claim_reported", t0, claim_id="K", claimed_amount=90000.0),
        "high_net_worth",
        rules,
    )
    assert [(o.kind, o.record["rule"]) for o in out] == [("met", "claim_acceptance")]
    settlement = obs[engine.obligation_key("claim_settlement", "K")]
    assert settlement["deadline_ms"] == t0 + 5 * 24 * HOUR  # stricter for high net worth
    assert engine.obligation_key("small_claim_payment", "K") not in obs  # above the threshold


def test_renewal_reminder_deadline_from_renewal_date() -> None:
    rules = load_rules()
    obs: dict = {}
    due = ms(2027, 1, 1, 0, 0)
    engine.on_event(
        obs,
        {},
        _ev("policy_issued", ms(2026, 1, 1, 0, 0), policy_id="P", renewal_date=due),
        "standard",
        rules,
    )
    ob = obs[engine.obligation_key("renewal_reminder", "P")]
    assert ob["deadline_ms"] == due - 30 * 24 * HOUR
