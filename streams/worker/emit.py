"""What sends output records and dead letters, encoded (tables send their own changelog).

Records go straight to aiokafka's producer (``Topic.send`` costs more than the record itself).
Faust flushes this same producer before it commits offsets, so what an input produced is
acknowledged before the input counts as processed.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from schemas.codec import Codec
from schemas.topics import ALIASES, DEAD_LETTER_TOPIC, Topic
from streams.ingest import Rejection, dead_letter_record
from streams.worker.faust_app import HubApp
from streams.worker.metrics import WorkerMetrics
from streams.worker.outbox import Output

log = logging.getLogger("insurance_hub.worker")

#: A claim forwarded to the provider agent (an output kept in the outbox like the others).
PROVIDER_CLAIM = "provider-claim"
Encoded = tuple[str, bytes, bytes]  # Kafka topic, key, value


def output(topic: Topic, record: Any) -> Output:
    """An output record as the outbox keeps it: (topic alias, Kafka key, record)."""
    return topic.alias, str(record[topic.key]), record


class Emitter:
    def __init__(
        self,
        app: HubApp,
        codec: Codec,
        metrics: WorkerMetrics,
        prefix: str,
        provider_topic: str,
    ) -> None:
        self.app = app
        self.codec = codec
        self.metrics = metrics
        self.prefix = prefix
        self.provider_topic = provider_topic
        self.dead_letter_topic = DEAD_LETTER_TOPIC.name(prefix)

    def encode(self, name: str, key: str, record: Any) -> Encoded:
        """(Kafka topic, key, value) of one output (``name``: a topic alias or PROVIDER_CLAIM)."""
        if name == PROVIDER_CLAIM:
            return self.provider_topic, key.encode(), json.dumps(record).encode()
        topic = ALIASES[name]
        # Records built by the domain are the contract's by construction: encode without
        # re-validating (the encoder still refuses a value it cannot write).
        value = self.codec.encode(topic.logical, record, validate=False)
        return topic.name(self.prefix), key.encode(), value

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        await self.app.produce(topic, key, value)

    async def emit(self, name: str, key: str, record: Any) -> None:
        await self.send(*self.encode(name, key, record))

    async def dead(
        self, msg: Any, key: bytes | None, value: bytes | None, why: Rejection, label: str
    ) -> None:
        """One dead letter per refused record, small enough to send whatever the record was.

        ``label``: the input's short name for the metric. Never raises: a dead letter that
        cannot be sent is logged with the input's coordinates and counted instead.
        """
        record = dead_letter_record(
            msg.topic, msg.partition, msg.offset, key, value, why, int(time.time() * 1000)
        )
        try:
            data = self.codec.encode(DEAD_LETTER_TOPIC.logical, record, validate=False)
            await self.send(self.dead_letter_topic, record["key"], data)
        except Exception:
            log.exception(
                "dead letter for %s[%d]@%d could not be sent", msg.topic, msg.partition, msg.offset
            )
            self.metrics.send_failures.inc()
            return
        self.metrics.dead_letters.labels(label, why.kind).inc()
        log.warning(
            "dead letter %s[%d]@%d %s: %s",
            msg.topic,
            msg.partition,
            msg.offset,
            why.kind,
            record["reason"],
        )
