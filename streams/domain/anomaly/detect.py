"""Claim-frequency anomalies: improbable customers, provider spikes, claims soon after start.

A Poisson tail is the model: claims arrive independently at a rate that depends on what is
insured, so "how surprising is this count" has a closed form and needs no training data.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from streams.domain.records import AnomalyFigures
from streams.settings import ANOMALY_RULES_FILE, Settings
from streams.units import DAY_MS, SECOND_MS

DEFAULT_FILE = ANOMALY_RULES_FILE  # the packaged thresholds (HUB_ANOMALY_RULES overrides them)
EVIDENCE_MAX = 50  # claim ids per anomaly record
# An anomaly re-published with new figures is a new version: ClickHouse keeps the one with the
# largest detected_at, a DateTime (whole seconds), so versions are at least a second apart.
VERSION_STEP_MS = SECOND_MS


@dataclass(frozen=True)
class AnomalyConfig:
    hf_window_days: int
    hf_rates: dict[str, float]
    hf_default_rate: float
    hf_min_expected: float
    hf_max_p: float
    hf_min_claims: int
    ps_baseline_days: int
    ps_min_baseline: float
    ps_max_p: float
    ps_min_claims: int
    early_days: int

    @classmethod
    def load(cls, path: Path | None = None) -> AnomalyConfig:
        """The thresholds at `path`; by default the settings' (``HUB_ANOMALY_RULES`` or the
        packaged file)."""
        path = path or Settings.from_env().rules.anomaly
        raw = yaml.safe_load(path.read_text())
        hf, ps = raw["high_frequency_customer"], raw["provider_spike"]
        return cls(
            hf_window_days=int(hf["window_days"]),
            hf_rates={k: float(v) for k, v in hf["expected_per_policy_year"].items()},
            hf_default_rate=float(hf["default_per_policy_year"]),
            hf_min_expected=float(hf["min_expected"]),
            hf_max_p=float(hf["max_p_value"]),
            hf_min_claims=int(hf["min_claims"]),
            ps_baseline_days=int(ps["baseline_days"]),
            ps_min_baseline=float(ps["min_baseline"]),
            ps_max_p=float(ps["max_p_value"]),
            ps_min_claims=int(ps["min_claims"]),
            early_days=int(raw["early_claim"]["days_after_start"]),
        )


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam), summed in log space to stay stable for large k."""
    if k <= 0:
        return 1.0
    term = math.exp(-lam)
    cdf = term
    for i in range(1, k):
        term *= lam / i
        cdf += term
    return max(0.0, 1.0 - cdf) if cdf < 0.999999 else _upper_tail(k, lam)


def _upper_tail(k: int, lam: float) -> float:
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    total, term, i = 0.0, math.exp(log_term), k
    while term > 1e-300 and i < k + 10_000:
        total += term
        i += 1
        term *= lam / i
    return total


def score(p_value: float) -> float:
    return round(-math.log10(max(p_value, 1e-300)), 3)


def anomaly_id(kind: str, subject: str, anchor: str) -> str:
    return hashlib.sha1(f"{kind}|{subject}|{anchor}".encode()).hexdigest()[:20]


def content_digest(record: AnomalyFigures) -> str:
    """What a new version of an anomaly would change: kept in state, so that a claim that
    changes no figure (a replay, a re-reported claim) publishes no new version."""
    content = [
        record["observed"],
        record["expected"],
        record["score"],
        record["evidence_claim_ids"],
    ]
    return hashlib.sha1(json.dumps(content).encode()).hexdigest()[:16]


def high_frequency(
    customer_id: str,
    claims: list[tuple[int, str]],  # (reported_ms, claim_id)
    product_lines: list[str],
    now_ms: int,
    cfg: AnomalyConfig,
) -> tuple[bool, AnomalyFigures | None]:
    """Is the customer's claim count in the window improbable? Returns (anomalous, record)."""
    start = now_ms - cfg.hf_window_days * DAY_MS
    window = sorted(c for c in claims if start < c[0] <= now_ms)
    years = cfg.hf_window_days / 365.0
    expected = sum(cfg.hf_rates.get(line, cfg.hf_default_rate) for line in product_lines) * years
    expected = max(expected, cfg.hf_min_expected)
    observed = len(window)
    if observed < cfg.hf_min_claims:
        return False, None
    p = poisson_sf(observed, expected)
    if p >= cfg.hf_max_p:
        return False, None
    return True, {
        "anomaly_id": anomaly_id("high_frequency_customer", customer_id, window[0][1]),
        "kind": "high_frequency_customer",
        "subject_type": "customer",
        "subject_id": customer_id,
        "window_start": start,
        "window_end": now_ms,
        "observed": float(observed),
        "expected": round(expected, 4),
        "score": score(p),
        "evidence_claim_ids": [cid for _, cid in window][-EVIDENCE_MAX:],
    }


def early_claim(
    customer_id: str,
    claim_id: str,
    reported_ms: int,
    policy_start_ms: int | None,
    cfg: AnomalyConfig,
) -> AnomalyFigures | None:
    if policy_start_ms is None or reported_ms < policy_start_ms:
        return None
    days = (reported_ms - policy_start_ms) / DAY_MS
    if days > cfg.early_days:
        return None
    return {
        "anomaly_id": anomaly_id("early_claim", customer_id, claim_id),
        "kind": "early_claim",
        "subject_type": "customer",
        "subject_id": customer_id,
        "window_start": policy_start_ms,
        "window_end": reported_ms,
        "observed": round(days, 3),
        "expected": float(cfg.early_days),
        "score": round(1.0 - days / cfg.early_days, 3),
        "evidence_claim_ids": [claim_id],
    }


def provider_day(
    provider_id: str,
    day: int,  # days since epoch (UTC)
    observed: int,
    evidence: list[str],
    history: dict[int, int],  # day -> claim count (days before `day`; missing days count 0)
    cfg: AnomalyConfig,
) -> tuple[bool, AnomalyFigures]:
    """A provider's day against the mean of its previous days: (anomalous, record).

    The record (without ``detected_at``) is built whether or not the day is anomalous: the
    provider agent (streams/domain/anomaly/provider.py) re-judges a day when a late claim changes
    it, and needs the current figures to withdraw a day it had already flagged.
    """
    prior = [history.get(d, 0) for d in range(day - cfg.ps_baseline_days, day)]
    baseline = max(sum(prior) / len(prior), cfg.ps_min_baseline)
    p = poisson_sf(observed, baseline)
    anomalous = observed >= cfg.ps_min_claims and p < cfg.ps_max_p
    return anomalous, {
        "anomaly_id": anomaly_id("provider_spike", provider_id, str(day)),
        "kind": "provider_spike",
        "subject_type": "provider",
        "subject_id": provider_id,
        "window_start": day * DAY_MS,
        "window_end": (day + 1) * DAY_MS,
        "observed": float(observed),
        "expected": round(baseline, 4),
        "score": score(p),
        "evidence_claim_ids": evidence[:EVIDENCE_MAX],
    }
