"""Anomaly statistics (pure unit tests)."""

from __future__ import annotations

import math
from typing import Any

from streams.domain.anomaly.detect import (
    AnomalyConfig,
    anomaly_id,
    early_claim,
    high_frequency,
    poisson_sf,
    provider_day,
)
from streams.domain.customer import CustomerState
from streams.domain.processor import ANOMALY, CustomerProcessor
from streams.domain.sla.rules import load_rules

DAY = 86_400_000


def test_poisson_tail_matches_closed_forms() -> None:
    assert poisson_sf(0, 3.0) == 1.0
    assert math.isclose(poisson_sf(1, 0.5), 1 - math.exp(-0.5))
    # P(X >= 3 | 1) = 1 - e^-1 (1 + 1 + 1/2)
    assert math.isclose(poisson_sf(3, 1.0), 1 - math.exp(-1) * 2.5)
    assert 0 < poisson_sf(60, 5.0) < 1e-30  # far tail stays positive and tiny


def test_high_frequency_flags_improbable_counts_only() -> None:
    cfg = AnomalyConfig.load()
    now = 400 * DAY
    ordinary = [(now - 10 * DAY, "c1"), (now - 50 * DAY, "c2")]
    assert high_frequency("A", ordinary, ["health"], now, cfg) == (False, None)
    many = [(now - i * DAY, f"c{i}") for i in range(8)]
    flagged, rec = high_frequency("B", many, ["motor"], now, cfg)
    assert flagged and rec is not None
    assert rec["observed"] == 8 and rec["expected"] < 1 and rec["score"] > 3
    assert rec["evidence_claim_ids"] == sorted(
        rec["evidence_claim_ids"], key=lambda c: int(c[1:]), reverse=True
    )
    # The same count is ordinary for a customer with many health policies.
    assert high_frequency("C", many, ["health"] * 20, now, cfg)[0] is False


def test_early_claim_and_provider_spike() -> None:
    cfg = AnomalyConfig.load()
    assert early_claim("A", "k", 10 * DAY, 0, cfg) is not None
    assert early_claim("A", "k", 40 * DAY, 0, cfg) is None
    assert early_claim("A", "k", 10 * DAY, None, cfg) is None
    history = dict.fromkeys(range(86, 100), 2)
    assert provider_day("H", 100, 5, [f"k{i}" for i in range(5)], history, cfg)[0] is False
    flagged, rec = provider_day("H", 100, 20, [f"k{i}" for i in range(20)], history, cfg)
    assert flagged and rec["expected"] == 2.0 and rec["observed"] == 20


# -- high-frequency episodes through the customer processor ---------------------------------

T0 = 1_800_000_000_000
HF = "high_frequency_customer"


def _processor() -> CustomerProcessor:
    return CustomerProcessor(load_rules(), AnomalyConfig.load(), b"test-key")


def _policy(customer: str) -> dict[str, Any]:
    start = T0 - 400 * DAY  # long before the claims: none of them is an early claim
    return {
        "domain": "sales",
        "event_type": "policy_issued",
        "event_id": f"pol-{customer}",
        "customer_id": customer,
        "occurred_at": start,
        "policy_id": f"P-{customer}",
        "product_line": "motor",
        "policy_start": start,
    }


def _claim(customer: str, n: int, t: int, event_id: str | None = None) -> dict[str, Any]:
    return {
        "domain": "claims",
        "event_type": "claim_reported",
        "event_id": event_id or f"ev-{customer}-{n}",
        "customer_id": customer,
        "occurred_at": t,
        "claim_id": f"K{n}",
        "policy_id": f"P-{customer}",
    }


def _apply(
    proc: CustomerProcessor, state: CustomerState | None, event: dict[str, Any]
) -> tuple[CustomerState, list[dict[str, Any]]]:
    """One event through the processor and a stored state (dumps/loads, as the table does)."""
    if state is not None:
        state = CustomerState.loads(state.dumps())
    res = proc.on_event(state, event, 0)
    return res.state, [r for out, r in res.outputs if out == ANOMALY and r["kind"] == HF]


def test_an_episode_grows_with_each_claim_under_one_anomaly_id() -> None:
    """6 claims in 20 days on one motor policy: the record goes out at the 4th claim, and
    the 5th and 6th publish newer versions of it (same id, larger detected_at)."""
    proc = _processor()
    state, _ = _apply(proc, None, _policy("C"))
    times = [T0 + i * 4 * DAY for i in range(6)]
    versions = []
    for n, t in enumerate(times):
        state, records = _apply(proc, state, _claim("C", n, t))
        versions.append(records)
    assert versions[:3] == [[], [], []]
    assert all(len(v) == 1 for v in versions[3:])
    recs = [v[0] for v in versions[3:]]
    assert {r["anomaly_id"] for r in recs} == {anomaly_id(HF, "C", "K0")}
    assert [r["observed"] for r in recs] == [4.0, 5.0, 6.0]
    assert [r["detected_at"] for r in recs] == times[3:]
    assert recs[-1]["evidence_claim_ids"] == [f"K{n}" for n in range(6)]
    assert recs[0]["evidence_claim_ids"] == [f"K{n}" for n in range(4)]
    assert recs[1]["score"] > recs[0]["score"]
    assert state.anomaly[HF]["active"] is True

    # A duplicate event changes nothing; a claim re-reported under a new event id changes no
    # figure, so publishes no new version.
    again, records = _apply(proc, state, _claim("C", 5, times[5]))
    assert records == [] and again.dumps() == state.dumps()
    _, records = _apply(proc, state, _claim("C", 5, times[5], event_id="ev-C-5-again"))
    assert records == []

    # A late claim (older than the last one) is a newer version, not an older one.
    state, records = _apply(proc, state, _claim("C", 6, times[2] + DAY))
    assert [(r["observed"], r["detected_at"], r["window_end"]) for r in records] == [
        (7.0, times[5] + 1000, times[5])
    ]
    assert records[0]["anomaly_id"] == anomaly_id(HF, "C", "K0")


def test_an_episode_ends_and_the_next_one_gets_its_own_id() -> None:
    proc = _processor()
    state, _ = _apply(proc, None, _policy("D"))
    for n in range(4):
        state, _ = _apply(proc, state, _claim("D", n, T0 + n * DAY))
    assert state.anomaly[HF]["active"] is True
    later = T0 + 200 * DAY  # the window holds this claim only: the episode ends
    state, records = _apply(proc, state, _claim("D", 4, later))
    assert records == [] and state.anomaly[HF] == {"active": False, "since": later}
    out = []
    for n in range(5, 8):
        state, records = _apply(proc, state, _claim("D", n, later + (n - 4) * DAY))
        out += records
    assert [r["anomaly_id"] for r in out] == [anomaly_id(HF, "D", "K4")]


def test_an_episode_opened_before_its_id_was_kept_keeps_its_id() -> None:
    """A state written by the previous worker: {"active": True, "since": t} only."""
    proc = _processor()
    state, _ = _apply(proc, None, _policy("E"))
    for n in range(4):
        state, _ = _apply(proc, state, _claim("E", n, T0 + n * DAY))
    state.anomaly[HF] = {"active": True, "since": T0 + 3 * DAY}
    state, records = _apply(proc, state, _claim("E", 4, T0 + 4 * DAY))
    assert [(r["anomaly_id"], r["observed"]) for r in records] == [(anomaly_id(HF, "E", "K0"), 5.0)]
