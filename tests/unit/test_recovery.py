"""What a worker reads back from its recovered tables (streams/worker/recovery.py)."""

from __future__ import annotations

from schemas.topics import BREACH_TOPIC
from streams.domain.customer import CustomerState
from streams.domain.sla.rules import load_rules
from streams.worker.emit import output
from streams.worker.event_time import EventTime
from streams.worker.metrics import WorkerMetrics
from streams.worker.recovery import scan_customers

TICKS = "hub-ticks"
BREACH = {"breach_id": "B-1", "customer_id": "C-1", "status": "breached"}


def _event_time() -> EventTime:
    time = EventTime(load_rules(), ["sales"], WorkerMetrics(), 1.0, lambda t, p: None, dict)
    time.reassign({0}, set(), TICKS)
    return time


def _state(customer: str, offset: int | None, last_event_ms: int) -> bytes:
    state = CustomerState(customer_id=customer, partition=0, last_event_ms=last_event_ms)
    if offset is not None:  # a breach the watermark made, kept for the tick that made it
        state.outbox = [[TICKS, 0, offset, [list(output(BREACH_TOPIC, BREACH))]]]
    return state.dumps()


def test_a_change_after_the_commit_gets_its_outputs_and_its_profile_resent() -> None:
    rows = [_state("C-1", 5, 2000), _state("C-2", 3, 1000), _state("C-3", None, 3000)]
    found = scan_customers(rows, {(TICKS, 0): 5}, {(TICKS, 0)}, _event_time())
    assert found.customers == 3
    assert [tuple(o) for o in found.resend] == [(BREACH_TOPIC.alias, "C-1", BREACH)]
    # No event is replayed for a tick's change: the profile it produced goes again here.
    assert [s.customer_id for s in found.profiles] == ["C-1"]
    assert found.newest == {0: 3000}


def test_partitions_kept_through_a_rebalance_resend_nothing() -> None:
    found = scan_customers([_state("C-1", 5, 2000)], {(TICKS, 0): 5}, set(), _event_time())
    assert found.resend == [] and found.profiles == []
