"""A customer's state stays bounded however busy the customer (pure unit tests)."""

from __future__ import annotations

from support.scenario import DAY, event

from streams.domain.anomaly.detect import AnomalyConfig
from streams.domain.customer import STATE_CAPS, CustomerState, cap
from streams.domain.processor import CustomerProcessor, Result
from streams.domain.sla.rules import load_rules
from streams.events import normalise
from streams.worker.app import MAX_WRITE_BYTES

T0 = 1_780_000_000_000


def _apply(proc: CustomerProcessor, state: CustomerState | None, domain: str, e: dict) -> Result:
    ev = dict(e)
    ev["occurred_at"] = int(ev["occurred_at"].timestamp() * 1000)
    return proc.on_event(state, normalise(domain, ev), 0)


def test_a_very_busy_customer_keeps_the_newest_entries_under_the_caps() -> None:
    proc = CustomerProcessor(load_rules(), AnomalyConfig.load(), b"k")
    state = None
    pruned: dict[str, int] = {}
    n = STATE_CAPS["seen"] + 500
    for i in range(n):  # inquiries with ids of the contract's maximum length
        case = f"{i:06d}".ljust(128, "c")
        _, e = event("servicing", "inquiry_opened", "C1", T0 + i * 1000, case_id=case)
        res = _apply(proc, state, "servicing", {**e, "event_id": f"{i:06d}".ljust(128, "e")})
        state = res.state
        for part, k in res.pruned.items():
            pruned[part] = pruned.get(part, 0) + k
    assert state is not None
    assert len(state.seen) == STATE_CAPS["seen"]
    assert pruned["seen"] == 500
    assert len(state.open_inquiries) == STATE_CAPS["open_inquiries"]
    assert len(state.obligations) <= STATE_CAPS["obligations"]
    assert max(state.seen.values()) == T0 + (n - 1) * 1000  # the newest stay
    assert len(state.dumps()) < MAX_WRITE_BYTES


def test_cap_drops_decided_obligations_before_open_ones() -> None:
    s = CustomerState("C1")
    for i in range(STATE_CAPS["obligations"] + 10):
        s.obligations[f"r|{i}"] = {
            "status": "open" if i < 10 else "met",
            "deadline_ms": T0 + i * DAY,
        }
    assert cap(s) == {"obligations": 10}
    assert all(f"r|{i}" in s.obligations for i in range(10))  # the open ones, though oldest
