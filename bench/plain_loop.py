"""The hub's own per-event code in a plain loop: no Kafka, no Faust (a part of bench/run.py).

What the worker does per input record, in one process over the recorded backlog: the
acceptance test (decode and contract checks), normalise, the customer's state from JSON,
``CustomerProcessor.on_event``, every output record and the profile Avro-encoded, the state
back to JSON. The floor any engine adds to: the worker's CPU per event minus this is the
engine's cost.
"""

from __future__ import annotations

import time
from typing import Any

from drain import Backlog

from schemas import Codec
from schemas.topics import PROFILE_TOPIC, of_name
from streams.domain.anomaly.detect import AnomalyConfig
from streams.domain.customer import CustomerState, profile_record
from streams.domain.processor import CustomerProcessor
from streams.domain.sla.rules import load_rules
from streams.events import normalise
from streams.ingest import Rejection, TimeBounds, accept


def plain_loop(backlog: Backlog, pii_key: bytes) -> dict[str, Any]:
    """One pass over the backlog from empty states; CPU per event."""
    rules = load_rules()
    codec, bounds = Codec(), TimeBounds.of(rules)
    processor = CustomerProcessor(rules, AnomalyConfig.load(), pii_key)
    records = list(backlog.recording.items())
    states: dict[str, bytes] = {}
    applied = outputs = 0
    cpu0 = time.process_time()
    for logical, emit_ms, key, value in records:
        event = accept(codec, logical, key, value, emit_ms, bounds)
        if isinstance(event, Rejection):
            continue
        ev = normalise(of_name(logical).domain or "", event)
        raw = states.get(ev["customer_id"])
        res = processor.on_event(CustomerState.loads(raw) if raw else None, ev, 0)
        for topic, record in res.outputs:
            codec.encode(topic.logical, record, validate=False)
            outputs += 1
        profile = profile_record(res.state, res.state.last_event_ms)
        codec.encode(PROFILE_TOPIC.logical, profile, validate=False)
        states[res.state.customer_id] = res.state.dumps()
        applied += 1
    cpu = time.process_time() - cpu0
    return {
        "records": len(records),
        "accepted": applied,
        "outputs_besides_profiles": outputs,
        "cpu_us_per_record": round(cpu / len(records) * 1e6, 1),
        "records_per_cpu_second": round(len(records) / cpu, 1),
    }
