"""Underwriting: applications from quotes, evidence requests and risk decisions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from schemas import UNDERWRITING
from streams.units import DAY_MS, HOUR_MS

from .desk import Desk
from .records import Customer

_SOURCE = "underwriting.rules-engine"
_DECISIONS = (
    ("rated", 0.4),
    ("exclusion", 0.25),
    ("declined", 0.15),
    ("postponed", 0.1),
    ("standard", 0.1),
)
_RISK_CLASS = {"standard": "standard", "declined": "uninsurable", "postponed": "substandard"}
_EXCLUSIONS = (
    "pre-existing diabetes",
    "lumbar spine",
    "hypertension complications",
    "thyroid nodules",
)
_ACCEPTED = ("standard", "rated", "exclusion")


class Acceptance(NamedTuple):
    """An accepted application that goes on to a policy: when, and at what premium loading."""

    issue_at: int
    application_id: str
    premium_factor: float


class Underwriting(Desk):
    """The rules engine: most applications decided in seconds, the rest after evidence."""

    def apply(
        self, t: int, customer: Customer, line: str, code: str, sum_assured: int, quote_id: str
    ) -> Acceptance | None:
        """An application from a quote, through to the decision; the policy to issue, if any."""
        app_id = self.next_id("AP")
        self.event(
            t,
            UNDERWRITING,
            "application_submitted",
            customer,
            _SOURCE,
            {
                "application_id": app_id,
                "quote_id": quote_id,
                "product_line": line,
                "product_code": code,
                "sum_assured": Decimal(sum_assured),
            },
        )
        fields: dict[str, Any] = {"application_id": app_id, "quote_id": quote_id}
        if self.rng.random() < 0.7:  # standard risk: automated decision in seconds
            decided = t + self.uniform_ms(2_000, 30_000)
            fields.update(decision="standard", risk_class=self.choice(("preferred", "standard")))
            factor = 1.0
        else:
            decided, factor = self._refer(t, customer, app_id, fields)
        self.event(decided, UNDERWRITING, "application_decided", customer, _SOURCE, fields)
        if fields["decision"] in _ACCEPTED and self.rng.random() < 0.9:
            issued = decided + self.uniform_ms(HOUR_MS, 2 * DAY_MS)
            return Acceptance(issued, app_id, factor)
        return None

    def _refer(
        self, t: int, customer: Customer, app_id: str, fields: dict[str, Any]
    ) -> tuple[int, float]:
        """Manual underwriting: evidence, then a decision (into ``fields``) days later.

        Returns the decision time and the premium factor.
        """
        evidence_t = t + self.uniform_ms(HOUR_MS, DAY_MS)
        self.event(
            evidence_t,
            UNDERWRITING,
            "evidence_requested",
            customer,
            _SOURCE,
            {
                "application_id": app_id,
                "evidence_type": self.choice(
                    ("medical_report", "health_questionnaire", "financial_statement")
                ),
            },
        )
        decided = evidence_t + self.uniform_ms(2 * DAY_MS, 10 * DAY_MS)
        decision = self.pick(_DECISIONS)
        fields["decision"] = decision
        fields["risk_class"] = _RISK_CLASS.get(decision, "substandard")
        factor = 1.0
        if decision == "rated":
            pct = self.choice((25, 50, 75, 100))
            fields["extra_premium_pct"] = pct
            factor = 1 + pct / 100
        elif decision == "exclusion":
            fields["exclusion"] = self.choice(_EXCLUSIONS)
        return decided, factor
