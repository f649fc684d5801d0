"""Injected risk signals: claim patterns the hub's anomaly rules should flag.

High-frequency claimants (many small claims), provider spikes (one hospital's or garage's
claims jump on one day) and early claims (soon after a policy starts). Each is recorded in
the ground truth as its claims are handed out.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from streams.units import DAY_MS, HOUR_MS

from .claims import Claims
from .desk import Desk
from .engine import Engine
from .records import Policy, date_ms
from .truth import HighFrequencyInjection, ProviderSpikeInjection
from .world import World


class RiskSignals(Desk):
    """Plans the injected claims, through the claims desk, at the start of the run."""

    def __init__(self, engine: Engine, world: World, claims: Claims) -> None:
        super().__init__(engine, world)
        self.claims = claims

    def plan(self) -> None:
        """Plan all injected claims (each customer in at most one signal)."""
        seasoned = self.engine.start_date - timedelta(days=self.cfg.early_claim_days + 1)
        used: set[str] = set()
        self._high_frequency_claimants(seasoned, used)
        self._provider_spikes(seasoned, used)
        self._early_claims(used)

    def _high_frequency_claimants(self, seasoned: date, used: set[str]) -> None:
        """Many small claims spread over the window, on seasoned health policies."""
        cfg = self.cfg
        rng = self.rng
        start, end = self.engine.start_ms, self.engine.until_ms
        health = self.world.eligible("health", seasoned)
        for policy in rng.sample(health, min(cfg.high_frequency_claimants, len(health))):
            customer = policy.customer
            customer.high_frequency = True
            used.add(customer.id)
            hf = HighFrequencyInjection(customer.id)
            n = rng.randint(*cfg.high_frequency_claims)
            for t in sorted(self.uniform_ms(start, end - DAY_MS) for _ in range(n)):
                self.at(t, self._claim, (policy, None, True, (("hf", hf),)))

    def _provider_spikes(self, seasoned: date, used: set[str]) -> None:
        """One hospital's (or garage's) claims jump on one day, alternating health and motor."""
        cfg = self.cfg
        rng = self.rng
        world = self.world
        start, end = self.engine.start_ms, self.engine.until_ms
        days = max(1, int(cfg.days) - 2)
        calendar = self.engine.calendar
        for i in range(cfg.provider_spikes):
            line, providers = (
                ("health", world.hospitals) if i % 2 == 0 else ("motor", world.garages)
            )
            provider = self.choice(providers[len(providers) // 4 :])
            day_index = rng.randrange(min(1, days - 1), days)
            day_start = start + day_index * DAY_MS
            day_start -= calendar.utc_offset_ms(day_start)  # local midnight
            spike = ProviderSpikeInjection(
                provider, calendar.local_date(day_start + HOUR_MS).isoformat()
            )
            pool = [
                p
                for p in world.eligible(line, seasoned)
                if p.customer.id not in used and p.customer.natural_claims < 2
            ]
            for policy in rng.sample(pool, min(rng.randint(*cfg.provider_spike_claims), len(pool))):
                used.add(policy.customer.id)
                policy.customer.natural_claims += 1
                t = day_start + self.uniform_ms(8 * HOUR_MS, 20 * HOUR_MS)
                if start <= t < end:
                    self.at(t, self._claim, (policy, provider, False, (("spike", spike),)))

    def _early_claims(self, used: set[str]) -> None:
        """Claims on policies that started shortly before the window, within the early days."""
        cfg = self.cfg
        start, end = self.engine.start_ms, self.engine.until_ms
        since = self.engine.start_date - timedelta(days=cfg.early_claim_days - 5)
        recent = [
            p
            for line in ("health", "motor", "property")
            for p in self.world.pools[line]
            if since <= p.start and p.customer.id not in used
        ]
        for policy in self.rng.sample(recent, min(cfg.early_claims, len(recent))):
            used.add(policy.customer.id)
            policy_start = date_ms(policy.start)
            lo = max(start, policy_start + DAY_MS)
            hi = min(end - DAY_MS, policy_start + (cfg.early_claim_days - 1) * DAY_MS)
            if lo < hi:
                self.at(
                    self.uniform_ms(lo, hi),
                    self._claim,
                    (policy, None, False, (("early", policy),)),
                )

    def _claim(self, t: int, arg: tuple[Policy, str | None, bool, tuple[Any, ...]]) -> None:
        policy, provider, small, marks = arg
        if policy.active:
            self.claims.claim(t, policy, provider=provider, small=small, marks=marks)
