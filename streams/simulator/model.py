"""A synthetic insurer as a discrete-event simulation, handing out events in time order.

Customers in segments hold policies across four product lines; quotes go through
underwriting to new policies; claims arrive at per-line yearly frequencies and run through
acceptance, assessment and payment; customers ask, complain, change policies and answer
surveys; policies come up for renewal with (or without) a reminder. Each lifecycle is planned
when it starts, as timestamped events on one heap, so events come out in simulated-time order
while memory stays bounded by what is in flight.

Everything random comes from one ``random.Random(seed)``: a seed and a config give the same
events, ids and bytes every time.
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import heapq
import math
import operator
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from schemas import (
    CLAIMS,
    MALFORMED,
    SALES,
    SCHEMA_INVALID,
    SERVICING,
    UNDERWRITING,
    UNKNOWN_EVENT_TYPE,
    Codec,
    EventValidationError,
    to_jsonable,
)

from .config import (
    CLAIM_ACCEPTANCE,
    CLAIM_SETTLEMENT,
    COMPLAINT_RESOLUTION,
    DAY_MS,
    INQUIRY_FIRST_RESPONSE,
    LIMITED_RULES,
    RENEWAL_REMINDER,
    SEGMENT_AFFLUENT,
    SEGMENT_HNW,
    SMALL_CLAIM_PAYMENT,
    GeneratorConfig,
)
from .truth import (
    DuplicateInjection,
    EarlyClaimInjection,
    GroundTruth,
    HighFrequencyInjection,
    MalformedInjection,
    OutOfOrderInjection,
    ProviderSpikeInjection,
    SlaObligation,
)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
YEAR_MS = 365 * DAY_MS
_EPOCH_DATE = date(1970, 1, 1)

LINES = ("life", "health", "motor", "property")
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
_SALES_CHANNELS = (
    ("agent", 0.55),
    ("online", 0.15),
    ("bancassurance", 0.15),
    ("broker", 0.08),
    ("telesales", 0.07),
)
_AGENT_CHANNELS = frozenset(("agent", "bancassurance", "telesales"))
_SERVICE_CHANNELS = (
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
_UNKNOWN_TYPES = {
    SALES: "policy_teleported",
    UNDERWRITING: "application_fast_tracked_v2",
    CLAIMS: "claim_escalated",
    SERVICING: "inquiry_escalated",
}
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

# heap entry kinds
_EMIT = 0
_ACTION = 1


@dataclass(slots=True)
class GeneratedEvent:
    """One record for a topic: a valid event (``value``) or deliberately bad bytes (``raw``).

    ``time_ms`` is the event time (``occurred_at``); ``emit_ms`` the simulated time at which
    it is published, later than ``time_ms`` for out-of-order and duplicate deliveries.
    ``encoding`` is avro, json, or raw (for ``raw`` bytes). ``injection`` names what was
    injected: duplicate, out_of_order, bad_bytes, schema_invalid, unknown_event_type.
    ``value`` is in the codec's input form (timestamps as epoch ms) and shared with a
    duplicate: treat it as read-only.
    """

    topic: str
    key: str
    time_ms: int
    value: dict[str, Any] | None
    raw: bytes | None = None
    encoding: str = "avro"
    injection: str | None = None
    emit_ms: int = 0

    def encode(self, codec: Codec) -> bytes:
        """The record value as published."""
        if self.raw is not None:
            return self.raw
        assert self.value is not None
        if self.encoding == "json":
            return codec.encode_json(self.topic, self.value)
        return codec.encode(self.topic, self.value, validate=False)


@dataclass(slots=True)
class Customer:
    id: str
    segment: str
    name: str
    phone: str
    id_number: str
    hospital: str
    garage: str
    repairer: str
    policies: list[Policy] = field(default_factory=list)
    natural_claims: int = 0
    high_frequency: bool = False


@dataclass(slots=True)
class Policy:
    id: str
    customer: Customer
    line: str
    product_code: str
    premium_cents: int
    sum_assured: int
    start: date
    due: date
    agent_id: str | None
    channel: str
    application_id: str | None = None
    active: bool = True
    pool_index: int = -1


_EPOCH_ORDINAL = _EPOCH_DATE.toordinal()
_DAYS = [timedelta(days=i) for i in range(400)]


def _date_ms(d: date) -> int:
    return (d.toordinal() - _EPOCH_ORDINAL) * DAY_MS


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


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
        self.rng = random.Random(config.seed)
        self.codec = codec if codec is not None else Codec()
        self.now_fn = now_fn
        self.date_shift = timedelta(days=date_shift_days)
        self.start_ms = config.start_ms
        self.until_ms = config.end_ms
        self.start_date = config.calendar.local_date(self.start_ms)
        self.ground_truth = GroundTruth(
            seed=config.seed,
            clock="realtime" if now_fn else "simulated",
            config=config.to_json(),
            window_start_ms=self.start_ms,
            window_end_ms=self.until_ms,
            generated_until_ms=self.start_ms,
            customers=config.customers,
        )
        self._heap: list[tuple[int, int, int, Any]] = []
        #: records before the window (backfill history): sorted once instead of heap-pushed
        self._pre: list[tuple[int, int, int, Any]] = []
        h = f"{self.rng.getrandbits(128):032x}"
        self._id_prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-"
        self._event_counter = 0
        self._json_share = config.json_share
        self._seq = 0
        self._ids: dict[str, int] = {}
        self._obligations: list[SlaObligation] = []
        self._pools: dict[str, list[Policy]] = {line: [] for line in LINES}
        # SLA figures and calendar: the hub's rules (config.sla), looked up once per segment.
        self._sla = config.sla
        self._calendar = config.sla.calendar
        self._limits = {
            (rule, seg): config.sla.limit(rule, seg)
            for rule in LIMITED_RULES
            for seg in config.segments
        }
        self._renewal_lead = {seg: config.sla.renewal_lead_ms(seg) for seg in config.segments}
        #: the calendar's UTC offset at the start, for the daily rhythm of activity
        self._utc_offset_ms = self._calendar.utc_offset_ms(self.start_ms)
        self._started = False
        # Building the world allocates hundreds of thousands of long-lived objects and no
        # garbage: the cyclic collector would only rescan them (~20% of the start-up time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._make_world()
        finally:
            if collecting:
                gc.enable()
        self._settled = False

    # -- iteration ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[GeneratedEvent]:
        if self._started:
            raise RuntimeError("a simulation can be iterated once")
        self._started = True
        return self._run()

    def _run(self) -> Iterator[GeneratedEvent]:
        heap = self._heap
        pop = heapq.heappop
        until = self.until_ms
        rng = self.rng
        random_ = rng.random
        truth = self.ground_truth
        counts = truth.counts
        records = truth.records
        dup_share = self.cfg.duplicate_share
        ooo_share = self.cfg.out_of_order_share
        ooo_max = self.cfg.max_out_of_order_s * 1000
        now_fn = self.now_fn
        window_start = self.start_ms
        pre = self._pre
        pre.sort()  # (t, seq) are unique: payloads are never compared
        self._pre = []
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
            if kind == _ACTION:
                payload[0](t, payload[1])
                continue
            ev, marks = payload
            injection = ev.injection
            if injection is None:
                if now_fn is not None:
                    self._stamp(ev, now_fn())
                if ooo_share and t >= window_start and random_() < ooo_share:
                    delay = MINUTE_MS + int(random_() * max(0, ooo_max - MINUTE_MS))
                    ev.injection = "out_of_order"
                    self._push(t + delay, _EMIT, (ev, (("ooo", delay), *marks)))
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
                    delay = 500 + int(random_() * 30 * MINUTE_MS)
                    dup = GeneratedEvent(
                        topic, ev.key, ev.time_ms, ev.value, None, ev.encoding, "duplicate"
                    )
                    self._push(t + delay, _EMIT, (dup, (("dup", delay),)))
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

    def _apply_marks(self, ev: GeneratedEvent, marks: tuple[Any, ...]) -> None:
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
                        round((ev.time_ms - _date_ms(start)) / DAY_MS, 3),
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
            ob.settle(self._sla, until)
            if ob.rule == RENEWAL_REMINDER and ob.end_ms is None and ob.outcome == "open":
                truth.renewal_obligations_open += 1
                continue
            kept.append(ob)
        kept.sort(key=lambda o: (o.start_ms or 0, o.rule, o.subject_id))
        truth.sla_obligations = kept

    # -- scheduling helpers ------------------------------------------------------------

    def _push(self, t: int, kind: int, payload: Any) -> None:
        self._seq += 1
        if t < self.start_ms and kind == _EMIT and not self._started:
            self._pre.append((t, self._seq, kind, payload))
        else:
            heapq.heappush(self._heap, (t, self._seq, kind, payload))

    def _at(self, t: int, fn: Callable[[int, Any], None], arg: Any = None) -> None:
        self._push(t, _ACTION, (fn, arg))

    def _next_id(self, prefix: str) -> str:
        n = self._ids[prefix] = self._ids.get(prefix, 0) + 1
        return f"{prefix}{n:09d}"

    def _uuid(self) -> str:
        """A UUID-shaped id: a random per-run prefix (from the seed) and a counter."""
        self._event_counter += 1
        return f"{self._id_prefix}{self._event_counter:012x}"

    def _choice(self, seq: Any) -> Any:
        return seq[int(self.rng.random() * len(seq))]

    def _event(
        self,
        t: int,
        topic: str,
        event_type: str,
        customer: Customer,
        source: str,
        fields: dict[str, Any],
        marks: tuple[Any, ...] = (),
    ) -> dict[str, Any]:
        self._event_counter += 1
        key = customer.id
        value = {
            "event_id": f"{self._id_prefix}{self._event_counter:012x}",
            "event_type": event_type,
            "customer_id": key,
            "occurred_at": t,
            "source": source,
            **fields,
        }
        ev = GeneratedEvent(topic, key, t, value)
        if self._json_share and self.rng.random() < self._json_share:
            ev.encoding = "json"
        self._seq += 1
        if t < self.start_ms and not self._started:
            self._pre.append((t, self._seq, _EMIT, (ev, marks)))
        else:
            heapq.heappush(self._heap, (t, self._seq, _EMIT, (ev, marks)))
        return value

    def _pick(self, options: tuple[tuple[str, float], ...]) -> str:
        r = self.rng.random()
        acc = 0.0
        for name, weight in options:
            acc += weight
            if r < acc:
                return name
        return options[-1][0]

    def _uniform_ms(self, low: int, high: int) -> int:
        return low + int(self.rng.random() * max(0, high - low))

    def _on_time(self, limit: int, typical: int) -> int:
        """A completion delay inside the limit: log-normal around ``typical``."""
        typical = min(typical, limit // 3)
        delay = int(self.rng.lognormvariate(math.log(max(typical, MINUTE_MS)), 0.7))
        return max(MINUTE_MS, min(delay, int(limit * 0.95)))

    def _late(self, limit: int) -> int:
        return int(limit * self.rng.uniform(1.05, 2.5))

    def _fate(self) -> str | None:
        r = self.rng.random()
        if r < self.cfg.late_share:
            return "late"
        if r < self.cfg.late_share + self.cfg.missing_share:
            return "missing"
        return None

    def _span(self, rule: str, segment: str, t: int) -> int:
        """Time from ``t`` to the hub's deadline of a duration rule started at ``t``."""
        return self._limits[(rule, segment)].deadline(t, self._calendar) - t

    def _obligation(
        self, rule: str, subject: str, customer: Customer, injected: str | None, limit_ms: int
    ) -> SlaObligation:
        return SlaObligation(
            rule, subject, customer.id, customer.segment, limit_ms // 1000, injected
        )

    def _activity_time(self, t: int, rate_per_ms: float) -> int:
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

    # -- the world ---------------------------------------------------------------------

    def _make_world(self) -> None:
        cfg = self.cfg
        rng = self.rng
        n = cfg.customers
        self.hospitals = [f"HOSP-{i:04d}" for i in range(1, max(20, n // 250) + 1)]
        self.garages = [f"GAR-{i:04d}" for i in range(1, max(10, n // 400) + 1)]
        self.repairers = [f"REP-{i:04d}" for i in range(1, max(5, n // 1000) + 1)]
        self.agents = [f"AG{i:05d}" for i in range(1, max(20, n // 100) + 1)]
        self._provider_items = {
            "hospital": self.hospitals,
            "garage": self.garages,
            "repairer": self.repairers,
        }
        self._provider_weights = {
            kind: _zipf_cum(len(items))
            for kind, items in (
                ("hospital", self.hospitals),
                ("garage", self.garages),
                ("repairer", self.repairers),
            )
        }
        segments = tuple(cfg.segments.items())
        names = [f"{s} {g1}{g2.lower()}" for s in _SURNAMES for g1 in _GIVEN for g2 in _GIVEN]
        random_ = rng.random
        self.customers: list[Customer] = []
        seg_counts: dict[str, int] = {}
        for i in range(1, n + 1):
            segment = self._pick(segments)
            seg_counts[segment] = seg_counts.get(segment, 0) + 1
            customer = Customer(
                f"C{i:07d}",
                segment,
                names[int(random_() * len(names))],
                f"+861{'3578'[int(random_() * 4)]}{int(random_() * 1e9):09d}",
                self._id_number(),
                self._provider("hospital"),
                self._provider("garage"),
                self._provider("repairer"),
            )
            self.customers.append(customer)
            if rng.random() >= cfg.prospect_share:
                self._backfill_policies(customer)
            elif cfg.backfill:  # a prospect: known from a quote in the last six months
                t = self.start_ms - self._uniform_ms(DAY_MS, 180 * DAY_MS)
                self._quote(t, customer, follow_up=False)
        self.ground_truth.segments = dict(sorted(seg_counts.items()))
        self._plan_injections()
        self._plan_malformed()
        for line in LINES:
            rate = cfg.claim_frequency.get(line, 0.0)
            if rate > 0:
                self._at(
                    self._activity_time(self.start_ms, self._pool_rate(line, rate)),
                    self._claim_arrival,
                    line,
                )
        policies = self._policy_count()
        processes: list[tuple[Callable[[int, float], None], float]] = [
            (self._inquiry_arrival, cfg.inquiries_per_customer_year * n),
            (self._complaint_arrival, cfg.complaints_per_customer_year * n),
            (self._quote_arrival, cfg.quotes_per_customer_year * n),
            (self._change_arrival, cfg.policy_changes_per_policy_year * policies),
            (self._cancel_arrival, cfg.cancellations_per_policy_year * policies),
        ]
        for fn, per_year in processes:
            if per_year > 0:
                rate = per_year / YEAR_MS
                self._at(self._activity_time(self.start_ms, rate), fn, rate)

    def _policy_count(self) -> int:
        return sum(len(pool) for pool in self._pools.values())

    def _pool_rate(self, line: str, per_policy_year: float) -> float:
        return max(len(self._pools[line]), 1) * per_policy_year / YEAR_MS

    def _provider(self, kind: str) -> str:
        items = self._provider_items[kind]
        cum = self._provider_weights[kind]
        return items[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def _id_number(self) -> str:
        """A well-formed (synthetic) Chinese resident ID: region, birth date, serial, check."""
        rng = self.rng
        birth = _ID_BIRTH_START + timedelta(days=int(rng.random() * 365 * 55))
        body = (
            f"{_REGIONS[int(rng.random() * len(_REGIONS))]}"
            f"{birth.year}{birth.month:02d}{birth.day:02d}{int(rng.random() * 1000):03d}"
        )
        # sum of digit*weight, from the ASCII codes: sum((c - 48) * w) = sum(c * w) - 48 * sum(w)
        total = sum(map(operator.mul, body.encode(), _ID_WEIGHTS)) - _ID_WEIGHT_OFFSET
        check = "10X98765432"[total % 11]
        return body + check

    def _product(self, line: str, segment: str) -> tuple[str, int, int]:
        random_ = self.rng.random
        products = PRODUCTS[line]
        code, (p_lo, p_hi), (s_lo, s_hi) = products[int(random_() * len(products))]
        factor = _SEGMENT_FACTOR.get(segment, 1.0)
        premium_cents = int((p_lo + (p_hi - p_lo) * random_()) * factor * 100)
        sum_assured = int((s_lo + (s_hi - s_lo) * random_()) * factor) // 1000 * 1000
        return code, premium_cents, sum_assured

    def _sales_channel(self) -> tuple[str, str | None]:
        channel = self._pick(_SALES_CHANNELS)
        agent = self._choice(self.agents) if channel in _AGENT_CHANNELS else None
        return channel, agent

    def _sales_source(self, channel: str) -> str:
        return "sales.web-portal" if channel == "online" else "sales.policy-admin"

    def _add_to_pool(self, policy: Policy) -> None:
        pool = self._pools[policy.line]
        policy.pool_index = len(pool)
        pool.append(policy)

    def _remove_from_pool(self, policy: Policy) -> None:
        if policy.pool_index < 0:
            return
        pool = self._pools[policy.line]
        last = pool.pop()
        if last is not policy:
            pool[policy.pool_index] = last
            last.pool_index = policy.pool_index
        policy.pool_index = -1

    def _backfill_policies(self, customer: Customer) -> None:
        """The customer's policies in force at the start, issued in the past year.

        The hot loop of a run's start (most records of a default run are this history), so
        it builds the policy_issued events inline instead of through ``_issue_policy``.
        """
        rng = self.rng
        random_ = rng.random
        r = random_()
        count = 1 if r < 0.5 else 2 if r < 0.8 else 3 if r < 0.95 else 4
        segment = customer.segment
        if segment == SEGMENT_HNW:
            count += 1
        lines = list(LINES)
        weights = list(_LINE_WEIGHTS)
        factor = _SEGMENT_FACTOR.get(segment, 1.0)
        agents = self.agents
        ids = self._ids
        renewal_horizon = self.until_ms + 30 * DAY_MS + self._renewal_lead[segment]
        publish = self.cfg.backfill
        for _ in range(min(count, 4)):
            r = random_() * sum(weights)
            i = 0
            while i < len(lines) - 1 and r >= weights[i]:
                r -= weights[i]
                i += 1
            line = lines[i]
            del lines[i], weights[i]
            start = self.start_date - _DAYS[1 + int(random_() * 364)]
            start_ms = (start.toordinal() - _EPOCH_ORDINAL) * DAY_MS
            issued = start_ms - HOUR_MS - int(random_() * (3 * DAY_MS - HOUR_MS))
            products = PRODUCTS[line]
            code, (p_lo, p_hi), (s_lo, s_hi) = products[int(random_() * len(products))]
            premium_cents = int((p_lo + (p_hi - p_lo) * random_()) * factor * 100)
            sum_assured = int((s_lo + (s_hi - s_lo) * random_()) * factor) // 1000 * 1000
            channel = self._pick(_SALES_CHANNELS)
            agent = agents[int(random_() * len(agents))] if channel in _AGENT_CHANNELS else None
            n = ids["P"] = ids.get("P", 0) + 1
            due = start + _DAYS[365]
            policy = Policy(
                f"P{n:09d}",
                customer,
                line,
                code,
                premium_cents,
                sum_assured,
                start,
                due,
                agent,
                channel,
            )
            customer.policies.append(policy)
            pool = self._pools[line]
            policy.pool_index = len(pool)
            pool.append(policy)
            marks: tuple[Any, ...] = ()
            if start_ms + YEAR_MS <= renewal_horizon:
                marks = self._plan_renewal(policy)
            if not publish:
                continue
            self._event_counter += 1
            self._seq += 1
            value = {
                "event_id": f"{self._id_prefix}{self._event_counter:012x}",
                "event_type": "policy_issued",
                "customer_id": customer.id,
                "occurred_at": issued,
                "source": "sales.web-portal" if channel == "online" else "sales.policy-admin",
                "policy_id": policy.id,
                "product_line": line,
                "product_code": code,
                "premium": Decimal(premium_cents).scaleb(-2),
                "sum_assured": Decimal(sum_assured),
                "agent_id": agent,
                "channel": channel,
                "policy_start_date": start,
                "renewal_due_date": due,
                "customer_segment": segment,
                "customer_name": customer.name,
                "phone": customer.phone,
                "id_number": customer.id_number,
            }
            ev = GeneratedEvent(SALES, customer.id, issued, value)
            if self._json_share and random_() < self._json_share:
                ev.encoding = "json"
            self._pre.append((issued, self._seq, _EMIT, (ev, marks)))

    def _issue_policy(
        self,
        customer: Customer,
        line: str,
        t: int,
        start: date,
        application_id: str,
        premium_factor: float = 1.0,
    ) -> Policy:
        """A new-business policy, issued after underwriting during the run."""
        code, premium_cents, sum_assured = self._product(line, customer.segment)
        premium_cents = int(premium_cents * premium_factor)
        channel, agent = self._sales_channel()
        policy = Policy(
            self._next_id("P"),
            customer,
            line,
            code,
            premium_cents,
            sum_assured,
            start,
            start + _DAYS[365],
            agent,
            channel,
            application_id,
        )
        customer.policies.append(policy)
        self._add_to_pool(policy)
        self._event(
            t,
            SALES,
            "policy_issued",
            customer,
            self._sales_source(channel),
            {
                "policy_id": policy.id,
                "application_id": application_id,
                "product_line": line,
                "product_code": code,
                "premium": _money(premium_cents),
                "sum_assured": Decimal(sum_assured),
                "agent_id": agent,
                "channel": channel,
                "policy_start_date": start,
                "renewal_due_date": policy.due,
                "customer_segment": customer.segment,
                "customer_name": customer.name,
                "phone": customer.phone,
                "id_number": customer.id_number,
            },
        )
        return policy

    # -- renewals ----------------------------------------------------------------------

    def _plan_renewal(self, policy: Policy) -> tuple[Any, ...]:
        """Reminder (maybe late or missing) and renewal or lapse of a policy in force."""
        customer = policy.customer
        lead = self._renewal_lead[customer.segment]
        due_ms = _date_ms(policy.due)
        deadline = due_ms - lead
        if deadline > self.until_ms + 30 * DAY_MS:
            return ()  # nothing of this renewal happens during the run
        fate = self._fate()
        marks: tuple[Any, ...] = ()
        reminder_marks: tuple[Any, ...] = ()
        reminder_t = None
        if self.cfg.backfill:  # without the policy_issued event there is no obligation to see
            ob = self._obligation(RENEWAL_REMINDER, policy.id, customer, fate, lead)
            marks = (("start", ob),)
            reminder_marks = (("end", ob),)
        if fate != "missing":
            if fate == "late":
                reminder_t = deadline + self._uniform_ms(DAY_MS, max(2 * DAY_MS, lead - 2 * DAY_MS))
            else:
                reminder_t = deadline - self._uniform_ms(3 * DAY_MS, 25 * DAY_MS)
            self._event(
                reminder_t,
                SALES,
                "renewal_reminder_sent",
                customer,
                "sales.policy-admin",
                {
                    "policy_id": policy.id,
                    "renewal_due_date": policy.due,
                    "channel": self._choice(("sms", "app", "agent", "email")),
                },
                reminder_marks,
            )
        if self.rng.random() < self.cfg.renewal_rate:
            t = max(
                due_ms - self._uniform_ms(0, 10 * DAY_MS),
                self.start_ms,
                (reminder_t or 0) + HOUR_MS,
            )
            self._at(t, self._renew, policy)
        else:
            self._at(due_ms + self.cfg.lapse_grace_days * DAY_MS, self._lapse, policy)
        return marks

    def _renew(self, t: int, policy: Policy) -> None:
        if not policy.active:
            return
        policy.premium_cents = int(policy.premium_cents * self.rng.uniform(0.97, 1.08))
        policy.start = policy.due
        policy.due = policy.due + timedelta(days=365)
        self._event(
            t,
            SALES,
            "policy_renewed",
            policy.customer,
            "sales.policy-admin",
            {
                "policy_id": policy.id,
                "product_line": policy.line,
                "product_code": policy.product_code,
                "premium": _money(policy.premium_cents),
                "sum_assured": Decimal(policy.sum_assured),
                "policy_start_date": policy.start,
                "renewal_due_date": policy.due,
                "customer_segment": policy.customer.segment,
            },
        )

    def _lapse(self, t: int, policy: Policy) -> None:
        if not policy.active:
            return
        policy.active = False
        self._remove_from_pool(policy)
        self._event(
            t,
            SALES,
            "policy_lapsed",
            policy.customer,
            "sales.policy-admin",
            {"policy_id": policy.id, "reason": "premium_not_paid"},
        )

    def _cancel_arrival(self, t: int, rate: float) -> None:
        line = self.rng.choices(LINES, [len(self._pools[x]) for x in LINES])[0]
        pool = self._pools[line]
        if pool:
            policy = self._choice(pool)
            policy.active = False
            self._remove_from_pool(policy)
            self._event(
                t,
                SALES,
                "policy_cancelled",
                policy.customer,
                "sales.policy-admin",
                {
                    "policy_id": policy.id,
                    "reason": self._choice(
                        ("customer_request", "cooling_off", "replaced", "sold_vehicle")
                    ),
                },
            )
        self._at(self._activity_time(t, rate), self._cancel_arrival, rate)

    # -- new business ------------------------------------------------------------------

    def _quote_arrival(self, t: int, rate: float) -> None:
        self._quote(t, self._choice(self.customers), follow_up=True)
        self._at(self._activity_time(t, rate), self._quote_arrival, rate)

    def _quote(self, t: int, customer: Customer, *, follow_up: bool) -> None:
        """A quote; ``follow_up`` lets it go on to an application and maybe a policy."""
        rng = self.rng
        held = {p.line for p in customer.policies if p.active}
        candidates = [x for x in LINES if x not in held] or list(LINES)
        line = self._choice(candidates)
        code, premium_cents, sum_assured = self._product(line, customer.segment)
        channel, agent = self._sales_channel()
        quote_id = self._next_id("Q")
        self._event(
            t,
            SALES,
            "quote_created",
            customer,
            self._sales_source(channel),
            {
                "quote_id": quote_id,
                "product_line": line,
                "product_code": code,
                "premium": _money(premium_cents),
                "sum_assured": Decimal(sum_assured),
                "agent_id": agent,
                "channel": channel,
                "customer_segment": customer.segment,
                "customer_name": customer.name,
                "phone": customer.phone,
            },
        )
        if follow_up and rng.random() < 0.55:
            self._application(
                t + self._uniform_ms(10 * MINUTE_MS, 3 * DAY_MS),
                customer,
                line,
                code,
                sum_assured,
                quote_id,
            )

    def _application(
        self, t: int, customer: Customer, line: str, code: str, sum_assured: int, quote_id: str
    ) -> None:
        rng = self.rng
        app_id = self._next_id("AP")
        src = "underwriting.rules-engine"
        self._event(
            t,
            UNDERWRITING,
            "application_submitted",
            customer,
            src,
            {
                "application_id": app_id,
                "quote_id": quote_id,
                "product_line": line,
                "product_code": code,
                "sum_assured": Decimal(sum_assured),
            },
        )
        fields: dict[str, Any] = {"application_id": app_id, "quote_id": quote_id}
        if rng.random() < 0.7:  # standard risk: automated decision in seconds
            decided = t + self._uniform_ms(2_000, 30_000)
            fields.update(decision="standard", risk_class=self._choice(("preferred", "standard")))
            factor = 1.0
        else:
            evidence_t = t + self._uniform_ms(HOUR_MS, DAY_MS)
            self._event(
                evidence_t,
                UNDERWRITING,
                "evidence_requested",
                customer,
                src,
                {
                    "application_id": app_id,
                    "evidence_type": self._choice(
                        ("medical_report", "health_questionnaire", "financial_statement")
                    ),
                },
            )
            decided = evidence_t + self._uniform_ms(2 * DAY_MS, 10 * DAY_MS)
            decision = self._pick(
                (
                    ("rated", 0.4),
                    ("exclusion", 0.25),
                    ("declined", 0.15),
                    ("postponed", 0.1),
                    ("standard", 0.1),
                )
            )
            fields["decision"] = decision
            fields["risk_class"] = {
                "standard": "standard",
                "declined": "uninsurable",
                "postponed": "substandard",
            }.get(decision, "substandard")
            factor = 1.0
            if decision == "rated":
                pct = self._choice((25, 50, 75, 100))
                fields["extra_premium_pct"] = pct
                factor = 1 + pct / 100
            elif decision == "exclusion":
                fields["exclusion"] = self._choice(
                    (
                        "pre-existing diabetes",
                        "lumbar spine",
                        "hypertension complications",
                        "thyroid nodules",
                    )
                )
        self._event(decided, UNDERWRITING, "application_decided", customer, src, fields)
        if fields["decision"] in ("standard", "rated", "exclusion") and rng.random() < 0.9:
            issued = decided + self._uniform_ms(HOUR_MS, 2 * DAY_MS)
            self._at(issued, self._new_policy, (customer, line, app_id, factor))

    def _new_policy(self, t: int, arg: tuple[Customer, str, str, float]) -> None:
        customer, line, app_id, factor = arg
        start = self._calendar.local_date(t) + timedelta(days=1)
        self._issue_policy(customer, line, t, start, app_id, premium_factor=factor)

    # -- claims ------------------------------------------------------------------------

    def _claim_arrival(self, t: int, line: str) -> None:
        rng = self.rng
        pool = self._pools[line]
        if pool:
            policy = pool[int(rng.random() * len(pool))]
            customer = policy.customer
            early_limit = _date_ms(policy.start) + self.cfg.early_claim_days * DAY_MS
            if not customer.high_frequency and customer.natural_claims < 2 and t >= early_limit:
                customer.natural_claims += 1
                self._claim(t, policy)
        rate = self._pool_rate(line, self.cfg.claim_frequency[line])
        self._at(self._activity_time(t, rate), self._claim_arrival, line)

    def _claim_type_amount(self, policy: Policy, small: bool = False) -> tuple[str, int]:
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

    def _claim(
        self,
        t: int,
        policy: Policy,
        *,
        provider: str | None = None,
        small: bool = False,
        marks: tuple[Any, ...] = (),
    ) -> None:
        """Plan a claim's whole lifecycle from its report at ``t``."""
        rng = self.rng
        customer = policy.customer
        seg = customer.segment
        claim_id = self._next_id("CL")
        claim_type, claimed = self._claim_type_amount(policy, small)
        is_small = self._sla.opens(
            SMALL_CLAIM_PAYMENT,
            {
                "event_type": "claim_reported",
                "claim_id": claim_id,
                "claimed_amount": _money(claimed),
            },
        )
        acc_limit = self._span(CLAIM_ACCEPTANCE, seg, t)
        set_limit = self._span(CLAIM_SETTLEMENT, seg, t)
        small_deadline = t + self._span(SMALL_CLAIM_PAYMENT, seg, t) if is_small else 0
        fate = self._fate()
        stage = None
        if fate == "late":
            stage = self._choice(
                ("acceptance", "settlement", "small") if is_small else ("acceptance", "settlement")
            )
        elif fate == "missing":
            stage = self._choice(("acceptance", "settlement"))
        if provider is None:
            if policy.line == "health":
                provider = customer.hospital if rng.random() < 0.8 else self._provider("hospital")
            elif policy.line == "motor":
                provider = customer.garage if rng.random() < 0.8 else self._provider("garage")
            elif policy.line == "property":
                provider = customer.repairer
        obligations = [
            self._obligation(
                CLAIM_ACCEPTANCE,
                claim_id,
                customer,
                fate if stage == "acceptance" else None,
                acc_limit,
            ),
            self._obligation(
                CLAIM_SETTLEMENT,
                claim_id,
                customer,
                fate if stage == "settlement" else None,
                set_limit,
            ),
        ]
        if is_small:
            obligations.append(
                self._obligation(
                    SMALL_CLAIM_PAYMENT,
                    claim_id,
                    customer,
                    fate
                    if stage == "small" or (fate == "missing" and stage == "settlement")
                    else None,
                    (small_deadline - t),
                )
            )
        incident = self._calendar.local_date(t - self._uniform_ms(0, 10 * DAY_MS))
        incident = max(incident, policy.start)
        source = "claims.mobile-app" if rng.random() < 0.3 else "claims.core"
        base = {"claim_id": claim_id, "policy_id": policy.id}
        self._event(
            t,
            CLAIMS,
            "claim_reported",
            customer,
            source,
            {
                **base,
                "product_line": policy.line,
                "claim_type": claim_type,
                "incident_date": incident,
                "claimed_amount": _money(claimed),
                "provider_id": provider,
            },
            (*(("start", ob) for ob in obligations), *marks),
        )
        if fate == "missing" and stage == "acceptance":
            self._maybe_complaint(t + acc_limit, customer, claim_id, policy.id)
            return
        # acceptance
        if stage == "acceptance":
            accepted = t + self._late(acc_limit)
        elif is_small:
            accepted = t + self._uniform_ms(
                5 * MINUTE_MS, max(10 * MINUTE_MS, min(4 * HOUR_MS, (small_deadline - t) // 3))
            )
        else:
            accepted = t + self._on_time(acc_limit, 10 * HOUR_MS)
        self._event(
            accepted,
            CLAIMS,
            "claim_accepted",
            customer,
            "claims.core",
            dict(base),
            (("end", obligations[0]),),
        )
        # settlement (planned before the documents request, which must come before it)
        if stage == "settlement":
            settled = t + self._late(set_limit)
        elif stage == "small":
            settled = small_deadline + self._uniform_ms(2 * HOUR_MS, 2 * DAY_MS)
        elif is_small:
            settled = t + int((small_deadline - t) * rng.uniform(0.3, 0.9))
        else:
            settled = t + int(set_limit * rng.uniform(0.25, 0.9))
        settled = max(settled, accepted + 30 * MINUTE_MS)
        if not is_small and rng.random() < 0.35:
            self._event(
                accepted + self._uniform_ms(10 * MINUTE_MS, min(DAY_MS, (settled - accepted) // 3)),
                CLAIMS,
                "documents_requested",
                customer,
                "claims.core",
                {**base, "requested_documents": rng.sample(_DOCUMENTS, rng.randint(1, 3))},
            )
        if fate == "missing":
            self._maybe_complaint(t + set_limit, customer, claim_id, policy.id)
            return
        rejected = rng.random() < (0.03 if policy.line == "life" else 0.08)
        assessed_cents = claimed if policy.line == "life" else int(claimed * rng.uniform(0.6, 1.0))
        assessed = settled - self._uniform_ms(
            5 * MINUTE_MS, max(6 * MINUTE_MS, min(12 * HOUR_MS, (settled - accepted) // 2))
        )
        self._event(
            assessed,
            CLAIMS,
            "claim_assessed",
            customer,
            "claims.core",
            {**base, "assessed_amount": _money(0 if rejected else assessed_cents)},
        )
        ends = tuple(("end", ob) for ob in obligations[1:])
        if rejected:
            self._event(
                settled,
                CLAIMS,
                "claim_rejected",
                customer,
                "claims.core",
                {**base, "rejection_reason": self._choice(_REJECTIONS)},
                ends,
            )
        else:
            self._event(
                settled,
                CLAIMS,
                "claim_paid",
                customer,
                "claims.core",
                {**base, "paid_amount": _money(assessed_cents)},
                ends,
            )
        closed = settled + self._uniform_ms(HOUR_MS, 3 * DAY_MS)
        self._event(closed, CLAIMS, "claim_closed", customer, "claims.core", dict(base))
        if fate == "late":
            self._maybe_complaint(
                t + (acc_limit if stage == "acceptance" else set_limit),
                customer,
                claim_id,
                policy.id,
            )
        if rng.random() < self.cfg.survey_response_share:
            unhappy = fate is not None or rejected
            self._survey(
                closed + self._uniform_ms(HOUR_MS, 3 * DAY_MS), customer, unhappy, claim_id=claim_id
            )

    def _maybe_complaint(self, t: int, customer: Customer, claim_id: str, policy_id: str) -> None:
        if self.rng.random() < 0.25:
            self._complaint(
                t + self._uniform_ms(HOUR_MS, 2 * DAY_MS),
                customer,
                "claim_delay",
                claim_id=claim_id,
                policy_id=policy_id,
            )

    # -- servicing ---------------------------------------------------------------------

    def _survey(
        self,
        t: int,
        customer: Customer,
        unhappy: bool,
        *,
        claim_id: str | None = None,
        related_case: str | None = None,
    ) -> None:
        if unhappy:
            score = self._choice((0, 1, 2, 3, 4, 5, 5, 6, 6, 7))
        else:
            score = self._choice((6, 7, 8, 8, 9, 9, 9, 10, 10, 10))
        self._event(
            t,
            SERVICING,
            "survey_answered",
            customer,
            "servicing.crm",
            {
                "case_id": self._next_id("SV"),
                "case_kind": "survey",
                "channel": self._choice(("app", "sms", "wechat")),
                "nps_score": score,
                "claim_id": claim_id,
                "related_case_id": related_case,
            },
        )

    def _inquiry_arrival(self, t: int, rate: float) -> None:
        customer = self._choice(self.customers)
        self._inquiry(t, customer)
        self._at(self._activity_time(t, rate), self._inquiry_arrival, rate)

    def _inquiry(self, t: int, customer: Customer) -> None:
        rng = self.rng
        case_id = self._next_id("SV")
        limit = self._span(INQUIRY_FIRST_RESPONSE, customer.segment, t)
        fate = self._fate()
        ob = self._obligation(INQUIRY_FIRST_RESPONSE, case_id, customer, fate, limit)
        policy_id = self._choice(customer.policies).id if customer.policies else None
        base = {"case_id": case_id, "case_kind": "inquiry"}
        self._event(
            t,
            SERVICING,
            "inquiry_opened",
            customer,
            "servicing.crm",
            {
                **base,
                "channel": self._pick(_SERVICE_CHANNELS),
                "category": self._pick(_INQUIRY_TOPICS),
                "policy_id": policy_id,
            },
            (("start", ob),),
        )
        if fate == "missing":
            return
        responded = t + (
            self._late(limit) if fate == "late" else self._on_time(limit, 90 * MINUTE_MS)
        )
        self._event(
            responded,
            SERVICING,
            "inquiry_responded",
            customer,
            "servicing.crm",
            dict(base),
            (("end", ob),),
        )
        if rng.random() < 0.9:
            resolved = responded + self._uniform_ms(5 * MINUTE_MS, 2 * DAY_MS)
            self._event(
                resolved, SERVICING, "inquiry_resolved", customer, "servicing.crm", dict(base)
            )
            if rng.random() < 0.15:
                self._survey(
                    resolved + self._uniform_ms(HOUR_MS, DAY_MS),
                    customer,
                    fate is not None,
                    related_case=case_id,
                )

    def _complaint_arrival(self, t: int, rate: float) -> None:
        customer = self._choice(self.customers)
        self._complaint(t, customer, self._pick(_COMPLAINT_TOPICS))
        self._at(self._activity_time(t, rate), self._complaint_arrival, rate)

    def _complaint(
        self,
        t: int,
        customer: Customer,
        category: str,
        *,
        claim_id: str | None = None,
        policy_id: str | None = None,
    ) -> None:
        rng = self.rng
        case_id = self._next_id("SV")
        limit = self._span(COMPLAINT_RESOLUTION, customer.segment, t)
        fate = self._fate()
        ob = self._obligation(COMPLAINT_RESOLUTION, case_id, customer, fate, limit)
        base = {"case_id": case_id, "case_kind": "complaint"}
        self._event(
            t,
            SERVICING,
            "complaint_opened",
            customer,
            "servicing.crm",
            {
                **base,
                "channel": self._pick(_SERVICE_CHANNELS),
                "category": category,
                "claim_id": claim_id,
                "policy_id": policy_id,
            },
            (("start", ob),),
        )
        if fate == "missing":
            return
        resolved = t + (self._late(limit) if fate == "late" else self._on_time(limit, limit // 3))
        self._event(
            resolved,
            SERVICING,
            "complaint_resolved",
            customer,
            "servicing.crm",
            dict(base),
            (("end", ob),),
        )
        if rng.random() < 0.3:
            self._survey(
                resolved + self._uniform_ms(HOUR_MS, DAY_MS),
                customer,
                fate is not None or rng.random() < 0.5,
                related_case=case_id,
            )

    def _change_arrival(self, t: int, rate: float) -> None:
        rng = self.rng
        line = rng.choices(LINES, [len(self._pools[x]) for x in LINES])[0]
        pool = self._pools[line]
        if pool:
            policy = self._choice(pool)
            case_id = self._next_id("SV")
            base = {"case_id": case_id, "case_kind": "policy_change", "policy_id": policy.id}
            self._event(
                t,
                SERVICING,
                "policy_change_requested",
                policy.customer,
                "servicing.crm",
                {
                    **base,
                    "channel": self._pick(_SERVICE_CHANNELS),
                    "category": self._pick(_CHANGE_KINDS),
                },
            )
            if rng.random() < 0.95:
                self._event(
                    t + self._uniform_ms(30 * MINUTE_MS, 5 * DAY_MS),
                    SERVICING,
                    "policy_change_completed",
                    policy.customer,
                    "servicing.crm",
                    base,
                )
        self._at(self._activity_time(t, rate), self._change_arrival, rate)

    # -- injected risk signals ---------------------------------------------------------

    def _eligible(self, line: str, before: date) -> list[Policy]:
        return [p for p in self._pools[line] if p.start <= before]

    def _plan_injections(self) -> None:
        cfg = self.cfg
        rng = self.rng
        start, end = self.start_ms, self.until_ms
        seasoned = self.start_date - timedelta(days=cfg.early_claim_days + 1)
        health = self._eligible("health", seasoned)
        # high-frequency claimants: many small claims spread over the window
        used: set[str] = set()
        for policy in rng.sample(health, min(cfg.high_frequency_claimants, len(health))):
            customer = policy.customer
            customer.high_frequency = True
            used.add(customer.id)
            hf = HighFrequencyInjection(customer.id)
            n = rng.randint(*cfg.high_frequency_claims)
            for t in sorted(self._uniform_ms(start, end - DAY_MS) for _ in range(n)):
                self._at(t, self._injected_claim, (policy, None, True, (("hf", hf),)))
        # provider spikes: one hospital's (or garage's) claims jump on one day
        days = max(1, int(cfg.days) - 2)
        calendar = self._calendar
        for i in range(cfg.provider_spikes):
            line, providers = ("health", self.hospitals) if i % 2 == 0 else ("motor", self.garages)
            provider = self._choice(providers[len(providers) // 4 :])
            day_index = rng.randrange(min(1, days - 1), days)
            day_start = start + day_index * DAY_MS
            day_start -= calendar.utc_offset_ms(day_start)  # local midnight
            spike = ProviderSpikeInjection(
                provider, calendar.local_date(day_start + HOUR_MS).isoformat()
            )
            pool = [
                p
                for p in self._eligible(line, seasoned)
                if p.customer.id not in used and p.customer.natural_claims < 2
            ]
            for policy in rng.sample(pool, min(rng.randint(*cfg.provider_spike_claims), len(pool))):
                used.add(policy.customer.id)
                policy.customer.natural_claims += 1
                t = day_start + self._uniform_ms(8 * HOUR_MS, 20 * HOUR_MS)
                if start <= t < end:
                    self._at(
                        t, self._injected_claim, (policy, provider, False, (("spike", spike),))
                    )
        # early claims: on policies that started shortly before the window
        recent = [
            p
            for line in ("health", "motor", "property")
            for p in self._pools[line]
            if self.start_date - timedelta(days=cfg.early_claim_days - 5) <= p.start
            and p.customer.id not in used
        ]
        for policy in rng.sample(recent, min(cfg.early_claims, len(recent))):
            used.add(policy.customer.id)
            policy_start = _date_ms(policy.start)
            lo = max(start, policy_start + DAY_MS)
            hi = min(end - DAY_MS, policy_start + (cfg.early_claim_days - 1) * DAY_MS)
            if lo < hi:
                self._at(
                    self._uniform_ms(lo, hi),
                    self._injected_claim,
                    (policy, None, False, (("early", policy),)),
                )

    def _injected_claim(
        self, t: int, arg: tuple[Policy, str | None, bool, tuple[Any, ...]]
    ) -> None:
        policy, provider, small, marks = arg
        if policy.active:
            self._claim(t, policy, provider=provider, small=small, marks=marks)

    # -- malformed records -------------------------------------------------------------

    def _plan_malformed(self) -> None:
        cfg = self.cfg
        plan = (
            [("bad_bytes", i) for i in range(cfg.malformed_bad_bytes)]
            + [("schema_invalid", i) for i in range(cfg.malformed_schema_invalid)]
            + [("unknown_event_type", i) for i in range(cfg.malformed_unknown_type)]
        )
        for kind, i in plan:
            topic = (SALES, UNDERWRITING, CLAIMS, SERVICING)[self.rng.randrange(4)]
            customer = self._choice(self.customers)
            t = self._uniform_ms(self.start_ms, self.until_ms)
            raw, expected, description, encoding = self._malformed(kind, i, topic, customer, t)
            try:
                self.codec.decode(topic, raw)
            except EventValidationError as exc:
                if exc.kind != expected:
                    raise AssertionError(
                        f"{description}: refused as {exc.kind}, not {expected}"
                    ) from exc
            else:
                raise AssertionError(f"malformed record accepted: {description}")
            injection = MalformedInjection(
                topic, kind, expected, customer.id, hashlib.sha256(raw).hexdigest(), description
            )
            ev = GeneratedEvent(topic, customer.id, t, None, raw, encoding, kind)
            self._push(t, _EMIT, (ev, (("malformed", injection),)))

    def _valid_value(self, topic: str, customer: Customer, t: int) -> dict[str, Any]:
        value: dict[str, Any] = {
            "event_id": self._uuid(),
            "customer_id": customer.id,
            "occurred_at": t,
        }
        if topic == SALES:
            value.update(
                event_type="policy_lapsed", source="sales.policy-admin", policy_id="P999999999"
            )
        elif topic == UNDERWRITING:
            value.update(
                event_type="evidence_requested",
                source="underwriting.rules-engine",
                application_id="AP999999999",
                evidence_type="medical_report",
            )
        elif topic == CLAIMS:
            value.update(
                event_type="claim_accepted",
                source="claims.core",
                claim_id="CL999999999",
                policy_id="P999999999",
            )
        else:
            value.update(
                event_type="inquiry_responded",
                source="servicing.crm",
                case_id="SV999999999",
                case_kind="inquiry",
            )
        return value

    def _malformed(
        self, kind: str, i: int, topic: str, customer: Customer, t: int
    ) -> tuple[bytes, str, str, str]:
        """(bytes, expected error kind, description, encoding) of one bad record."""
        rng = self.rng
        value = self._valid_value(topic, customer, t)
        if kind == "bad_bytes":
            variant = i % 4
            if variant == 0:
                return (
                    b"\x00" + rng.randbytes(rng.randint(8, 64)),
                    MALFORMED,
                    "random bytes",
                    "raw",
                )
            if variant == 1:
                data = self.codec.encode(topic, value)
                return data[: max(11, len(data) // 2)], MALFORMED, "truncated Avro record", "raw"
            if variant == 2:
                return (
                    b'{"event_id": "\xff\xfe", "event_type": "x"}',
                    MALFORMED,
                    "JSON that is not UTF-8",
                    "raw",
                )
            return b"hello from a misconfigured producer", MALFORMED, "plain text", "raw"
        if kind == "schema_invalid":
            variant = i % 4
            js = to_jsonable(self.codec.validate(topic, value)) if variant != 2 else None
            if variant == 0:
                assert js is not None
                js["occurred_at"] = "yesterday"
                return _dumps(js), SCHEMA_INVALID, "JSON with an unparseable timestamp", "json"
            if variant == 1:
                assert js is not None
                del js["customer_id"]
                return _dumps(js), SCHEMA_INVALID, "JSON without customer_id", "json"
            if variant == 2:
                # Avro-encodable, but the event type's required field is null
                required = {
                    SALES: "policy_id",
                    UNDERWRITING: "evidence_type",
                    CLAIMS: "claim_id",
                    SERVICING: "case_id",
                }[topic]
                if topic in (CLAIMS, SERVICING):
                    value[required] = ""  # non-nullable id: empty string breaks minLength
                else:
                    value[required] = None
                return (
                    self.codec.encode(topic, value, validate=False),
                    SCHEMA_INVALID,
                    f"Avro with {required} missing",
                    "raw",
                )
            assert js is not None
            js["event_id"] = 12345
            return _dumps(js), SCHEMA_INVALID, "JSON with a numeric event_id", "json"
        value["event_type"] = _UNKNOWN_TYPES[topic]
        data = self.codec.encode(topic, value, validate=False)
        return data, UNKNOWN_EVENT_TYPE, f"unknown event type {value['event_type']}", "raw"


def _dumps(value: dict[str, Any]) -> bytes:
    import json

    return json.dumps(value).encode()


def _zipf_cum(n: int) -> list[float]:
    """Cumulative weights ~1/rank: a few large providers, a long tail of small ones."""
    acc = 0.0
    out = []
    for rank in range(1, n + 1):
        acc += 1 / rank
        out.append(acc)
    return out


def generate_events(config: GeneratorConfig) -> Iterator[GeneratedEvent]:
    """The run's events in publishing order (deterministic for the config's seed)."""
    return iter(InsurerSimulation(config))


def generate(config: GeneratorConfig) -> tuple[list[GeneratedEvent], GroundTruth]:
    """All events of a run and its ground truth (for tests and small runs)."""
    sim = InsurerSimulation(config)
    events = list(sim)
    return events, sim.ground_truth
