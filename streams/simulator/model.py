"""A synthetic insurer as a discrete-event simulation, handing out events in time order.

Customers in segments hold policies across four product lines; quotes go through
underwriting to new policies; claims arrive at per-line yearly frequencies and run through
acceptance, assessment and payment; customers ask, complain, change policies and answer
surveys; policies come up for renewal with (or without) a reminder. Each lifecycle is planned
when it starts, as timestamped events on one heap, so events come out in simulated-time order
while memory stays bounded by what is in flight.

This module builds the run and hands its events out. The behaviour is in the desks: sales.py,
underwriting.py, claims.py and servicing.py; risk_signals.py and injections.py plant what the
hub should detect or refuse; engine.py holds the shared RNG, clock and ids; world.py the book
of customers and policies; records.py the records (``GeneratedEvent`` is re-exported here).

Everything random comes from one ``random.Random(seed)``: a seed and a config give the same
events, ids and bytes every time.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from schemas import Codec
from streams.units import DAY_MS

from .claims import Claims
from .config import RENEWAL_REMINDER, GeneratorConfig
from .engine import ACTION, YEAR_MS, Engine
from .injections import Injections
from .records import Customer, GeneratedEvent, Policy, date_ms
from .risk_signals import RiskSignals
from .sales import Sales
from .servicing import Servicing
from .truth import (
    DuplicateInjection,
    EarlyClaimInjection,
    GroundTruth,
    HighFrequencyInjection,
    OutOfOrderInjection,
    ProviderSpikeInjection,
    SlaObligation,
)
from .underwriting import Underwriting
from .world import World

__all__ = [
    "Customer",
    "GeneratedEvent",
    "InsurerSimulation",
    "Policy",
    "generate",
    "generate_events",
]


class InsurerSimulation:
    """Iterate to get the events; ``ground_truth`` describes exactly what was handed out.

    ``now_fn`` switches to the real-time clock: each event's ``occurred_at`` becomes
    ``now_fn()`` when it is handed out (date fields shift by ``date_shift_days``), and the
    ground truth's SLA times follow, so it still describes what was published.
    """

    def __init__(
        self,
        config: GeneratorConfig,
        *,
        now_fn: Callable[[], int] | None = None,
        date_shift_days: int = 0,
        codec: Codec | None = None,
    ) -> None:
        self.cfg = config
        self.codec = codec if codec is not None else Codec()
        self.now_fn = now_fn
        self.date_shift = timedelta(days=date_shift_days)
        self.engine = engine = Engine(config)
        self.ground_truth = GroundTruth(
            seed=config.seed,
            clock="realtime" if now_fn else "simulated",
            config=config.to_json(),
            window_start_ms=engine.start_ms,
            window_end_ms=engine.until_ms,
            generated_until_ms=engine.start_ms,
            customers=config.customers,
        )
        self._obligations: list[SlaObligation] = []
        self.world = world = World(engine)
        self.servicing = Servicing(engine, world)
        self.underwriting = Underwriting(engine, world)
        self.sales = Sales(engine, world, self.underwriting)
        self.claims = Claims(engine, world, self.servicing)
        self.risk_signals = RiskSignals(engine, world, self.claims)
        self.injections = Injections(engine, world, self.codec)
        # Building the world allocates hundreds of thousands of long-lived objects and no
        # garbage: the cyclic collector would only rescan them (~20% of the start-up time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._populate()
            self._plan()
        finally:
            if collecting:
                gc.enable()
        self._settled = False

    # -- the start ---------------------------------------------------------------------

    def _populate(self) -> None:
        """The customers, each with the history that led to the start: policies or a quote."""
        seg_counts: dict[str, int] = {}
        for _ in range(self.cfg.customers):
            customer = self.world.new_customer()
            seg_counts[customer.segment] = seg_counts.get(customer.segment, 0) + 1
            self.sales.history(customer)
        self.ground_truth.segments = dict(sorted(seg_counts.items()))

    def _plan(self) -> None:
        """Plant the injections, then start the arrival processes of the window."""
        cfg = self.cfg
        self.risk_signals.plan()
        self.injections.plan_malformed()
        self.claims.start()
        n = cfg.customers
        policies = self.world.policy_count()
        processes: list[tuple[Callable[[int], None], float]] = [
            (self.servicing.inquiry_arrival, cfg.inquiries_per_customer_year * n),
            (self.servicing.complaint_arrival, cfg.complaints_per_customer_year * n),
            (self.sales.quote_arrival, cfg.quotes_per_customer_year * n),
            (self.servicing.change_arrival, cfg.policy_changes_per_policy_year * policies),
            (self.sales.cancel_arrival, cfg.cancellations_per_policy_year * policies),
        ]
        for fn, per_year in processes:
            if per_year > 0:
                self.engine.every(per_year / YEAR_MS, fn)

    # -- iteration ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[GeneratedEvent]:
        if self.engine.started:
            raise RuntimeError("a simulation can be iterated once")
        self.engine.started = True
        return self._run()

    def _run(self) -> Iterator[GeneratedEvent]:
        """Hand out the planned events in time order (the history first), running the planned
        actions as their time comes; deliver a share out of order or twice; record the truth."""
        engine = self.engine
        heap = engine.heap
        pop = heapq.heappop
        until = engine.until_ms
        truth = self.ground_truth
        counts = truth.counts
        records = truth.records
        random_ = engine.rng.random
        window_start = engine.start_ms
        # delivery faults, for a share of the valid events in the window
        dup_share = self.cfg.duplicate_share
        ooo_share = self.cfg.out_of_order_share
        injections = self.injections
        now_fn = self.now_fn
        pre = engine.pre
        pre.sort()  # (t, seq) are unique: payloads are never compared
        engine.pre = []
        pre_iter = iter(pre)
        entry = next(pre_iter, None)
        while True:
            if entry is not None:
                t, _, kind, payload = entry
                entry = next(pre_iter, None)
            elif heap and heap[0][0] <= until:
                t, _, kind, payload = pop(heap)
            else:
                break
            if kind == ACTION:
                payload[0](t, payload[1])
                continue
            ev, marks = payload
            injection = ev.injection
            if injection is None:
                if now_fn is not None:
                    self._stamp(ev, now_fn())
                if ooo_share and t >= window_start and random_() < ooo_share:
                    injections.hold_back(t, ev, marks)
                    continue
            ev.emit_ms = t
            topic = ev.topic
            records[topic] = records.get(topic, 0) + 1
            truth.generated_until_ms = t
            if ev.value is not None and injection != "duplicate":
                per_topic = counts.get(topic)
                if per_topic is None:
                    per_topic = counts[topic] = {}
                etype = ev.value["event_type"]
                per_topic[etype] = per_topic.get(etype, 0) + 1
                if ev.encoding == "json":
                    truth.json_encoded += 1
                if marks:
                    self._apply_marks(ev, marks)
                if dup_share and t >= window_start and random_() < dup_share:
                    injections.duplicate(t, ev)
            elif marks:
                self._apply_marks(ev, marks)
            yield ev
        del pre
        truth.complete = not heap or heap[0][0] > until
        if truth.complete:
            truth.generated_until_ms = until
        self._settle()

    def _stamp(self, ev: GeneratedEvent, now: int) -> None:
        """Real-time clock: event time is now; dates in the payload move with it."""
        ev.time_ms = now
        value = ev.value
        if value is None:
            return
        value["occurred_at"] = now
        if self.date_shift:
            for name in ("policy_start_date", "renewal_due_date", "incident_date"):
                d = value.get(name)
                if d is not None:
                    value[name] = d + self.date_shift

    # -- the ground truth --------------------------------------------------------------

    def _apply_marks(self, ev: GeneratedEvent, marks: tuple[Any, ...]) -> None:
        """Record in the ground truth what the planners marked the event with."""
        truth = self.ground_truth
        value = ev.value or {}
        event_id = value.get("event_id", "")
        for mark in marks:
            tag = mark[0]
            if tag == "start":
                ob: SlaObligation = mark[1]
                ob.start_ms = ev.time_ms
                ob.start_event_id = event_id
                if ob.rule == RENEWAL_REMINDER:
                    ob.due_date = value.get("renewal_due_date")
                self._obligations.append(ob)
            elif tag == "end":
                ob = mark[1]
                if ob.end_ms is None:
                    ob.end_ms = ev.time_ms
                    ob.end_event_id = event_id
            elif tag == "ooo":
                truth.out_of_order.append(OutOfOrderInjection(event_id, ev.topic, ev.key, mark[1]))
            elif tag == "dup":
                truth.duplicates.append(DuplicateInjection(event_id, ev.topic, ev.key, mark[1]))
            elif tag == "malformed":
                truth.malformed.append(mark[1])
            elif tag == "hf":
                hf: HighFrequencyInjection = mark[1]
                if not hf.claim_ids:
                    truth.high_frequency_customers.append(hf)
                hf.claim_ids.append(value["claim_id"])
            elif tag == "spike":
                spike: ProviderSpikeInjection = mark[1]
                if not spike.claim_ids:
                    truth.provider_spikes.append(spike)
                spike.claim_ids.append(value["claim_id"])
            elif tag == "early":
                policy: Policy = mark[1]
                start = policy.start + (
                    self.date_shift if self.now_fn is not None else timedelta(0)
                )
                truth.early_claims.append(
                    EarlyClaimInjection(
                        value["claim_id"],
                        policy.id,
                        ev.key,
                        start.isoformat(),
                        round((ev.time_ms - date_ms(start)) / DAY_MS, 3),
                    )
                )

    def close(self) -> GroundTruth:
        """Finish the ground truth of a run stopped early (idempotent); returns it."""
        self._settle()
        return self.ground_truth

    def _settle(self) -> None:
        if self._settled:
            return
        self._settled = True
        truth = self.ground_truth
        until = truth.generated_until_ms
        kept = []
        for ob in self._obligations:
            ob.settle(self.engine.sla, until)
            if ob.rule == RENEWAL_REMINDER and ob.end_ms is None and ob.outcome == "open":
                truth.renewal_obligations_open += 1
                continue
            kept.append(ob)
        kept.sort(key=lambda o: (o.start_ms or 0, o.rule, o.subject_id))
        truth.sla_obligations = kept


def generate_events(config: GeneratorConfig) -> Iterator[GeneratedEvent]:
    """The run's events in publishing order (deterministic for the config's seed)."""
    return iter(InsurerSimulation(config))


def generate(config: GeneratorConfig) -> tuple[list[GeneratedEvent], GroundTruth]:
    """All events of a run and its ground truth (for tests and small runs)."""
    sim = InsurerSimulation(config)
    events = list(sim)
    return events, sim.ground_truth
