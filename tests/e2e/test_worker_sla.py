"""End to end through a real `hub worker`: SLA rules, duplicates, out-of-order, dead letters."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from pathlib import Path

from support.harness import HubProcess, isolated, raw_records, read_topic, wait_for
from support.scenario import DAY, HOUR, event, publish

from streams.settings import Settings
from streams.worker.topics import ensure_worker_topics

SH = dt.timezone(dt.timedelta(hours=8))


def _ms(*a: int) -> int:
    return int(dt.datetime(*a, tzinfo=SH).timestamp() * 1000)


def test_every_rule_breaches_on_time_once_and_completes_late(
    settings: Settings, tmp_path: Path
) -> None:
    s = isolated(settings, tmp_path)
    ensure_worker_topics(s)
    t0 = _ms(2026, 11, 2, 9, 0)  # a Monday
    ev = []
    # Standard customer A.
    ev.append(
        event(
            "sales",
            "policy_issued",
            "A",
            t0,
            policy_id="PA1",
            renewal_due_date=dt.date(2027, 11, 2),
        )
    )
    ev.append(event("servicing", "inquiry_opened", "A", t0 + HOUR, case_id="Q-met"))
    ev.append(event("servicing", "inquiry_responded", "A", t0 + 2 * HOUR, case_id="Q-met"))
    ev.append(event("servicing", "inquiry_opened", "A", t0 + HOUR, case_id="Q-late"))
    ev.append(event("servicing", "inquiry_opened", "A", t0 + HOUR, case_id="Q-never"))
    ev.append(event("servicing", "complaint_opened", "A", t0 + HOUR, case_id="M-late"))
    reported = event(
        "claims", "claim_reported", "A", t0 + 3 * HOUR, claim_id="K-ok", policy_id="PA1"
    )
    ev.append(reported)
    ev.append(event("claims", "claim_accepted", "A", t0 + DAY, claim_id="K-ok", policy_id="PA1"))
    ev.append(event("claims", "claim_paid", "A", t0 + 3 * DAY, claim_id="K-ok", policy_id="PA1"))
    ev.append(reported)  # a duplicate: same event_id
    # Small claim, reported Friday 10:00, paid Tuesday: 1 working day missed.
    fri = _ms(2026, 11, 6, 10, 0)
    ev.append(
        event(
            "claims",
            "claim_reported",
            "A",
            fri,
            claim_id="K-small",
            policy_id="PA1",
            claimed_amount=Decimal("3000.00"),
        )
    )
    ev.append(
        event("claims", "claim_accepted", "A", fri + HOUR, claim_id="K-small", policy_id="PA1")
    )
    # Out of order: acceptance published before the report.
    ev.append(
        event("claims", "claim_accepted", "A", t0 + 5 * HOUR, claim_id="K-ooo", policy_id="PA1")
    )
    ev.append(
        event("claims", "claim_reported", "A", t0 + 4 * HOUR, claim_id="K-ooo", policy_id="PA1")
    )
    ev.append(
        event("claims", "claim_rejected", "A", t0 + 6 * HOUR, claim_id="K-ooo", policy_id="PA1")
    )
    # High-net-worth customer H: claim acceptance limit is 1 day, so 2 days is a breach.
    ev.append(
        event(
            "sales",
            "policy_issued",
            "H",
            t0,
            policy_id="PH1",
            customer_segment="high_net_worth",
            renewal_due_date=dt.date(2027, 11, 2),
        )
    )
    ev.append(event("claims", "claim_reported", "H", t0 + HOUR, claim_id="K-hnw", policy_id="PH1"))
    ev.append(
        event("claims", "claim_accepted", "H", t0 + 2 * DAY, claim_id="K-hnw", policy_id="PH1")
    )
    ev.append(
        event("claims", "claim_paid", "H", t0 + 2 * DAY + HOUR, claim_id="K-hnw", policy_id="PH1")
    )
    # Renewal due in 20 days: the reminder deadline (30 days before) has already passed.
    ev.append(
        event(
            "sales",
            "policy_issued",
            "R",
            t0,
            policy_id="PR1",
            renewal_due_date=(
                dt.datetime.fromtimestamp(t0 / 1000, SH) + dt.timedelta(days=20)
            ).date(),
        )
    )
    # Late completions, then time moves on for every topic.
    ev.append(event("servicing", "inquiry_responded", "A", t0 + 20 * HOUR, case_id="Q-late"))
    ev.append(event("servicing", "complaint_resolved", "A", t0 + 100 * HOUR, case_id="M-late"))
    ev.append(
        event(
            "claims",
            "claim_paid",
            "A",
            _ms(2026, 11, 10, 12, 0),
            claim_id="K-small",
            policy_id="PA1",
            paid_amount=Decimal("3000.00"),
        )
    )
    later = t0 + 20 * DAY
    ev.append(event("sales", "policy_lapsed", "Z", later, policy_id="PZ"))
    ev.append(event("servicing", "survey_answered", "Z", later, case_id="S-Z"))
    ev.append(event("claims", "claim_closed", "Z", later, claim_id="K-Z", policy_id="PZ"))
    bad = [
        ("insurance.claims.v1", b"\x00\x01 not an event"),
        ("insurance.servicing.v1", json.dumps({"event_id": "x"}).encode()),
        ("insurance.claims.v1", json.dumps({
            "event_id": "u1", "event_type": "claim_teleported", "customer_id": "A",
            "occurred_at": t0, "source": "claims-system", "claim_id": "K", "policy_id": "PA1",
        }).encode()),
    ]  # fmt: skip
    worker = HubProcess(s, ["worker"], tmp_path / "worker.log")
    try:
        # Policies exist before anything happens to them, as at a real insurer.
        policies = [e for e in ev if e[1]["event_type"] == "policy_issued"]
        publish(s, policies)
        wait_for(
            lambda: len(read_topic(s, "insurance.customer-profile.v1")) >= 3, 90, "policies", worker
        )
        publish(s, [e for e in ev if e not in policies], raw=bad)
        expected = {
            ("inquiry_first_response", "Q-late", "breached"),
            ("inquiry_first_response", "Q-late", "completed_late"),
            ("inquiry_first_response", "Q-never", "breached"),
            ("complaint_resolution", "M-late", "breached"),
            ("complaint_resolution", "M-late", "completed_late"),
            ("small_claim_payment", "K-small", "breached"),
            ("small_claim_payment", "K-small", "completed_late"),
            ("claim_acceptance", "K-hnw", "breached"),
            ("claim_acceptance", "K-hnw", "completed_late"),
            ("renewal_reminder", "PR1", "breached"),
        }  # PA1 and PH1 renew in a year: their reminder deadline is 11 months away

        def breaches() -> list[tuple[str, str, str]]:
            return [
                (r["rule"], r["subject_id"], r["status"])
                for _, r in read_topic(s, "insurance.sla-breach.v1")
            ]

        def settled() -> bool:
            return (
                set(breaches()) >= expected and len(read_topic(s, "insurance.dead-letter.v1")) >= 3
            )

        wait_for(
            settled,
            120,
            "breaches and dead letters",
            worker,
            show=lambda: str(sorted(set(breaches()))),
        )
        time.sleep(3)  # anything extra would show up now
        got = breaches()
        assert sorted(set(got)) == sorted(expected)
        assert len(got) == len(set(got)), "a breach was sent twice"
        by_subject = {
            (r["subject_id"], r["status"]): r for _, r in read_topic(s, "insurance.sla-breach.v1")
        }
        # Breached at the deadline (its detected_at is event time past the deadline).
        q = by_subject[("Q-late", "breached")]
        assert q["deadline_at"] == dt.datetime.fromtimestamp((t0 + 13 * HOUR) / 1000, dt.UTC)
        late = by_subject[("Q-late", "completed_late")]
        assert late["duration_seconds"] == 19 * 3600 and late["limit_seconds"] == 12 * 3600
        assert by_subject[("K-small", "breached")]["deadline_at"] == dt.datetime.fromtimestamp(
            _ms(2026, 11, 9, 10, 0) / 1000, dt.UTC
        )

        outcomes = {
            (r["rule"], r["subject_id"]): r["status"]
            for _, r in read_topic(s, "insurance.sla-outcome.v1")
        }
        assert outcomes[("inquiry_first_response", "Q-met")] == "met"
        assert outcomes[("claim_acceptance", "K-ok")] == "met"
        assert outcomes[("claim_settlement", "K-ok")] == "met"
        assert outcomes[("claim_acceptance", "K-ooo")] == "met"  # end arrived before start
        assert outcomes[("claim_settlement", "K-hnw")] == "met"

        dead = {r["error_kind"] for _, r in read_topic(s, "insurance.dead-letter.v1")}
        assert dead == {"malformed", "schema_invalid", "unknown_event_type"}
        letters = read_topic(s, "insurance.dead-letter.v1")
        assert {bytes(r["value"]) for _, r in letters} == {v for _, v in bad}

        profiles: dict[str, dict] = {}
        for _, p in read_topic(s, "insurance.customer-profile.v1"):
            if p["version"] > profiles.get(p["customer_id"], {}).get("version", -1):
                profiles[p["customer_id"]] = p
        a = profiles["A"]
        assert a["claims"]["total"] == 3  # K-ok, K-small, K-ooo; the duplicate report not counted
        assert a["servicing"]["open_inquiries"] == 3  # responded is not resolved
        assert a["sla_breaches_90d"] == 4  # Q-late, Q-never, M-late, K-small
        assert a["person_key"] and len(a["person_key"]) == 64
        assert "Wang" not in json.dumps(a, default=str)
        assert profiles["H"]["segment"] == "high_net_worth"
    finally:
        worker.stop()


def test_wall_clock_fires_breach_with_no_further_events(settings: Settings, tmp_path: Path) -> None:
    """Real-time: nothing arrives after the inquiry, yet the breach comes at the deadline."""
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "allowed_lateness_seconds: 0\nidle_advance_after_seconds: 1\n"
        "rules:\n  inquiry_first_response:\n    start: [inquiry_opened]\n"
        "    end: [inquiry_responded]\n    match: case_id\n"
        "    limit: {seconds: 4}\n    target: 0.9\n"
    )
    s = isolated(settings, tmp_path)
    ensure_worker_topics(s)
    worker = HubProcess(s, ["worker"], tmp_path / "worker.log", HUB_SLA_RULES=str(rules))
    try:
        wait_for(lambda: "recovered" in worker.log.read_text(), 90, "worker ready", worker)
        opened = int(time.time() * 1000)
        publish(s, [event("servicing", "inquiry_opened", "W", opened, case_id="Q-rt")])
        wait_for(
            lambda: bool(read_topic(s, "insurance.sla-breach.v1")), 60, "wall-clock breach", worker
        )
        (record,) = raw_records(s, "insurance.sla-breach.v1")
        arrived = record.timestamp  # when the worker produced it
        (_, breach), *rest = read_topic(s, "insurance.sla-breach.v1")
        assert rest == []
        assert (breach["rule"], breach["subject_id"], breach["status"]) == (
            "inquiry_first_response", "Q-rt", "breached",
        )  # fmt: skip
        deadline = opened + 4000
        assert breach["deadline_at"] == dt.datetime.fromtimestamp(deadline / 1000, dt.UTC)
        # Fired by the wall clock once the partition is caught up and quiet (1 s here, less
        # than the limit): within the allowed lateness (0) plus 2 s of the deadline.
        assert deadline <= arrived <= deadline + 2_000
    finally:
        worker.stop()
