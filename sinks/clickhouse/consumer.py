"""The Kafka side of the sink: the consumer, its poll loop and rebalances, decoding records
into the table buffers, and committing exactly the offsets that have landed."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from schemas import Codec, EventValidationError
from schemas.topics import of_name
from sinks.clickhouse.batching import Batches, Buffer
from sinks.clickhouse.columns import (
    Meta,
    PiiHasher,
    RowError,
    redact_reason,
    redacted_json,
    rejected_row,
)
from sinks.clickhouse.metrics import SinkMetrics, SinkStats
from sinks.clickhouse.routes import Route, build_routes
from sinks.clickhouse.writer import Stopping, error_text
from streams.domain.sla.rules import load_rules
from streams.ingest import Rejection, TimeBounds, accept
from streams.settings import Settings

log = logging.getLogger("insurance_hub.sink")

LAG_REPORT_SECONDS = 5.0
#: Kept in the group while not yet assigned anything for this long: joining, not idle.
_JOIN_GRACE_S = 30.0


class _Listener(ConsumerRebalanceListener):
    def __init__(self, consumer: SinkConsumer) -> None:
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.consumer._on_revoked(set(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.consumer._on_assigned(set(assigned))


class SinkConsumer:
    """Reads the hub's topics into ``batches``; ``flush(buffer)`` (the sink's) lands one."""

    def __init__(
        self,
        settings: Settings,
        metrics: SinkMetrics,
        stats: SinkStats,
        batches: Batches,
        pii: PiiHasher,
        *,
        client_id: str = "hub-sink",
        instance_id: str | None = None,
        consumer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stats = stats
        self.batches = batches
        self.pii = pii
        self.codec = Codec()
        self.bounds = TimeBounds.of(load_rules())
        self.client_id = client_id
        self.instance_id = instance_id
        self.consumer_options = dict(consumer_options or {})
        self.routes = build_routes(settings.kafka.topic_prefix, pii, self.readable)
        self.stop = threading.Event()
        self.kafka: KafkaConsumer | None = None
        self.to_commit: dict[TopicPartition, int] = {}
        self.assigned: set[TopicPartition] = set()
        self._committed: dict[TopicPartition, int] = {}  # last offsets this sink committed
        self._lag_reported_at = 0.0
        self._waiting = False
        self._rebalances = 0
        self._ever_assigned = False
        self._started = time.monotonic()
        self._last_activity = time.monotonic()

    # -- connecting and the loop -------------------------------------------------------

    def connect(self, retrying: Callable[[Callable[[], KafkaConsumer]], KafkaConsumer]) -> None:
        """Create the consumer (``retrying`` repeats the attempt until Kafka answers) and
        subscribe to every route's topic."""
        self._started = time.monotonic()
        self.kafka = retrying(self._make_kafka)
        # A pattern, not a list: topics created later (sla-outcome on an older deployment)
        # are picked up on the next metadata refresh, and absent ones log no errors.
        pattern = "^(" + "|".join(re.escape(t) for t in self.routes) + ")$"
        self.kafka.subscribe(pattern=pattern, listener=_Listener(self))
        self._last_activity = time.monotonic()

    def _make_kafka(self) -> KafkaConsumer:
        opts: dict[str, Any] = {
            "bootstrap_servers": self.settings.kafka.bootstrap,
            "group_id": self.settings.sink.group_id,
            "client_id": self.client_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "allow_auto_create_topics": False,
            "max_poll_records": 2000,
            "max_partition_fetch_bytes": 2 * 1024 * 1024,
            # kafka-python checks CRC-32C in pure Python (~100 µs per record, measured):
            # the broker already validated every batch on produce, and TCP guards the wire.
            "check_crcs": False,
            "fetch_max_bytes": 16 * 1024 * 1024,
            "metadata_max_age_ms": 10_000,
            "session_timeout_ms": 20_000,
            "heartbeat_interval_ms": 3_000,
        }
        if self.instance_id:
            # Static membership: a restarted sink with the same id takes its partitions back
            # at once, instead of after the session timeout of the member that died.
            opts["group_instance_id"] = self.instance_id
        opts.update(self.consumer_options)
        return KafkaConsumer(**opts)

    def run(self, flush: Callable[[Buffer], None], exit_when_idle: float | None) -> None:
        """Poll, buffer and flush until ``stop`` is set (or idle for ``exit_when_idle`` s)."""
        kafka = self.kafka
        assert kafka is not None
        while not self.stop.is_set():
            batch = kafka.poll(timeout_ms=int(self.batches.poll_timeout() * 1000))
            self._take(batch, flush)
            for buf in self.batches.due():
                flush(buf)
            if batch:
                self._last_activity = time.monotonic()
            self.metrics.buffered_rows.set(self.batches.rows())
            if time.monotonic() - self._lag_reported_at >= LAG_REPORT_SECONDS:
                self._report_lag()
            if exit_when_idle is not None and self._idle_for() >= exit_when_idle:
                log.info("idle for %.1fs with everything landed: exiting", exit_when_idle)
                return

    def _take(
        self, batch: Mapping[TopicPartition, Sequence[Any]], flush: Callable[[Buffer], None]
    ) -> None:
        """Accept one poll's records, closing a buffer the moment it is full.

        One partition's records at a time, all into the one buffer of its route's table,
        with what is the same for all of them looked up once.
        """
        stats = self.stats
        for tp, messages in batch.items():
            route = self.routes[tp.topic]
            buf = self.batches.buffer(route.table)
            read = self._read_input if route.topic.is_input else self._read_output
            for msg in messages:
                stats.records += 1
                read(route, buf, msg)
                buf.account(tp, msg.offset)
                if self.batches.full(buf):
                    generation = self._rebalances
                    flush(buf)
                    if generation != self._rebalances:
                        # The group rebalanced while this flush waited for ClickHouse: the
                        # buffers of revoked partitions were dropped and positions reset to
                        # the last commit, so the rest of this poll will be delivered again.
                        # Accepting it now could commit past records that never landed.
                        return

    def _idle_for(self) -> float:
        if self.batches.busy() or self.to_commit:
            return 0.0
        now = time.monotonic()
        if not self._ever_assigned and now - self._started < _JOIN_GRACE_S:
            return 0.0  # still joining the group: not idle, just not started
        return now - self._last_activity

    def _report_lag(self) -> None:
        """High watermark minus committed offset for every partition this sink owns."""
        kafka = self.kafka
        assert kafka is not None
        self._lag_reported_at = time.monotonic()
        for tp in list(self.assigned):
            highwater = kafka.highwater(tp)
            if highwater is None:
                continue
            if tp not in self._committed:
                try:
                    self._committed[tp] = kafka.committed(tp) or 0
                except KafkaError:
                    continue
            lag = max(0, highwater - self._committed[tp])
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    # -- records into buffers ----------------------------------------------------------

    def _read_input(self, route: Route, buf: Buffer, msg: Any) -> None:
        """An input record: its row, or skipped when the worker's own acceptance test
        refuses it (that is the worker's dead letter, not an event)."""
        verdict = accept(self.codec, route.logical, msg.key, msg.value, msg.timestamp, self.bounds)
        if isinstance(verdict, Rejection):
            self.stats.records_skipped += 1
            self.metrics.records_skipped.labels(route.logical, verdict.kind).inc()
            return
        meta = Meta(msg.topic, msg.partition, msg.offset, msg.timestamp, msg.key)
        self._add(route, buf, msg, verdict, meta)

    def _read_output(self, route: Route, buf: Buffer, msg: Any) -> None:
        """A hub output record: its row, or a dead letter of the sink's own when this build
        cannot read it."""
        meta = Meta(msg.topic, msg.partition, msg.offset, msg.timestamp, msg.key)
        if route.wire_row is not None:
            row = route.wire_row(msg.value, meta)
            if row is not None:
                buf.add(row, meta, msg.value)
                return
        try:
            record = self.codec.decode(route.logical, msg.value, validate=False)
        except EventValidationError as exc:
            reason = redact_reason(str(exc), exc.field)
            buf.dead.append(rejected_row(meta, msg.value, reason, "", exc.field or "", exc.kind))
            self._count_rejected(route)
            return
        self._add(route, buf, msg, record, meta)

    def _add(self, route: Route, buf: Buffer, msg: Any, record: Any, meta: Meta) -> None:
        """The record's row into the buffer, or a dead letter if it cannot become one."""
        try:
            row = route.row(record, meta)
        except Exception as exc:
            column = exc.column if isinstance(exc, RowError) else ""
            content = self._safe_json(record)
            self._count_rejected(route)
            buf.dead.append(rejected_row(meta, msg.value, error_text(exc), content, column))
            return
        buf.add(row, meta, msg.value)

    def _count_rejected(self, route: Route) -> None:
        self.stats.rows_rejected += 1
        self.metrics.rows_rejected.labels(route.table.name).inc()

    def _safe_json(self, record: Any) -> str:
        try:
            return redacted_json(self.pii, record)
        except Exception:
            return ""

    def readable(self, topic: str, value: bytes) -> Mapping[str, Any] | None:
        """A dead letter's original record as a dict, when it can be read at all."""
        try:
            logical: str | None = of_name(topic, self.settings.kafka.topic_prefix).logical
        except KeyError:
            logical = None
        if logical is not None and value:
            try:
                return self.codec.decode(logical, value, validate=False)
            except EventValidationError:
                pass
        if value.lstrip()[:1] == b"{":
            try:
                parsed = json.loads(value)
            except ValueError:
                return None
            return parsed if isinstance(parsed, dict) else None
        return None

    # -- waiting, offsets, rebalances --------------------------------------------------

    def wait(self, seconds: float) -> None:
        """Sleep while staying in the consumer group, without taking in more records."""
        deadline = time.monotonic() + seconds
        kafka = self.kafka
        self._waiting = True
        try:
            if kafka is not None and self.assigned:
                kafka.pause(*self.assigned)
            while True:
                if self.stop.is_set():
                    raise Stopping()
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                if kafka is None:
                    time.sleep(min(left, 0.5))
                    continue
                self.metrics.buffered_rows.set(self.batches.rows())
                records = kafka.poll(timeout_ms=int(min(left, 0.5) * 1000))
                for tp, messages in records.items():  # partitions assigned mid-wait
                    kafka.seek(tp, min(m.offset for m in messages))
                    kafka.pause(tp)
        finally:
            self._waiting = False
            if kafka is not None:
                kafka.resume(*kafka.paused())

    def landed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Offsets whose records have all landed: committed with the next :meth:`commit`."""
        for tp, offset in offsets.items():
            self.to_commit[tp] = max(offset, self.to_commit.get(tp, 0))

    def commit(self) -> None:
        """Commit what has landed, for the partitions this consumer still owns."""
        kafka = self.kafka
        if kafka is None or not self.to_commit:
            return
        offsets = {
            tp: OffsetAndMetadata(o, "", -1)
            for tp, o in self.to_commit.items()
            if tp in self.assigned
        }
        if not offsets:
            self.to_commit.clear()
            return
        try:
            kafka.commit(offsets=offsets)
        except CommitFailedError as exc:
            # The group rebalanced: the new owner re-reads from the last commit and the
            # tables deduplicate the rows landed twice.
            self.metrics.commit_failures.inc()
            log.warning("offset commit refused after a rebalance: %s", exc)
            self.to_commit.clear()
            return
        except KafkaError as exc:
            self.metrics.commit_failures.inc()
            log.warning("offset commit failed (%s); will retry with the next flush", exc)
            return
        self.stats.commits += 1
        self._committed.update({tp: meta.offset for tp, meta in offsets.items()})
        self.to_commit.clear()

    def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._rebalances += 1
        self.commit()
        self.batches.drop_partitions(revoked)
        for tp in revoked:
            self.to_commit.pop(tp, None)
        self.assigned -= revoked

    def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned |= assigned
        self._ever_assigned = self._ever_assigned or bool(assigned)
        self._last_activity = time.monotonic()
        if self._waiting and self.kafka is not None and assigned:
            self.kafka.pause(*assigned)

    def close(self) -> None:
        if self.kafka is not None:
            self.kafka.close(autocommit=False)
            self.kafka = None
