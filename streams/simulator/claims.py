"""Claims: arrivals per product line, and each claim's lifecycle from report to close.

A claim is planned in steps when it is reported: open the claim file (amount, service levels
and what goes wrong), report, accept, request documents, assess and settle (pay or reject),
close; a claim that runs late or stalls may draw a complaint, and a closed one a survey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from schemas import CLAIMS
from streams.units import DAY_MS, HOUR_MS, MINUTE_MS

from .config import CLAIM_ACCEPTANCE, CLAIM_SETTLEMENT, SMALL_CLAIM_PAYMENT
from .desk import Desk
from .engine import Engine
from .records import Policy, date_ms, money
from .servicing import Servicing
from .truth import SlaObligation
from .world import LINES, World

_CORE = "claims.core"
_DOCUMENTS = (
    "invoice",
    "medical_record",
    "police_report",
    "repair_estimate",
    "id_copy",
    "bank_details",
    "discharge_summary",
)
_REJECTIONS = (
    "not_covered",
    "waiting_period",
    "pre_existing_condition",
    "insufficient_documents",
    "policy_lapsed",
)


@dataclass(slots=True)
class ClaimFile:
    """A claim as planned at its report: what was claimed, its limits and what goes wrong.

    ``fate`` (late, missing or None) hits one ``stage``: acceptance, settlement or (small
    claims) small, the payment deadline. ``obligations``: acceptance, settlement and, for a
    small claim, small-claim payment.
    """

    reported: int
    policy: Policy
    claim_id: str
    claim_type: str
    claimed_cents: int
    is_small: bool
    #: time from the report to the hub's acceptance and settlement deadlines (ms)
    acceptance_limit: int
    settlement_limit: int
    #: the small-claim payment deadline (0 when not a small claim)
    small_deadline: int
    fate: str | None
    stage: str | None = None
    obligations: list[SlaObligation] = field(default_factory=list)

    @property
    def ids(self) -> dict[str, Any]:
        """The id fields every event of the claim carries."""
        return {"claim_id": self.claim_id, "policy_id": self.policy.id}


class Claims(Desk):
    """The claims system: natural claims per line, and the lifecycle of every claim."""

    def __init__(self, engine: Engine, world: World, servicing: Servicing) -> None:
        super().__init__(engine, world)
        self.servicing = servicing

    def start(self) -> None:
        """Plan the natural claims of each product line, at its yearly frequency."""
        for line in LINES:
            rate = self.cfg.claim_frequency.get(line, 0.0)
            if rate > 0:
                self.at(
                    self.engine.activity_time(
                        self.engine.start_ms, self.world.pool_rate(line, rate)
                    ),
                    self._arrival,
                    line,
                )

    def _arrival(self, t: int, line: str) -> None:
        """A natural claim on a policy of the line (at most two per customer, none early)."""
        pool = self.world.pools[line]
        if pool:
            policy = self.choice(pool)
            customer = policy.customer
            early_limit = date_ms(policy.start) + self.cfg.early_claim_days * DAY_MS
            if not customer.high_frequency and customer.natural_claims < 2 and t >= early_limit:
                customer.natural_claims += 1
                self.claim(t, policy)
        # the rate follows the line's policies in force
        rate = self.world.pool_rate(line, self.cfg.claim_frequency[line])
        self.at(self.engine.activity_time(t, rate), self._arrival, line)

    def claim(
        self,
        t: int,
        policy: Policy,
        *,
        provider: str | None = None,
        small: bool = False,
        marks: tuple[Any, ...] = (),
    ) -> None:
        """Plan a claim's whole lifecycle from its report at ``t``."""
        c = self._open(t, policy, small)
        if provider is None:
            provider = self._usual_provider(policy)
        self._report(c, provider, marks)
        if c.fate == "missing" and c.stage == "acceptance":
            self._maybe_complaint(t + c.acceptance_limit, c)
            return
        accepted = self._accept(c)
        settled = self._settlement_time(c, accepted)
        self._maybe_request_documents(c, accepted, settled)
        if c.fate == "missing":
            self._maybe_complaint(t + c.settlement_limit, c)
            return
        rejected = self._assess_and_settle(c, accepted, settled)
        self._close(c, settled, rejected)

    # -- the steps of a claim ----------------------------------------------------------

    def _open(self, t: int, policy: Policy, small: bool) -> ClaimFile:
        """The claim file: id, type and amount, service-level limits, fate and obligations."""
        engine = self.engine
        seg = policy.customer.segment
        claim_id = self.next_id("CL")
        claim_type, claimed = self._type_and_amount(policy, small)
        is_small = engine.sla.opens(
            SMALL_CLAIM_PAYMENT,
            {
                "event_type": "claim_reported",
                "claim_id": claim_id,
                "claimed_amount": money(claimed),
            },
        )
        c = ClaimFile(
            reported=t,
            policy=policy,
            claim_id=claim_id,
            claim_type=claim_type,
            claimed_cents=claimed,
            is_small=is_small,
            acceptance_limit=engine.span(CLAIM_ACCEPTANCE, seg, t),
            settlement_limit=engine.span(CLAIM_SETTLEMENT, seg, t),
            small_deadline=t + engine.span(SMALL_CLAIM_PAYMENT, seg, t) if is_small else 0,
            fate=engine.fate(),
        )
        c.stage = self._troubled_stage(c)
        c.obligations = self._obligations(c)
        return c

    def _troubled_stage(self, c: ClaimFile) -> str | None:
        """Which step a late or missing fate hits: acceptance, settlement or small (payment)."""
        if c.fate == "late":
            return self.choice(
                ("acceptance", "settlement", "small")
                if c.is_small
                else ("acceptance", "settlement")
            )
        if c.fate == "missing":
            return self.choice(("acceptance", "settlement"))
        return None

    def _obligations(self, c: ClaimFile) -> list[SlaObligation]:
        """Acceptance, settlement and (small claims) payment, the troubled one marked."""
        customer = c.policy.customer

        def obligation(rule: str, hit: bool, limit: int) -> SlaObligation:
            fate = c.fate if hit else None
            return self.engine.obligation(rule, c.claim_id, customer, fate, limit)

        obligations = [
            obligation(CLAIM_ACCEPTANCE, c.stage == "acceptance", c.acceptance_limit),
            obligation(CLAIM_SETTLEMENT, c.stage == "settlement", c.settlement_limit),
        ]
        if c.is_small:
            # a claim that is never settled is never paid either
            hit = c.stage == "small" or (c.fate == "missing" and c.stage == "settlement")
            obligations.append(obligation(SMALL_CLAIM_PAYMENT, hit, c.small_deadline - c.reported))
        return obligations

    def _report(self, c: ClaimFile, provider: str | None, marks: tuple[Any, ...]) -> None:
        """claim_reported: starts the claim's obligations."""
        t = c.reported
        policy = c.policy
        incident = self.engine.calendar.local_date(t - self.uniform_ms(0, 10 * DAY_MS))
        incident = max(incident, policy.start)
        source = "claims.mobile-app" if self.rng.random() < 0.3 else _CORE
        self.event(
            t,
            CLAIMS,
            "claim_reported",
            policy.customer,
            source,
            {
                **c.ids,
                "product_line": policy.line,
                "claim_type": c.claim_type,
                "incident_date": incident,
                "claimed_amount": money(c.claimed_cents),
                "provider_id": provider,
            },
            (*(("start", ob) for ob in c.obligations), *marks),
        )

    def _accept(self, c: ClaimFile) -> int:
        """claim_accepted (small claims fast, the troubled stage late); returns its time."""
        t = c.reported
        if c.stage == "acceptance":
            accepted = t + self.engine.late(c.acceptance_limit)
        elif c.is_small:
            accepted = t + self.uniform_ms(
                5 * MINUTE_MS, max(10 * MINUTE_MS, min(4 * HOUR_MS, (c.small_deadline - t) // 3))
            )
        else:
            accepted = t + self.engine.on_time(c.acceptance_limit, 10 * HOUR_MS)
        self.event(
            accepted,
            CLAIMS,
            "claim_accepted",
            c.policy.customer,
            _CORE,
            c.ids,
            (("end", c.obligations[0]),),
        )
        return accepted

    def _settlement_time(self, c: ClaimFile, accepted: int) -> int:
        """When the claim is paid or rejected (planned before the documents it may need)."""
        t = c.reported
        if c.stage == "settlement":
            settled = t + self.engine.late(c.settlement_limit)
        elif c.stage == "small":
            settled = c.small_deadline + self.uniform_ms(2 * HOUR_MS, 2 * DAY_MS)
        elif c.is_small:
            settled = t + int((c.small_deadline - t) * self.rng.uniform(0.3, 0.9))
        else:
            settled = t + int(c.settlement_limit * self.rng.uniform(0.25, 0.9))
        return max(settled, accepted + 30 * MINUTE_MS)

    def _maybe_request_documents(self, c: ClaimFile, accepted: int, settled: int) -> None:
        """documents_requested, for some claims that are not small, between the two."""
        rng = self.rng
        if not c.is_small and rng.random() < 0.35:
            self.event(
                accepted + self.uniform_ms(10 * MINUTE_MS, min(DAY_MS, (settled - accepted) // 3)),
                CLAIMS,
                "documents_requested",
                c.policy.customer,
                _CORE,
                {**c.ids, "requested_documents": rng.sample(_DOCUMENTS, rng.randint(1, 3))},
            )

    def _assess_and_settle(self, c: ClaimFile, accepted: int, settled: int) -> bool:
        """claim_assessed, then claim_paid or claim_rejected; returns whether rejected."""
        rng = self.rng
        customer = c.policy.customer
        life = c.policy.line == "life"
        rejected = rng.random() < (0.03 if life else 0.08)
        assessed_cents = c.claimed_cents if life else int(c.claimed_cents * rng.uniform(0.6, 1.0))
        assessed = settled - self.uniform_ms(
            5 * MINUTE_MS, max(6 * MINUTE_MS, min(12 * HOUR_MS, (settled - accepted) // 2))
        )
        self.event(
            assessed,
            CLAIMS,
            "claim_assessed",
            customer,
            _CORE,
            {**c.ids, "assessed_amount": money(0 if rejected else assessed_cents)},
        )
        ends = tuple(("end", ob) for ob in c.obligations[1:])
        if rejected:
            outcome = ("claim_rejected", {**c.ids, "rejection_reason": self.choice(_REJECTIONS)})
        else:
            outcome = ("claim_paid", {**c.ids, "paid_amount": money(assessed_cents)})
        self.event(settled, CLAIMS, outcome[0], customer, _CORE, outcome[1], ends)
        return rejected

    def _close(self, c: ClaimFile, settled: int, rejected: bool) -> None:
        """claim_closed; a complaint if it ran late, maybe a survey."""
        customer = c.policy.customer
        closed = settled + self.uniform_ms(HOUR_MS, 3 * DAY_MS)
        self.event(closed, CLAIMS, "claim_closed", customer, _CORE, c.ids)
        if c.fate == "late":
            late_limit = c.acceptance_limit if c.stage == "acceptance" else c.settlement_limit
            self._maybe_complaint(c.reported + late_limit, c)
        if self.rng.random() < self.cfg.survey_response_share:
            unhappy = c.fate is not None or rejected
            self.servicing.survey(
                closed + self.uniform_ms(HOUR_MS, 3 * DAY_MS),
                customer,
                unhappy,
                claim_id=c.claim_id,
            )

    def _maybe_complaint(self, t: int, c: ClaimFile) -> None:
        """A quarter of the customers whose claim stalls or runs late complain (from ``t``)."""
        if self.rng.random() < 0.25:
            self.servicing.complaint(
                t + self.uniform_ms(HOUR_MS, 2 * DAY_MS),
                c.policy.customer,
                "claim_delay",
                claim_id=c.claim_id,
                policy_id=c.policy.id,
            )

    # -- what is claimed, and where ----------------------------------------------------

    def _usual_provider(self, policy: Policy) -> str | None:
        """The hospital, garage or repairer of the claim: mostly the customer's usual one."""
        customer = policy.customer
        if policy.line == "health":
            if self.rng.random() < 0.8:
                return customer.hospital
            return self.world.provider("hospital")
        if policy.line == "motor":
            if self.rng.random() < 0.8:
                return customer.garage
            return self.world.provider("garage")
        if policy.line == "property":
            return customer.repairer
        return None

    def _type_and_amount(self, policy: Policy, small: bool = False) -> tuple[str, int]:
        """Claim type and claimed amount in cents, per product line."""
        rng = self.rng
        line = policy.line
        cap = policy.sum_assured * 100
        r = 0.0 if small else rng.random()
        if line == "health":
            if r < 0.55:
                kind, cents = "outpatient", int(rng.lognormvariate(math.log(800), 0.7) * 100)
            elif r < 0.70:
                kind, cents = "hospital_allowance", rng.randrange(300, 3000) * 100
            elif r < 0.95:
                kind, cents = "inpatient", int(rng.lognormvariate(math.log(15000), 0.8) * 100)
            else:
                kind, cents = "critical_illness", cap
        elif line == "motor":
            if r < 0.25:
                kind, cents = "glass", rng.randrange(500, 3500) * 100
            elif r < 0.9:
                kind, cents = "collision", int(rng.lognormvariate(math.log(8000), 0.9) * 100)
            else:
                kind, cents = "theft", int(cap * rng.uniform(0.6, 1.0))
        elif line == "property":
            if r < 0.6:
                kind, cents = "water_damage", int(rng.lognormvariate(math.log(6000), 0.8) * 100)
            elif r < 0.75:
                kind, cents = "fire", int(rng.lognormvariate(math.log(40000), 0.9) * 100)
            else:
                kind, cents = "theft", int(rng.lognormvariate(math.log(8000), 0.8) * 100)
        else:
            if r < 0.4:
                kind, cents = "death", cap
            else:
                kind, cents = "disability", int(cap * rng.uniform(0.1, 0.5))
        return kind, max(10_000, min(cents, cap))
