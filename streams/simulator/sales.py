"""Sales and policy administration: the book in force at the start, quotes, new policies,
renewal reminders, renewals, lapses and cancellations."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from schemas import SALES
from streams.units import DAY_MS, HOUR_MS, MINUTE_MS

from .config import RENEWAL_REMINDER, SEGMENT_AFFLUENT, SEGMENT_HNW
from .desk import Desk
from .engine import Engine
from .records import DAYS, Customer, Policy, date_ms, money
from .underwriting import Acceptance, Underwriting
from .world import LINES, World

_LINE_WEIGHTS = (0.25, 0.35, 0.28, 0.12)
PRODUCTS: dict[str, list[tuple[str, tuple[int, int], tuple[int, int]]]] = {
    # code, annual premium range (CNY), sum assured range (CNY)
    "life": [
        ("LIFE-TERM20", (1_500, 6_000), (300_000, 2_000_000)),
        ("LIFE-WL", (5_000, 30_000), (500_000, 5_000_000)),
        ("LIFE-ENDOW10", (10_000, 50_000), (100_000, 1_000_000)),
    ],
    "health": [
        ("HLT-MEDPLUS", (300, 1_500), (1_000_000, 3_000_000)),
        ("HLT-CI", (3_000, 12_000), (300_000, 1_000_000)),
        ("HLT-HOSPCASH", (200, 800), (50_000, 200_000)),
        ("HLT-OUTPT", (800, 3_000), (20_000, 50_000)),
    ],
    "motor": [
        ("MTR-COMP", (3_000, 9_000), (100_000, 500_000)),
        ("MTR-TPL", (950, 2_000), (1_000_000, 3_000_000)),
    ],
    "property": [
        ("PRP-HOME", (500, 3_000), (500_000, 3_000_000)),
        ("PRP-CONTENTS", (200, 1_000), (50_000, 300_000)),
    ],
}
_SEGMENT_FACTOR = {SEGMENT_HNW: 3.0, SEGMENT_AFFLUENT: 1.6}
_CHANNELS = (
    ("agent", 0.55),
    ("online", 0.15),
    ("bancassurance", 0.15),
    ("broker", 0.08),
    ("telesales", 0.07),
)
_AGENT_CHANNELS = frozenset(("agent", "bancassurance", "telesales"))
_CANCEL_REASONS = ("customer_request", "cooling_off", "replaced", "sold_vehicle")
_ADMIN = "sales.policy-admin"


def _source(channel: str) -> str:
    return "sales.web-portal" if channel == "online" else _ADMIN


class Sales(Desk):
    """The policy-admin and sales systems: the book, new business and the policy lifecycle."""

    def __init__(self, engine: Engine, world: World, underwriting: Underwriting) -> None:
        super().__init__(engine, world)
        self.underwriting = underwriting

    # -- before the window -------------------------------------------------------------

    def history(self, customer: Customer) -> None:
        """A new customer's past: policies in force, or (a prospect) a recent quote."""
        if self.rng.random() >= self.cfg.prospect_share:
            self._book_in_force(customer)
        elif self.cfg.backfill:  # a prospect: known from a quote in the last six months
            t = self.engine.start_ms - self.uniform_ms(DAY_MS, 180 * DAY_MS)
            self._quote(t, customer, follow_up=False)

    def _book_in_force(self, customer: Customer) -> None:
        """The customer's policies in force at the start, issued in the past year.

        The hot loop of a run's start: most records of a default run are this history.
        """
        random_ = self.rng.random
        r = random_()
        count = 1 if r < 0.5 else 2 if r < 0.8 else 3 if r < 0.95 else 4
        if customer.segment == SEGMENT_HNW:
            count += 1
        lines = list(LINES)
        weights = list(_LINE_WEIGHTS)
        start_date = self.engine.start_date
        publish = self.cfg.backfill
        for _ in range(min(count, 4)):
            r = random_() * sum(weights)
            i = 0
            while i < len(lines) - 1 and r >= weights[i]:
                r -= weights[i]
                i += 1
            line = lines[i]
            del lines[i], weights[i]
            start = start_date - DAYS[1 + int(random_() * 364)]
            issued = date_ms(start) - HOUR_MS - int(random_() * (3 * DAY_MS - HOUR_MS))
            policy = self._open_policy(customer, line, start)
            marks = self._plan_renewal(policy)
            if publish:
                self._policy_issued(issued, policy, marks)

    # -- new business ------------------------------------------------------------------

    def quote_arrival(self, t: int) -> None:
        self._quote(t, self.choice(self.world.customers), follow_up=True)

    def _quote(self, t: int, customer: Customer, *, follow_up: bool) -> None:
        """A quote; ``follow_up`` lets it go on to an application and maybe a policy."""
        held = {p.line for p in customer.policies if p.active}
        candidates = [x for x in LINES if x not in held] or list(LINES)
        line = self.choice(candidates)
        code, premium_cents, sum_assured = self._product(line, customer.segment)
        channel, agent = self._channel()
        quote_id = self.next_id("Q")
        self.event(
            t,
            SALES,
            "quote_created",
            customer,
            _source(channel),
            {
                "quote_id": quote_id,
                "product_line": line,
                "product_code": code,
                "premium": money(premium_cents),
                "sum_assured": Decimal(sum_assured),
                "agent_id": agent,
                "channel": channel,
                "customer_segment": customer.segment,
                "customer_name": customer.name,
                "phone": customer.phone,
            },
        )
        if follow_up and self.rng.random() < 0.55:
            accepted = self.underwriting.apply(
                t + self.uniform_ms(10 * MINUTE_MS, 3 * DAY_MS),
                customer,
                line,
                code,
                sum_assured,
                quote_id,
            )
            if accepted is not None:
                self.at(accepted.issue_at, self._new_policy, (customer, line, accepted))

    def _new_policy(self, t: int, arg: tuple[Customer, str, Acceptance]) -> None:
        """Issue the policy of an accepted application; it starts the next (local) day."""
        customer, line, accepted = arg
        start = self.engine.calendar.local_date(t) + timedelta(days=1)
        policy = self._open_policy(customer, line, start, accepted.application_id)
        policy.premium_cents = int(policy.premium_cents * accepted.premium_factor)
        self._policy_issued(t, policy)

    def _product(self, line: str, segment: str) -> tuple[str, int, int]:
        """A product of the line: code, annual premium in cents and sum assured."""
        random_ = self.rng.random
        products = PRODUCTS[line]
        code, (p_lo, p_hi), (s_lo, s_hi) = products[int(random_() * len(products))]
        factor = _SEGMENT_FACTOR.get(segment, 1.0)
        premium_cents = int((p_lo + (p_hi - p_lo) * random_()) * factor * 100)
        sum_assured = int((s_lo + (s_hi - s_lo) * random_()) * factor) // 1000 * 1000
        return code, premium_cents, sum_assured

    def _channel(self) -> tuple[str, str | None]:
        """A sales channel, and the agent for the channels that have one."""
        channel = self.pick(_CHANNELS)
        agent = self.choice(self.world.agents) if channel in _AGENT_CHANNELS else None
        return channel, agent

    def _open_policy(
        self, customer: Customer, line: str, start: date, application_id: str | None = None
    ) -> Policy:
        """A policy of a product of the line, sold through a channel, in force from ``start``."""
        code, premium_cents, sum_assured = self._product(line, customer.segment)
        channel, agent = self._channel()
        policy = Policy(
            self.next_id("P"),
            customer,
            line,
            code,
            premium_cents,
            sum_assured,
            start,
            start + DAYS[365],
            agent,
            channel,
            application_id,
        )
        self.world.add_policy(policy)
        return policy

    def _policy_issued(self, t: int, policy: Policy, marks: tuple[Any, ...] = ()) -> None:
        customer = policy.customer
        fields = {
            "policy_id": policy.id,
            "application_id": policy.application_id,
            "product_line": policy.line,
            "product_code": policy.product_code,
            "premium": money(policy.premium_cents),
            "sum_assured": Decimal(policy.sum_assured),
            "agent_id": policy.agent_id,
            "channel": policy.channel,
            "policy_start_date": policy.start,
            "renewal_due_date": policy.due,
            "customer_segment": customer.segment,
            "customer_name": customer.name,
            "phone": customer.phone,
            "id_number": customer.id_number,
        }
        if policy.application_id is None:  # the book before the window: not from a quote
            del fields["application_id"]
        self.event(t, SALES, "policy_issued", customer, _source(policy.channel), fields, marks)

    # -- renewals, lapses and cancellations --------------------------------------------

    def _plan_renewal(self, policy: Policy) -> tuple[Any, ...]:
        """Reminder (maybe late or missing) and renewal or lapse of a policy in force.

        Returns the marks for the policy_issued event (the start of the reminder obligation).
        """
        engine = self.engine
        customer = policy.customer
        lead = engine.renewal_lead[customer.segment]
        due_ms = date_ms(policy.due)
        deadline = due_ms - lead
        if deadline > engine.until_ms + 30 * DAY_MS:
            return ()  # nothing of this renewal happens during the run
        fate = engine.fate()
        marks: tuple[Any, ...] = ()
        reminder_marks: tuple[Any, ...] = ()
        reminder_t = None
        if self.cfg.backfill:  # without the policy_issued event there is no obligation to see
            ob = engine.obligation(RENEWAL_REMINDER, policy.id, customer, fate, lead)
            marks = (("start", ob),)
            reminder_marks = (("end", ob),)
        if fate != "missing":
            if fate == "late":
                reminder_t = deadline + self.uniform_ms(DAY_MS, max(2 * DAY_MS, lead - 2 * DAY_MS))
            else:
                reminder_t = deadline - self.uniform_ms(3 * DAY_MS, 25 * DAY_MS)
            self.event(
                reminder_t,
                SALES,
                "renewal_reminder_sent",
                customer,
                _ADMIN,
                {
                    "policy_id": policy.id,
                    "renewal_due_date": policy.due,
                    "channel": self.choice(("sms", "app", "agent", "email")),
                },
                reminder_marks,
            )
        if self.rng.random() < self.cfg.renewal_rate:
            t = max(
                due_ms - self.uniform_ms(0, 10 * DAY_MS),
                engine.start_ms,
                (reminder_t or 0) + HOUR_MS,
            )
            self.at(t, self._renew, policy)
        else:
            self.at(due_ms + self.cfg.lapse_grace_days * DAY_MS, self._lapse, policy)
        return marks

    def _renew(self, t: int, policy: Policy) -> None:
        if not policy.active:
            return
        policy.premium_cents = int(policy.premium_cents * self.rng.uniform(0.97, 1.08))
        policy.start = policy.due
        policy.due = policy.due + timedelta(days=365)
        self.event(
            t,
            SALES,
            "policy_renewed",
            policy.customer,
            _ADMIN,
            {
                "policy_id": policy.id,
                "product_line": policy.line,
                "product_code": policy.product_code,
                "premium": money(policy.premium_cents),
                "sum_assured": Decimal(policy.sum_assured),
                "policy_start_date": policy.start,
                "renewal_due_date": policy.due,
                "customer_segment": policy.customer.segment,
            },
        )

    def _lapse(self, t: int, policy: Policy) -> None:
        if not policy.active:
            return
        self.world.end_policy(policy)
        self.event(
            t,
            SALES,
            "policy_lapsed",
            policy.customer,
            _ADMIN,
            {"policy_id": policy.id, "reason": "premium_not_paid"},
        )

    def cancel_arrival(self, t: int) -> None:
        policy = self.world.random_policy()
        if policy is None:
            return
        self.world.end_policy(policy)
        self.event(
            t,
            SALES,
            "policy_cancelled",
            policy.customer,
            _ADMIN,
            {
                "policy_id": policy.id,
                "reason": self.choice(_CANCEL_REASONS),
            },
        )
