"""Provider spikes that come out the same whatever order a provider's claims arrive in.

Why: claims reach the provider agent forwarded from every customer partition, so they
interleave out of time order. A day is therefore re-judged whenever a claim changes it (its
own count) or its baseline (an earlier day's count), and its record is re-published when the
figures change; the ClickHouse view ``claim_anomaly_latest`` keeps the newest version per
``anomaly_id``, which is the one computed from every claim of the day and its baseline.

Kept free of Faust and Kafka (``on_claim`` has the shape of a stateful map: state and
input in, state and outputs out) so that the agent, replays and unit tests run the same code.

What the state keeps, and why it stays bounded:

- the newest claim time seen (``newest_ms``): a claim older than ``newest_ms`` minus the
  baseline window and the allowed lateness is ``too_late`` (the agent dead-letters it);
- per retained day: the claims counted (``n``), the newest claim time (``last``), the day's
  earliest ``EVIDENCE_MAX`` claims by (claim time, claim id) (``first``: the evidence, the
  same whatever the arrival order) and a 64-bit digest of every claim id counted (``seen``:
  for deduplication, 12 bytes a claim however long its id). Days that can still take a
  claim keep all of it; the ``ps_baseline_days`` days before them keep only ``n`` and
  ``last`` (they are only a baseline now); older days are dropped;
- per day still open: a digest of the last record published and its ``detected_at``, so a
  replay publishes nothing and a new version always gets a larger ``detected_at``.

The digests kept per day are capped (`ids_per_day`: 1,875 with the 14-day window and a
lateness under a day, 652 with the worker's 30 days) so that a provider's row stays under
the worker's 900 KB write limit even with 128-character ids. ``n`` is counted separately,
so the count stays exact past the cap for every claim forwarded once; the one inexactness
is that past the cap a re-delivered copy (a replay, an outbox re-send) of a claim whose
digest was not kept is counted again.
A digest collision (about 1 in 10^12 per day at the cap) would count a claim as a duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from streams.domain.anomaly.detect import (
    EVIDENCE_MAX,
    VERSION_STEP_MS,
    AnomalyConfig,
    content_digest,
    provider_day,
)
from streams.domain.records import AnomalyRecord
from streams.units import DAY_MS

MAX_IDS_PER_DAY = 10_000  # claim-id digests kept per day, at most
ID_BUDGET = 30_000  # ... and per provider row, over the days that can still take a claim

Verdict = Literal["applied", "duplicate", "too_late"]


class DayClaims(TypedDict):
    n: int  # claims counted on the day (exact; not capped)
    last: int  # newest claim time of the day (ms)
    first: dict[str, int]  # the earliest EVIDENCE_MAX claims: id -> claim time; {} once frozen
    seen: str  # ",d1,d2,...,": digests of the claim ids counted, up to the cap; "" once frozen


class Published(TypedDict):
    digest: str  # content (observed, expected, score, evidence) of the last record sent
    detected_at: int  # that record's version
    live: bool  # False: the last record sent withdrew the spike


@dataclass(frozen=True)
class ForwardedClaim:
    """A claim_reported the customer agent forwards, keyed by provider (see processor.py)."""

    provider_id: str
    claim_id: str
    occurred_at: int
    resent: bool = False  # re-sent from an outbox after a takeover: forwarded once before

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ForwardedClaim:
        """From the JSON value read off the topic: a ProviderClaim (streams/domain/records.py)
        as far as it can be trusted, so its fields are converted one by one."""
        return cls(
            str(record["provider_id"]),
            str(record["claim_id"]),
            int(record["occurred_at"]),
            bool(record.get("resent", False)),
        )


@dataclass
class ProviderState:
    provider_id: str
    newest_ms: int = 0
    days: dict[str, DayClaims] = field(default_factory=dict)  # day since epoch (UTC) -> claims
    published: dict[str, Published] = field(default_factory=dict)  # day -> last record sent
    # Free-form: entries owned by streams/worker/outbox.py, carried as they are.
    outbox: list[list[Any]] = field(default_factory=list)

    def dumps(self) -> bytes:
        return json.dumps(self.__dict__, separators=(",", ":")).encode()

    @classmethod
    def loads(cls, raw: bytes) -> ProviderState:
        data = json.loads(raw)
        if "provider_id" not in data:
            return cls._from_legacy(data)
        return cls(**data)

    @classmethod
    def _from_legacy(cls, old: dict[str, Any]) -> ProviderState:  # untyped JSON, read as found
        """The agent's earlier untyped state ({"days", "ids", "flagged", "outbox"}).

        It kept no claim times: a day's claims are dated at its start, and a day it flagged
        counts as published at the day's end, so the next version sorts after the old one.
        """
        state = cls(provider_id=str(old.get("provider_id", "")), outbox=old.get("outbox", []))
        ids = old.get("ids", {})
        for d, n in old.get("days", {}).items():
            start = int(d) * DAY_MS
            kept = sorted(ids.get(d, []))
            state.days[d] = {
                "n": int(n),
                "last": start,
                "first": dict.fromkeys(kept[:EVIDENCE_MAX], start),
                "seen": "," + "".join(f"{_token(cid)}," for cid in kept),
            }
            state.newest_ms = max(state.newest_ms, start)
        for d in old.get("flagged", []):
            end = (int(d) + 1) * DAY_MS - 1
            state.published[str(d)] = {"digest": "", "detected_at": end, "live": True}
        return state


@dataclass
class ProviderResult:
    state: ProviderState
    verdict: Verdict
    records: list[AnomalyRecord] = field(default_factory=list)  # insurance.claim-anomaly.v1
    new_anomalies: int = 0  # records whose anomaly_id had never been published (for metrics)


def accepts_from(state: ProviderState, cfg: AnomalyConfig, lateness_ms: int) -> int:
    """The oldest claim time the provider still takes: the baseline window plus lateness."""
    return state.newest_ms - cfg.ps_baseline_days * DAY_MS - lateness_ms


def ids_per_day(cfg: AnomalyConfig, lateness_ms: int) -> int:
    """Claim-id digests kept per day: ID_BUDGET shared by the days that can take a claim."""
    open_days = cfg.ps_baseline_days + lateness_ms // DAY_MS + 2
    return max(1, min(MAX_IDS_PER_DAY, ID_BUDGET // open_days))


def _token(claim_id: str) -> str:
    """A claim id's 64-bit digest, 11 characters (base64url: no comma in it)."""
    digest = hashlib.blake2b(claim_id.encode(), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest).decode()[:11]


