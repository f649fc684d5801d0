"""The run's shared machinery: one RNG, one clock of planned steps, ids, and the tools the desks
(sales, underwriting, claims, servicing) plan with.

A desk plans each lifecycle when it starts, as timestamped events and actions on one heap, so
the simulation hands events out in simulated-time order while memory stays bounded by what is
in flight. Everything random comes from ``Engine.rng``, called in a fixed order, so a seed and
a config give the same events, ids and bytes every time.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from typing import Any

from streams.units import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS

from .config import LIMITED_RULES, GeneratorConfig
from .records import Customer, GeneratedEvent
from .truth import SlaObligation

YEAR_MS = 365 * DAY_MS

#: heap entry kinds: an event to hand out, or an action (the next step of a lifecycle)
EMIT = 0
ACTION = 1

#: Relative hourly activity of customers (local time, 0..23): quiet nights, busy mornings.
_HOURLY = (
    0.1,
    0.05,
    0.05,
    0.05,
    0.05,
    0.1,
    0.3,
    0.5,
    0.8,
    1.0,
    1.0,
    1.0,
    0.8,
    0.9,
    1.0,
    1.0,
    0.9,
    0.8,
    0.7,
    0.7,
    0.6,
    0.5,
    0.3,
    0.2,
)
_HOURLY_MEAN = sum(_HOURLY) / 24
_WEEKEND_FACTOR = 0.6

#: a planned step: called with its time and the argument it was planned with
Action = Callable[[int, Any], None]
#: heap entries: (time, sequence, kind, payload); the sequence breaks ties in planning order
Entry = tuple[int, int, int, Any]


class Engine:
    """The state every desk shares: config, RNG, planned steps, ids and SLA figures."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.start_ms = config.start_ms
        self.until_ms = config.end_ms
        # SLA figures and calendar: the hub's rules (config.sla), looked up once per segment.
        self.sla = config.sla
        self.calendar = config.sla.calendar
        self.start_date = self.calendar.local_date(self.start_ms)
        self._limits = {
            (rule, seg): config.sla.limit(rule, seg)
            for rule in LIMITED_RULES
            for seg in config.segments
        }
        self.renewal_lead = {seg: config.sla.renewal_lead_ms(seg) for seg in config.segments}
        #: the calendar's UTC offset at the start, for the daily rhythm of activity
        self._utc_offset_ms = self.calendar.utc_offset_ms(self.start_ms)
        self.heap: list[Entry] = []
        #: records before the window (backfill history): sorted once instead of heap-pushed
        self.pre: list[Entry] = []
        #: set when the events start being handed out: from then on everything is heap-pushed
        self.started = False
        self._seq = 0
        self._ids: dict[str, int] = {}
        h = f"{self.rng.getrandbits(128):032x}"
        self._id_prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-"
        self._event_counter = 0
        self._json_share = config.json_share

    # -- planning ----------------------------------------------------------------------

    def push(self, t: int, kind: int, payload: Any) -> None:
        self._seq += 1
        if t < self.start_ms and kind == EMIT and not self.started:
            self.pre.append((t, self._seq, kind, payload))
        else:
            heapq.heappush(self.heap, (t, self._seq, kind, payload))

    def at(self, t: int, fn: Action, arg: Any = None) -> None:
        """Plan ``fn(t, arg)``."""
        self.push(t, ACTION, (fn, arg))

    def every(self, rate_per_ms: float, fn: Callable[[int], None]) -> None:
        """Plan ``fn(t)`` as a Poisson process with the daily rhythm, from the window's start."""
        self.at(self.activity_time(self.start_ms, rate_per_ms), self._recur, (fn, rate_per_ms))

    def _recur(self, t: int, arg: tuple[Callable[[int], None], float]) -> None:
        fn, rate = arg
        fn(t)
        self.at(self.activity_time(t, rate), self._recur, arg)

    def event(
        self,
        t: int,
        topic: str,
        event_type: str,
        customer: Customer,
        source: str,
        fields: dict[str, Any],
        marks: tuple[Any, ...] = (),
    ) -> None:
        """Plan a valid event at ``t`` (a ``json_share`` of them JSON-encoded).

        ``marks``: ``(tag, subject)`` pairs the ground truth records when the event is handed
        out, such as ``("start", obligation)`` (see ``InsurerSimulation._apply_marks``).
        """
        # the hot path of a run: ``uuid`` and ``push`` inlined
        self._event_counter += 1
        value = {
            "event_id": f"{self._id_prefix}{self._event_counter:012x}",
            "event_type": event_type,
            "customer_id": customer.id,
            "occurred_at": t,
            "source": source,
            **fields,
        }
        ev = GeneratedEvent(topic, customer.id, t, value)
        if self._json_share and self.rng.random() < self._json_share:
            ev.encoding = "json"
        self._seq += 1
        if t < self.start_ms and not self.started:
            self.pre.append((t, self._seq, EMIT, (ev, marks)))
        else:
            heapq.heappush(self.heap, (t, self._seq, EMIT, (ev, marks)))

    # -- ids ---------------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        """The next business id with this prefix: P000000001, CL000000001, ..."""
        n = self._ids[prefix] = self._ids.get(prefix, 0) + 1
        return f"{prefix}{n:09d}"

    def uuid(self) -> str:
        """A UUID-shaped event id: a random per-run prefix (from the seed) and a counter."""
        self._event_counter += 1
        return f"{self._id_prefix}{self._event_counter:012x}"

    # -- sampling ----------------------------------------------------------------------

    def choice(self, seq: Any) -> Any:
        return seq[int(self.rng.random() * len(seq))]

    def pick(self, options: tuple[tuple[str, float], ...]) -> str:
        """One of weighted ``(name, weight)`` options (weights adding up to 1)."""
        r = self.rng.random()
        acc = 0.0
        for name, weight in options:
            acc += weight
            if r < acc:
                return name
        return options[-1][0]

    def uniform_ms(self, low: int, high: int) -> int:
        return low + int(self.rng.random() * max(0, high - low))

    def activity_time(self, t: int, rate_per_ms: float) -> int:
        """Next arrival of a Poisson process with daily and weekly rhythm (thinning)."""
        rng = self.rng
        peak = rate_per_ms / _HOURLY_MEAN
        offset = self._utc_offset_ms
        while True:
            t += int(rng.expovariate(peak)) + 1
            local = t + offset
            weight = _HOURLY[(local // HOUR_MS) % 24]
            if (local // DAY_MS + 3) % 7 >= 5:
                weight *= _WEEKEND_FACTOR
            if rng.random() < weight:
                return t

    # -- service levels ----------------------------------------------------------------

    def fate(self) -> str | None:
        """How an obligation ends: None (on time), "late" or "missing" (config shares)."""
        r = self.rng.random()
        if r < self.cfg.late_share:
            return "late"
        if r < self.cfg.late_share + self.cfg.missing_share:
            return "missing"
        return None

    def span(self, rule: str, segment: str, t: int) -> int:
        """Time from ``t`` to the hub's deadline of a duration rule started at ``t``."""
        return self._limits[(rule, segment)].deadline(t, self.calendar) - t

    def obligation(
        self, rule: str, subject: str, customer: Customer, injected: str | None, limit_ms: int
    ) -> SlaObligation:
        return SlaObligation(
            rule, subject, customer.id, customer.segment, limit_ms // SECOND_MS, injected
        )

    def on_time(self, limit: int, typical: int) -> int:
        """A completion delay inside the limit: log-normal around ``typical``."""
        typical = min(typical, limit // 3)
        delay = int(self.rng.lognormvariate(math.log(max(typical, MINUTE_MS)), 0.7))
        return max(MINUTE_MS, min(delay, int(limit * 0.95)))

    def late(self, limit: int) -> int:
        """A completion delay past the limit."""
        return int(limit * self.rng.uniform(1.05, 2.5))

    def completion(self, limit: int, fate: str | None, typical: int) -> int:
        """The delay to completing an obligation that does complete (late or on time)."""
        return self.late(limit) if fate == "late" else self.on_time(limit, typical)
