"""Anomaly statistics (pure unit tests)."""

from __future__ import annotations

import math

from streams.anomaly.detect import (
    AnomalyConfig,
    early_claim,
    high_frequency,
    poisson_sf,
    provider_spike,
)

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
    assert provider_spike("H", 100, [f"k{i}" for i in range(5)], history, cfg) is None
    rec = provider_spike("H", 100, [f"k{i}" for i in range(20)], history, cfg)
    assert rec and rec["expected"] == 2.0 and rec["observed"] == 20
