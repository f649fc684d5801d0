"""Provider spikes in any arrival order (pure unit tests of streams/domain/anomaly/provider.py)."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from streams.domain.anomaly import provider as P
from streams.domain.anomaly.detect import AnomalyConfig, anomaly_id
from streams.domain.anomaly.provider import ForwardedClaim, ProviderState, on_claim
from streams.domain.records import AnomalyRecord
from streams.units import DAY_MS

CFG = AnomalyConfig.load()
D0 = 20_000  # days since epoch: 2024-10-04
HOUR = 3_600_000
LATENESS = 300_000  # the worker's allowed lateness
WIDE = 8 * DAY_MS  # with the 14-day window, covers the 21-day scenario: any shuffle is in time


def _claim(day: int, i: int, rng: random.Random) -> ForwardedClaim:
    return ForwardedClaim("HOSP-1", f"K{day}-{i:03d}", day * DAY_MS + rng.randrange(DAY_MS))


def _scenario(seed: int = 7) -> list[ForwardedClaim]:
    """3 claims a day for 14 days, 40 on day 14, then 3 a day again for 6 days."""
    rng = random.Random(seed)
    claims = []
    for d in range(21):
        n = 40 if d == 14 else 3
        claims += [_claim(D0 + d, i, rng) for i in range(n)]
    return sorted(claims, key=lambda c: (c.occurred_at, c.claim_id))


def _feed(
    claims: list[ForwardedClaim], lateness: int = WIDE, raw: bytes | None = None
) -> tuple[bytes | None, dict[str, AnomalyRecord], list[str]]:
    """Feed claims one by one through a stored state (dumps/loads, as the table does).

    Returns the final state, the latest record per anomaly_id (what claim_anomaly_latest
    shows) and the verdicts; checks that each id's versions have strictly increasing
    detected_at, to the second (the ClickHouse column is a DateTime).
    """
    latest: dict[str, AnomalyRecord] = {}
    verdicts: list[str] = []
    for claim in claims:
        state = ProviderState.loads(raw) if raw is not None else None
        res = on_claim(state, claim, CFG, lateness)
        verdicts.append(res.verdict)
        if res.verdict != "applied":
            assert not res.records
            continue
        for rec in res.records:
            prev = latest.get(rec["anomaly_id"])
            if prev is not None:
                assert rec["detected_at"] // 1000 > prev["detected_at"] // 1000
            latest[rec["anomaly_id"]] = rec
        raw = res.state.dumps()
    return raw, latest, verdicts


def _content(latest: dict[str, AnomalyRecord]) -> dict[str, dict[str, Any]]:
    """The latest records without detected_at: the version, which depends on arrival order."""
    return {k: {f: v for f, v in r.items() if f != "detected_at"} for k, r in latest.items()}


def test_a_spike_against_a_baseline_of_three_a_day() -> None:
    _, latest, verdicts = _feed(_scenario(), LATENESS)
    assert set(verdicts) == {"applied"}
    spike_day = D0 + 14
    assert list(latest) == [anomaly_id("provider_spike", "HOSP-1", str(spike_day))]
    rec = latest[anomaly_id("provider_spike", "HOSP-1", str(spike_day))]
    assert rec["observed"] == 40.0 and rec["expected"] == 3.0 and rec["score"] > 10
    assert (rec["window_start"], rec["window_end"]) == (
        spike_day * DAY_MS,
        (spike_day + 1) * DAY_MS,
    )
    spike = sorted(
        (c.occurred_at, c.claim_id) for c in _scenario() if c.occurred_at // DAY_MS == spike_day
    )
    assert rec["evidence_claim_ids"] == [cid for _, cid in spike]  # in claim-time order
    assert rec["detected_at"] == spike[-1][0]  # the newest claim it counts


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_any_arrival_order_gives_the_same_latest_records(seed: int) -> None:
    ordered = _scenario()
    _, in_order, _ = _feed(ordered, WIDE)
    shuffled = ordered[:]
    random.Random(seed).shuffle(shuffled)
    _, any_order, verdicts = _feed(shuffled, WIDE)
    assert set(verdicts) == {"applied"}
    assert _content(any_order) == _content(in_order)
    assert len(in_order) == 1


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_partitions_interleaved_within_the_lateness_give_the_same_latest_records(
    seed: int,
) -> None:
    """What the worker sees: customer partitions a few minutes apart in event time."""
    rng = random.Random(seed)
    ordered = _scenario(seed)
    jittered = sorted(ordered, key=lambda c: c.occurred_at + rng.randrange(LATENESS))
    _, in_order, _ = _feed(ordered, LATENESS)
    _, any_order, verdicts = _feed(jittered, LATENESS)
    assert set(verdicts) == {"applied"}
    assert _content(any_order) == _content(in_order)


def test_duplicates_count_once_and_a_replay_publishes_nothing() -> None:
    ordered = _scenario()
    _, in_order, _ = _feed(ordered, WIDE)
    rng = random.Random(3)
    doubled = ordered + rng.sample(ordered, 30)
    rng.shuffle(doubled)
    raw, latest, verdicts = _feed(doubled, WIDE)
    assert verdicts.count("duplicate") == 30 and verdicts.count("applied") == len(ordered)
    assert _content(latest) == _content(in_order)
    # The whole input again (a replay after a crash): nothing new, state unchanged.
    raw2, again, verdicts = _feed(ordered, WIDE, raw)
    assert set(verdicts) == {"duplicate"} and again == {} and raw2 == raw


def test_a_claim_older_than_the_window_is_too_late_and_changes_nothing() -> None:
    t = (D0 + 20) * DAY_MS
    res = on_claim(None, ForwardedClaim("H", "new", t), CFG, LATENESS)
    raw = res.state.dumps()
    horizon = t - CFG.ps_baseline_days * DAY_MS - LATENESS
    late = on_claim(
        ProviderState.loads(raw), ForwardedClaim("H", "old", horizon - 1), CFG, LATENESS
    )
    assert late.verdict == "too_late" and not late.records and late.state.dumps() == raw
    edge = on_claim(ProviderState.loads(raw), ForwardedClaim("H", "edge", horizon), CFG, LATENESS)
    assert edge.verdict == "applied"


def test_a_day_flagged_before_its_baseline_arrived_is_withdrawn() -> None:
    """10 claims against 3 a day is not a spike (p ~ 0.001), but against the floor of 1 a day
    it is: read before its baseline, the day is flagged, then withdrawn by the baseline."""
    rng = random.Random(5)
    baseline = [_claim(D0 + d, i, rng) for d in range(14) for i in range(3)]
    day = [_claim(D0 + 14, i, rng) for i in range(10)]
    aid = anomaly_id("provider_spike", "HOSP-1", str(D0 + 14))
    _, in_order, _ = _feed(sorted(baseline + day, key=lambda c: c.occurred_at), WIDE)
    assert in_order == {}
    _, latest, _ = _feed(day + baseline, WIDE)
    withdrawn = latest[aid]
    assert withdrawn["evidence_claim_ids"] == []
    assert withdrawn["observed"] == 10.0 and withdrawn["expected"] == 3.0
    assert withdrawn["score"] < -math.log10(CFG.ps_max_p)


def test_state_survives_dumps_and_loads_and_reads_the_old_agent_state() -> None:
    raw, _, _ = _feed(_scenario(), WIDE)
    assert raw is not None
    state = ProviderState.loads(raw)
    assert state.dumps() == raw and state.provider_id == "HOSP-1"
    old = {
        "days": {str(D0 + d): 1 for d in range(14)} | {str(D0 + 14): 9},
        "ids": {str(D0 + 14): [f"k{i}" for i in range(9)]},
        "flagged": [D0 + 14],
        "outbox": [["t", 0, 5, []]],
    }
    legacy = ProviderState.loads(json.dumps(old).encode())
    assert legacy.days[str(D0 + 14)]["n"] == 9 and legacy.outbox == old["outbox"]
    # A copy of a claim the old agent had counted stays counted once.
    claim = ForwardedClaim("HOSP-1", "k3", (D0 + 14) * DAY_MS + HOUR)
    assert on_claim(legacy, claim, CFG, LATENESS).verdict == "duplicate"
    # The next version of the day it flagged sorts after the old record (end of that day).
    more = on_claim(legacy, ForwardedClaim("HOSP-1", "k9", (D0 + 14) * DAY_MS), CFG, LATENESS)
    assert [(r["observed"], r["detected_at"]) for r in more.records] == [
        (10.0, (D0 + 15) * DAY_MS - 1 + 1000)
    ]


def test_state_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(P, "ID_BUDGET", 16 * 100)  # 100 ids a day over the 16 open days
    assert P.ids_per_day(CFG, LATENESS) == 100
    rng = random.Random(9)
    claims = [_claim(D0 + d, i, rng) for d in range(60) for i in range(3)]
    hot = [_claim(D0 + 60, i, rng) for i in range(250)]  # over the cap of ids per day
    raw, latest, _ = _feed(sorted(claims + hot, key=lambda c: c.occurred_at), LATENESS)
    assert raw is not None
    state = ProviderState.loads(raw)
    b = CFG.ps_baseline_days
    # Days a claim can still reach (the window plus lateness), and their baselines.
    assert len(state.days) <= 2 * b + 2
    open_day = P.accepts_from(state, CFG, LATENESS) // DAY_MS
    frozen = [c for d, c in state.days.items() if int(d) < open_day]
    assert frozen and all(not c["seen"] and not c["first"] for c in frozen)
    assert all(int(d) >= open_day for d in state.published)
    hot_day = state.days[str(D0 + 60)]
    assert hot_day["n"] == 250  # exact past the cap ...
    assert hot_day["seen"].count(",") - 1 == 100  # ... with 100 digests kept
    earliest = sorted((c.occurred_at, c.claim_id) for c in hot)[:50]
    assert sorted(hot_day["first"]) == sorted(cid for _, cid in earliest)
    rec = latest[anomaly_id("provider_spike", "HOSP-1", str(D0 + 60))]
    assert rec["observed"] == 250.0
    assert rec["evidence_claim_ids"] == [cid for _, cid in earliest]


@pytest.mark.parametrize("lateness", [LATENESS, 30 * DAY_MS])  # the worker passes 30 days
def test_a_full_row_fits_the_workers_write_limit(lateness: int) -> None:
    """Every open day at its cap, 128-character ids (the contract's longest), 15 versions in
    the outbox: still under the 900 KB the worker writes at most (Kafka's 1 MB request)."""
    cap = P.ids_per_day(CFG, lateness)
    state = ProviderState(provider_id="P" * 128, newest_ms=(D0 + 60) * DAY_MS)
    for d in range(D0, D0 + 61):
        ids = [f"{d}-{i:06d}".rjust(128, "x") for i in range(cap)]
        state.days[str(d)] = {
            "n": cap,
            "last": d * DAY_MS,
            "first": dict.fromkeys(ids[:50], d * DAY_MS),
            "seen": "," + "".join(f"{P._token(i)}," for i in ids),
        }
        state.published[str(d)] = {"digest": "0" * 16, "detected_at": d * DAY_MS, "live": True}
    P._prune(state, CFG, lateness)
    record = {"evidence_claim_ids": ["x" * 128] * 50, "subject_id": "P" * 128, "more": "y" * 300}
    state.outbox = [["t" * 255, 5, 10**12, [["claim-anomaly", "P" * 128, record]] * 15]]
    assert len(state.dumps()) < 900_000
