"""The peer: the worker's per-event job on Quix Streams instead of Faust (bench only).

    HUB_TOPIC_PREFIX=... .venv/bin/python bench/quix_job.py OUTPUT_TOPIC GROUP STATE_DIR

Same records, same domain code: each input record goes through the hub's acceptance test
(streams/ingest.py) and normalise, then CustomerProcessor.on_event on the customer's state
(JSON in Quix's RocksDB state with its changelog, as the worker keeps it in its Faust table),
and the customer's profile is Avro-encoded to OUTPUT_TOPIC: one output per accepted input.
The four input topics are joined per customer with ``StreamingDataFrame.concat``. What the
peer leaves out (watermark ticks, deadline firing, the outbox, dead letters, breach and
anomaly outputs, metrics) only flatters it. Needs ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import sys
from functools import reduce
from typing import Any

from quixstreams import Application, State
from quixstreams.dataframe import StreamingDataFrame

from schemas import Codec
from schemas.topics import BY_DOMAIN, PROFILE_TOPIC
from streams.domain.anomaly.detect import AnomalyConfig
from streams.domain.customer import CustomerState, profile_record
from streams.domain.processor import CustomerProcessor
from streams.domain.sla.rules import load_rules
from streams.events import normalise
from streams.ingest import Rejection, TimeBounds, accept
from streams.settings import Settings


def main(output: str, group: str, state_dir: str) -> None:
    s = Settings.from_env()
    rules = load_rules()
    codec, bounds = Codec(), TimeBounds.of(rules)
    processor = CustomerProcessor(rules, AnomalyConfig.load(), s.pii_key.encode())
    app = Application(
        broker_address=s.kafka.bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel="WARNING",
    )

    def decoder(domain: str) -> Any:
        logical = BY_DOMAIN[domain].logical

        def decode(value: bytes, key: bytes, timestamp: int, headers: Any) -> Any:
            event = accept(codec, logical, key, value, timestamp, bounds)
            return None if isinstance(event, Rejection) else normalise(domain, event)

        return decode

    def step(event: dict[str, Any], state: State) -> bytes:
        raw = state.get("customer")
        customer = CustomerState.loads(raw) if raw is not None else None
        res = processor.on_event(customer, event, 0)
        state.set("customer", res.state.dumps().decode())
        record = profile_record(res.state, res.state.last_event_ms)
        return codec.encode(PROFILE_TOPIC.logical, record, validate=False)

    frames: list[StreamingDataFrame] = []
    for domain, topic in BY_DOMAIN.items():
        source = app.topic(topic.name(s), key_deserializer="bytes", value_deserializer="bytes")
        frames.append(app.dataframe(source).apply(decoder(domain), metadata=True))
    joined = reduce(lambda a, b: a.concat(b), frames)
    joined = joined.filter(lambda event: event is not None).apply(step, stateful=True)
    joined.to_topic(app.topic(output, key_serializer="bytes", value_serializer="bytes"))
    app.run()


if __name__ == "__main__":
    main(*sys.argv[1:4])
