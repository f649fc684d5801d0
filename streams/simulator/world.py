"""The insurer's book: customers, their policies in force by product line, providers and agents."""

from __future__ import annotations

import bisect
import operator
from datetime import date, timedelta

from .engine import YEAR_MS, Engine
from .records import Customer, Policy

LINES = ("life", "health", "motor", "property")

_SURNAMES = (
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Lin",
    "Gao",
    "Luo",
)
_GIVEN = (
    "Wei",
    "Fang",
    "Na",
    "Min",
    "Jing",
    "Li",
    "Qiang",
    "Lei",
    "Jun",
    "Yang",
    "Yong",
    "Yan",
    "Jie",
    "Tao",
    "Ming",
    "Chao",
    "Xiu",
    "Ying",
    "Hua",
    "Hui",
    "Ping",
    "Gang",
)
_REGIONS = ("110101", "310101", "440305", "330106", "510104", "420102", "320102", "500103")
_ID_BIRTH_START = date(1950, 1, 1)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_WEIGHT_OFFSET = 48 * sum(_ID_WEIGHTS)


def _zipf_cum(n: int) -> list[float]:
    """Cumulative weights ~1/rank: a few large providers, a long tail of small ones."""
    acc = 0.0
    out = []
    for rank in range(1, n + 1):
        acc += 1 / rank
        out.append(acc)
    return out


class World:
    """Who the insurer deals with; sized by ``config.customers``, filled by the simulation.

    ``pools`` holds the active policies of each product line (for picking one at random in
    constant time); a policy leaves its pool when it lapses or is cancelled.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._rng = engine.rng
        n = engine.cfg.customers
        self.hospitals = [f"HOSP-{i:04d}" for i in range(1, max(20, n // 250) + 1)]
        self.garages = [f"GAR-{i:04d}" for i in range(1, max(10, n // 400) + 1)]
        self.repairers = [f"REP-{i:04d}" for i in range(1, max(5, n // 1000) + 1)]
        self.agents = [f"AG{i:05d}" for i in range(1, max(20, n // 100) + 1)]
        self._providers = {
            kind: (items, _zipf_cum(len(items)))
            for kind, items in (
                ("hospital", self.hospitals),
                ("garage", self.garages),
                ("repairer", self.repairers),
            )
        }
        self.customers: list[Customer] = []
        self.pools: dict[str, list[Policy]] = {line: [] for line in LINES}
        self._segments = tuple(engine.cfg.segments.items())
        self._names = [f"{s} {g1}{g2.lower()}" for s in _SURNAMES for g1 in _GIVEN for g2 in _GIVEN]

    # -- customers ---------------------------------------------------------------------

    def new_customer(self) -> Customer:
        """The next customer: segment, name, phone, resident ID and usual providers."""
        random_ = self._rng.random
        names = self._names
        customer = Customer(
            f"C{len(self.customers) + 1:07d}",
            self._engine.pick(self._segments),
            names[int(random_() * len(names))],
            f"+861{'3578'[int(random_() * 4)]}{int(random_() * 1e9):09d}",
            self._id_number(),
            self.provider("hospital"),
            self.provider("garage"),
            self.provider("repairer"),
        )
        self.customers.append(customer)
        return customer

    def provider(self, kind: str) -> str:
        """A hospital, garage or repairer, the large ones more often."""
        items, cum = self._providers[kind]
        return items[bisect.bisect(cum, self._rng.random() * cum[-1])]

    def _id_number(self) -> str:
        """A well-formed (synthetic) Chinese resident ID: region, birth date, serial, check."""
        rng = self._rng
        birth = _ID_BIRTH_START + timedelta(days=int(rng.random() * 365 * 55))
        body = (
            f"{_REGIONS[int(rng.random() * len(_REGIONS))]}"
            f"{birth.year}{birth.month:02d}{birth.day:02d}{int(rng.random() * 1000):03d}"
        )
        # sum of digit*weight, from the ASCII codes: sum((c - 48) * w) = sum(c * w) - 48 * sum(w)
        total = sum(map(operator.mul, body.encode(), _ID_WEIGHTS)) - _ID_WEIGHT_OFFSET
        check = "10X98765432"[total % 11]
        return body + check

    # -- policies in force -------------------------------------------------------------

    def add_policy(self, policy: Policy) -> None:
        """A new policy of its customer, in force."""
        policy.customer.policies.append(policy)
        pool = self.pools[policy.line]
        policy.pool_index = len(pool)
        pool.append(policy)

    def end_policy(self, policy: Policy) -> None:
        """The policy is no longer in force (lapsed or cancelled)."""
        policy.active = False
        if policy.pool_index < 0:
            return
        pool = self.pools[policy.line]
        last = pool.pop()
        if last is not policy:
            pool[policy.pool_index] = last
            last.pool_index = policy.pool_index
        policy.pool_index = -1

    def random_policy(self) -> Policy | None:
        """A policy in force, any line (None when the line drawn has none)."""
        pools = self.pools
        line = self._rng.choices(LINES, [len(pools[x]) for x in LINES])[0]
        pool = pools[line]
        return self._engine.choice(pool) if pool else None

    def eligible(self, line: str, before: date) -> list[Policy]:
        """Policies of a line in force that started on or before ``before``."""
        return [p for p in self.pools[line] if p.start <= before]

    def policy_count(self) -> int:
        return sum(len(pool) for pool in self.pools.values())

    def pool_rate(self, line: str, per_policy_year: float) -> float:
        """A per-policy yearly rate over a line's policies in force, per ms."""
        return max(len(self.pools[line]), 1) * per_policy_year / YEAR_MS