def on_claim(
    state: ProviderState | None, claim: ForwardedClaim, cfg: AnomalyConfig, lateness_ms: int
) -> ProviderResult:
    """Count `claim` once and re-judge the days it changes; returns what to publish.

    A ``duplicate`` or ``too_late`` claim leaves the state as it was and publishes nothing.
    """
    if state is None:
        state = ProviderState(provider_id=claim.provider_id)
    state.provider_id = state.provider_id or claim.provider_id
    t = claim.occurred_at
    if state.newest_ms and t < accepts_from(state, cfg, lateness_ms):
        return ProviderResult(state, "too_late")
    token = f",{_token(claim.claim_id)},"
    if any(token in d["seen"] or claim.claim_id in d["first"] for d in state.days.values()):
        return ProviderResult(state, "duplicate")
    day = t // DAY_MS
    claims = state.days.setdefault(str(day), {"n": 0, "last": t, "first": {}, "seen": ","})
    claims["n"] += 1
    claims["last"] = max(claims["last"], t)
    if len(claims["seen"]) // len(token[1:]) < ids_per_day(cfg, lateness_ms):
        claims["seen"] += token[1:]
    claims["first"][claim.claim_id] = t
    if len(claims["first"]) > EVIDENCE_MAX:
        # The earliest claims stay: the evidence must not depend on the arrival order.
        drop = max(claims["first"].items(), key=lambda kv: (kv[1], kv[0]))[0]
        del claims["first"][drop]
    state.newest_ms = max(state.newest_ms, t)
    res = ProviderResult(state, "applied")
    # The claim's day, and the later days whose baseline includes it.
    for d in range(day, day + cfg.ps_baseline_days + 1):
        _judge(res, d, cfg)
    _prune(state, cfg, lateness_ms)
    return res


def _judge(res: ProviderResult, day: int, cfg: AnomalyConfig) -> None:
    """Publish the day's record if it is (or was) a spike and its figures changed."""
    state, key = res.state, str(day)
    claims = state.days.get(key)
    last = state.published.get(key)
    if claims is None or (claims["n"] < cfg.ps_min_claims and last is None):
        return  # cannot be a spike, and none was published
    history = {int(d): c["n"] for d, c in state.days.items()}
    anomalous, record = provider_day(state.provider_id, day, claims["n"], [], history, cfg)
    if anomalous:
        earliest = sorted(claims["first"].items(), key=lambda kv: (kv[1], kv[0]))
        record["evidence_claim_ids"] = [cid for cid, _ in earliest]
    elif last is None:
        return
    # Otherwise the day was flagged before a late claim raised its baseline (only possible
    # out of time order): the record, with its current figures and no evidence, withdraws
    # it, so that the latest version shows no stale spike.
    digest = content_digest(record)
    if last is not None and last["digest"] == digest:
        return  # nothing new: a replay, or a claim that changed no figure
    detected = claims["last"]
    if last is not None:  # a newer version must sort after the last one, to the second
        detected = max(detected, last["detected_at"] + VERSION_STEP_MS)
    state.published[key] = {"digest": digest, "detected_at": detected, "live": anomalous}
    res.records.append({**record, "detected_at": detected})
    if last is None:
        res.new_anomalies += 1


def _prune(state: ProviderState, cfg: AnomalyConfig, lateness_ms: int) -> None:
    """Bound the state to the days a claim can still change and their baselines."""
    open_day = accepts_from(state, cfg, lateness_ms) // DAY_MS  # oldest day still taking claims
    keep = open_day - cfg.ps_baseline_days
    for d in [d for d in state.days if int(d) < keep]:
        del state.days[d]
    for d, claims in state.days.items():
        if int(d) < open_day and claims["seen"]:
            claims["first"], claims["seen"] = {}, ""  # a baseline only now: no claim of it can come
    for d in [d for d in state.published if int(d) < open_day]:
        del state.published[d]
