"""The hub's own per-event code in a plain loop: no Kafka, no Faust (a part of bench/run.py).

What the worker does per input record, in one process over the recorded backlog: the
acceptance test (decode and contract checks), normalise, ``CustomerProcessor.on_event``,
every output record and the profile Avro-encoded. Two ways, one pass each:

- ``cached`` (the worker now): states stay objects, each written as JSON once at the end
  (the worker writes a changed state once per commit);
- ``json`` (the worker before its state cache): the customer's state from JSON and back
  per event.

The profile is encoded per event in both (the worker sends one per customer per flush,
which under a backlog is about one per event). The floor any engine adds to: the worker's
CPU per event minus this is the engine's cost.
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
    """One pass each way over the backlog from empty states; CPU per record."""
    rules = load_rules()
    codec, bounds = Codec(), TimeBounds.of(rules)
    processor = CustomerProcessor(rules, AnomalyConfig.load(), pii_key)
    records = list(backlog.recording.items())
    out: dict[str, Any] = {"records": len(records)}
    for way in ("json", "cached"):
        rows: dict[str, bytes] = {}
        objects: dict[str, CustomerState] = {}
        applied = outputs = 0
        cpu0 = time.process_time()
        for logical, emit_ms, key, value in records:
            event = accept(codec, logical, key, value, emit_ms, bounds)
            if isinstance(event, Rejection):
                continue
            ev = normalise(of_name(logical).domain or "", event)
            customer = ev["customer_id"]
            if way == "json":
                raw = rows.get(customer)
                state = CustomerState.loads(raw) if raw else None
            else:
                state = objects.get(customer)
            res = processor.on_event(state, ev, 0)
            for topic, record in res.outputs:
                codec.encode(topic.logical, record, validate=False)
                outputs += 1
            profile = profile_record(res.state, res.state.last_event_ms)
            codec.encode(PROFILE_TOPIC.logical, profile, validate=False)
            if way == "json":
                rows[customer] = res.state.dumps()
            else:
                objects[customer] = res.state
            applied += 1
        for state in objects.values():  # once per customer, as a commit would
            rows[state.customer_id] = state.dumps()
        cpu = time.process_time() - cpu0
        prefix = "" if way == "cached" else "json_"
        out[f"{prefix}cpu_us_per_record"] = round(cpu / len(records) * 1e6, 1)
        out[f"{prefix}records_per_cpu_second"] = round(len(records) / cpu, 1)
        out["accepted"], out["outputs_besides_profiles"] = applied, outputs
    return out
