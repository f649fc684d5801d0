"""Customer service: inquiries, complaints, policy changes and satisfaction surveys."""

from __future__ import annotations

from typing import Any

from schemas import SERVICING
from streams.units import DAY_MS, HOUR_MS, MINUTE_MS

from .config import COMPLAINT_RESOLUTION, INQUIRY_FIRST_RESPONSE
from .desk import Desk
from .records import Customer
from .truth import SlaObligation

_CRM = "servicing.crm"
_CHANNELS = (
    ("phone", 0.35),
    ("app", 0.25),
    ("wechat", 0.2),
    ("web", 0.1),
    ("branch", 0.05),
    ("agent", 0.05),
)
_INQUIRY_TOPICS = (
    ("coverage", 0.25),
    ("claim_status", 0.25),
    ("billing", 0.2),
    ("policy_info", 0.2),
    ("other", 0.1),
)
_COMPLAINT_TOPICS = (
    ("claim_delay", 0.3),
    ("service_attitude", 0.2),
    ("billing_error", 0.2),
    ("mis_selling", 0.15),
    ("policy_terms", 0.15),
)
_CHANGE_KINDS = (
    ("address_change", 0.35),
    ("payment_method_change", 0.25),
    ("beneficiary_change", 0.2),
    ("contact_change", 0.1),
    ("sum_assured_change", 0.1),
)


class Servicing(Desk):
    """The CRM: cases with service levels (inquiries, complaints), changes and surveys."""

    def inquiry_arrival(self, t: int) -> None:
        self._inquiry(t, self.choice(self.world.customers))

    def complaint_arrival(self, t: int) -> None:
        self.complaint(t, self.choice(self.world.customers), self.pick(_COMPLAINT_TOPICS))

    def _case(
        self, rule: str, kind: str, customer: Customer, t: int
    ) -> tuple[dict[str, Any], int, str | None, SlaObligation]:
        """A new case under a service level: its id fields, time limit, fate and obligation."""
        case_id = self.next_id("SV")
        limit = self.engine.span(rule, customer.segment, t)
        fate = self.engine.fate()
        ob = self.engine.obligation(rule, case_id, customer, fate, limit)
        return {"case_id": case_id, "case_kind": kind}, limit, fate, ob

    def _inquiry(self, t: int, customer: Customer) -> None:
        base, limit, fate, ob = self._case(INQUIRY_FIRST_RESPONSE, "inquiry", customer, t)
        policy_id = self.choice(customer.policies).id if customer.policies else None
        self.event(
            t,
            SERVICING,
            "inquiry_opened",
            customer,
            _CRM,
            {
                **base,
                "channel": self.pick(_CHANNELS),
                "category": self.pick(_INQUIRY_TOPICS),
                "policy_id": policy_id,
            },
            (("start", ob),),
        )
        if fate == "missing":
            return
        responded = t + self.engine.completion(limit, fate, 90 * MINUTE_MS)
        self.event(
            responded, SERVICING, "inquiry_responded", customer, _CRM, dict(base), (("end", ob),)
        )
        if self.rng.random() < 0.9:
            resolved = responded + self.uniform_ms(5 * MINUTE_MS, 2 * DAY_MS)
            self.event(resolved, SERVICING, "inquiry_resolved", customer, _CRM, dict(base))
            if self.rng.random() < 0.15:
                self.survey(
                    resolved + self.uniform_ms(HOUR_MS, DAY_MS),
                    customer,
                    fate is not None,
                    related_case=base["case_id"],
                )

    def complaint(
        self,
        t: int,
        customer: Customer,
        category: str,
        *,
        claim_id: str | None = None,
        policy_id: str | None = None,
    ) -> None:
        """A complaint, resolved (maybe late) or never, and maybe a survey after it."""
        base, limit, fate, ob = self._case(COMPLAINT_RESOLUTION, "complaint", customer, t)
        self.event(
            t,
            SERVICING,
            "complaint_opened",
            customer,
            _CRM,
            {
                **base,
                "channel": self.pick(_CHANNELS),
                "category": category,
                "claim_id": claim_id,
                "policy_id": policy_id,
            },
            (("start", ob),),
        )
        if fate == "missing":
            return
        resolved = t + self.engine.completion(limit, fate, limit // 3)
        self.event(
            resolved, SERVICING, "complaint_resolved", customer, _CRM, dict(base), (("end", ob),)
        )
        if self.rng.random() < 0.3:
            self.survey(
                resolved + self.uniform_ms(HOUR_MS, DAY_MS),
                customer,
                fate is not None or self.rng.random() < 0.5,
                related_case=base["case_id"],
            )

    def survey(
        self,
        t: int,
        customer: Customer,
        unhappy: bool,
        *,
        claim_id: str | None = None,
        related_case: str | None = None,
    ) -> None:
        """A satisfaction survey answered (NPS 0..10, lower when ``unhappy``)."""
        if unhappy:
            score = self.choice((0, 1, 2, 3, 4, 5, 5, 6, 6, 7))
        else:
            score = self.choice((6, 7, 8, 8, 9, 9, 9, 10, 10, 10))
        self.event(
            t,
            SERVICING,
            "survey_answered",
            customer,
            _CRM,
            {
                "case_id": self.next_id("SV"),
                "case_kind": "survey",
                "channel": self.choice(("app", "sms", "wechat")),
                "nps_score": score,
                "claim_id": claim_id,
                "related_case_id": related_case,
            },
        )

    def change_arrival(self, t: int) -> None:
        """A policy change requested, and (mostly) completed."""
        policy = self.world.random_policy()
        if policy is None:
            return
        base = {"case_id": self.next_id("SV"), "case_kind": "policy_change", "policy_id": policy.id}
        self.event(
            t,
            SERVICING,
            "policy_change_requested",
            policy.customer,
            _CRM,
            {**base, "channel": self.pick(_CHANNELS), "category": self.pick(_CHANGE_KINDS)},
        )
        if self.rng.random() < 0.95:
            self.event(
                t + self.uniform_ms(30 * MINUTE_MS, 5 * DAY_MS),
                SERVICING,
                "policy_change_completed",
                policy.customer,
                _CRM,
                base,
            )
