"""`hub sink`: the hub's topics into ClickHouse, losing nothing and counting nothing twice.

Shape (after Quix Streams' batching sink): one Kafka consumer in the group
``HUB_SINK_GROUP_ID`` → decode each record with the contract codec → a row buffer per table →
a buffer is flushed when it holds ``HUB_SINK_BATCH_ROWS`` rows or its oldest row is
``HUB_SINK_BATCH_SECONDS`` old → one columnar native INSERT → only then the offsets of exactly
what that buffer held are committed.

Delivery: at least once into ClickHouse, exactly once in the views. A crash between INSERT
and commit re-delivers rows that already landed; the tables are ReplacingMergeTree on each
record's natural id and the views deduplicate (see migrations/), so every record counts once.

ClickHouse down: the flush retries with exponential backoff (capped at
``HUB_SINK_RETRY_MAX_SECONDS`` per wait) forever. Meanwhile the consumer is paused and only
polled to stay in its group, so memory stays bounded (per table at most one batch, plus the
rest of one poll of at most 2,000 records) and nothing is committed, so nothing is dropped.

Bad rows: when ClickHouse refuses a batch for its data (not for being unreachable), the batch
is bisected until the refused rows are isolated; the others land, and each refused one goes
to ``dead_letter`` with ClickHouse's message before the offsets are committed.
Records on the input topics that fail the worker's own acceptance test
(streams/ingest.py) are skipped and counted (the worker dead-letters them on
``insurance.dead-letter.v1``, which this sink lands), so ``events`` holds accepted events
only. Undecodable records on the hub's output topics are dead-lettered here.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clickhouse_driver import Client, errors
from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from schemas import (
    CLAIM_ANOMALY,
    CUSTOMER_PROFILE,
    DEAD_LETTER,
    INPUT_TOPICS,
    SLA_BREACH,
    SLA_OUTCOME,
    Codec,
    EventValidationError,
)
from sinks.clickhouse import rows as R
from sinks.clickhouse.migrate import MigrationError, migrate, writer_client
from streams.domain.sla.rules import load_rules
from streams.ingest import Rejection, TimeBounds, accept
from streams.settings import Settings

log = logging.getLogger("insurance_hub.sink")

#: ClickHouse error codes that mean "this data", not "this server right now".
DATA_ERROR_CODES = frozenset(
    {6, 21, 22, 25, 26, 27, 38, 41, 43, 53, 69, 70, 72, 117, 131, 321, 349, 376, 407, 441}
)
_DATA_EXCEPTIONS = (
    errors.TypeMismatchError,
    errors.TooLargeStringSize,
    struct.error,
    TypeError,
    ValueError,
    OverflowError,
    AttributeError,
)
#: Above this many months in one INSERT, split it (current ClickHouse refuses >100 partitions).
MAX_PARTITIONS_PER_INSERT = 90
LAG_REPORT_SECONDS = 5.0
_MONTH_SPAN_SAFE_S = 80 * 28 * 86_400


class Stopping(Exception):
    """Raised inside a retry wait when the sink was asked to stop."""


class DataError(Exception):
    """ClickHouse (or its type check in the driver) refused the rows themselves."""


def is_data_error(exc: BaseException) -> bool:
    """True if retrying the same rows cannot help (vs. the server being unavailable)."""
    if isinstance(exc, errors.ServerException):
        return exc.code in DATA_ERROR_CODES
    if isinstance(exc, errors.NetworkError | errors.SocketTimeoutError | OSError | EOFError):
        return False
    return isinstance(exc, _DATA_EXCEPTIONS)


def error_text(exc: BaseException) -> str:
    """ClickHouse's message (first line of a server exception, without the stack trace)."""
    text = str(exc).strip() or type(exc).__name__
    first = text.split("\nStack trace", 1)[0].strip()
    return first if isinstance(exc, errors.Error) else f"{type(exc).__name__}: {first}"


# -- metrics ---------------------------------------------------------------------------------


class SinkMetrics:
    """The sink's Prometheus metrics, in a registry the sink owns."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.rows_inserted = Counter(
            "hub_sink_rows_inserted", "Rows ClickHouse acknowledged, by table", ["table"],
            registry=r,
        )  # fmt: skip
        self.insert_duration = Histogram(
            "hub_sink_insert_duration_seconds",
            "Duration of one INSERT (one batch or one bisection piece), retries excluded",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_rows = Histogram(
            "hub_sink_batch_rows",
            "Rows per flushed batch",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000),
            registry=r,
        )
        self.retries = Counter(
            "hub_sink_retries", "INSERT or commit attempts repeated after a failure", registry=r
        )
        self.rows_rejected = Counter(
            "hub_sink_rows_rejected",
            "Records that could not land in their table (refused by ClickHouse, or unreadable"
            " on an output topic), sent to dead_letter instead, by table",
            ["table"],
            registry=r,
        )
        self.records_skipped = Counter(
            "hub_sink_records_skipped",
            "Invalid input records not landed (the worker dead-letters them), by reason",
            ["topic", "reason"],
            registry=r,
        )
        self.last_success = Gauge(
            "hub_sink_last_success_timestamp_seconds",
            "Unix time of the last INSERT ClickHouse acknowledged",
            registry=r,
        )
        self.commit_failures = Counter(
            "hub_sink_commit_failures",
            "Offset commits refused (rebalance) or failed; re-delivered rows are deduplicated",
            registry=r,
        )
        self.buffered_rows = Gauge(
            "hub_sink_buffered_rows", "Rows read but not yet landed", registry=r
        )
        self.clickhouse_up = Gauge(
            "hub_sink_clickhouse_up",
            "1 when the last INSERT attempt reached ClickHouse",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "hub_sink_consumer_lag",
            "Records not yet landed and committed, per topic and partition",
            ["topic", "partition"],
            registry=r,
        )


# -- routing and buffering -----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A Kafka topic, its contract and the table it lands in."""

    logical: str
    physical: str
    table: R.TableSpec
    is_input: bool


@dataclass
class Buffer:
    """Rows read for one table since its last flush, and the offsets they account for."""

    table: R.TableSpec
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    metas: list[R.Meta] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    dead: list[tuple[Any, ...]] = field(default_factory=list)  # dead_letter rows made on read
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # next offset to commit
    first_at: float | None = None

    def __len__(self) -> int:
        return len(self.rows) + len(self.dead)

    def take(self) -> Buffer:
        """Detach the contents (a flush owns them) and leave this buffer empty."""
        taken = Buffer(self.table, self.rows, self.metas, self.values, self.dead, self.offsets)
        self.rows, self.metas, self.values, self.dead = [], [], [], []
        self.offsets, self.first_at = {}, None
        return taken

    def drop_partitions(self, revoked: set[TopicPartition]) -> None:
        """Forget rows of partitions this consumer lost (the new owner re-reads them)."""
        if not any(tp in revoked for tp in self.offsets):
            return
        keep = [
            i
            for i, m in enumerate(self.metas)
            if TopicPartition(m.topic, m.partition) not in revoked
        ]
        self.rows = [self.rows[i] for i in keep]
        self.metas = [self.metas[i] for i in keep]
        self.values = [self.values[i] for i in keep]
        self.dead = [
            d for d in self.dead if TopicPartition(d[12], d[13]) not in revoked
        ]  # kafka_topic, kafka_partition of the dead_letter row
        self.offsets = {tp: o for tp, o in self.offsets.items() if tp not in revoked}
        if not self:
            self.first_at = None


def output_topics(codec: Codec) -> list[tuple[str, R.TableSpec]]:
    """The hub's output topics this build can read, with their tables."""
    out = [
        (CUSTOMER_PROFILE, R.CUSTOMER_PROFILE),
        (SLA_BREACH, R.SLA_BREACH),
        (CLAIM_ANOMALY, R.CLAIM_ANOMALY),
        (DEAD_LETTER, R.DEAD_LETTER),
    ]
    if SLA_OUTCOME in codec.registry:
        out.append((SLA_OUTCOME, R.SLA_OUTCOME))
    else:
        log.warning("no schema for %s in this build: sla_outcome is not landed", SLA_OUTCOME)
    return out


def build_routes(settings: Settings, codec: Codec) -> dict[str, Route]:
    """Physical topic name → route, for the four inputs and every readable output."""
    prefix = settings.kafka.topic_prefix
    routes = {prefix + t: Route(t, prefix + t, R.EVENTS, True) for t in INPUT_TOPICS}
    for logical, table in output_topics(codec):
        routes[prefix + logical] = Route(logical, prefix + logical, table, False)
    return routes


# -- the sink ------------------------------------------------------------------------------


class _Listener(ConsumerRebalanceListener):
    def __init__(self, sink: ClickHouseSink) -> None:
        self.sink = sink

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.sink._on_revoked(set(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.sink._on_assigned(set(assigned))


@dataclass
class SinkStats:
    """What one run did (returned by :meth:`ClickHouseSink.run`)."""

    records: int = 0
    rows_inserted: int = 0
    rows_rejected: int = 0
    records_skipped: int = 0
    commits: int = 0


class ClickHouseSink:
    """Consume the hub's topics and land them in ClickHouse; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: SinkMetrics | None = None,
        serve_metrics: bool = True,
        migrate_on_start: bool = True,
        client_id: str = "hub-sink",
        instance_id: str | None = None,
        consumer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.cfg = settings.sink
        self.codec = Codec()
        self.bounds = TimeBounds.of(load_rules())
        self.pii = R.PiiHasher(settings.pii_key)
        self.metrics = metrics or SinkMetrics()
        self.serve_metrics = serve_metrics
        self.migrate_on_start = migrate_on_start
        self.client_id = client_id
        self.instance_id = instance_id
        self.consumer_options = dict(consumer_options or {})
        self.routes = build_routes(settings, codec=self.codec)
        self.buffers: dict[str, Buffer] = {}
        self.to_commit: dict[TopicPartition, int] = {}
        self.assigned: set[TopicPartition] = set()
        self._committed: dict[TopicPartition, int] = {}  # last offsets this sink committed
        self._lag_reported_at = 0.0
        self.stats = SinkStats()
        self._stop = threading.Event()
        self._waiting = False
        self._client: Client | None = None
        self._consumer: KafkaConsumer | None = None
        self._last_activity = time.monotonic()
        self._http: Any = None
        self._inflight_rows = 0
        self._rebalances = 0
        self._ever_assigned = False
        self._started = time.monotonic()
        # Fault injection for the delivery tests: "kill-before-commit" SIGKILLs this process
        # after its first INSERT was acknowledged and before the offsets are committed.
        self._failpoint = os.environ.get("HUB_SINK_FAILPOINT", "")

    # -- public API ------------------------------------------------------------------

    def run(
        self, stop: threading.Event | None = None, *, exit_when_idle: float | None = None
    ) -> SinkStats:
        """Consume until ``stop`` is set (or nothing arrived for ``exit_when_idle`` seconds
        with everything landed and committed); flush and commit before returning."""
        self._stop = stop or threading.Event()
        if self.serve_metrics:
            self._start_metrics_server()
        try:
            if self.migrate_on_start:
                self._retrying("migrate", lambda: migrate(self.settings))
            self._started = time.monotonic()
            self._consumer = self._retrying(
                "connect to Kafka", self._make_consumer, clickhouse=False
            )
            # A pattern, not a list: topics created later (sla-outcome on an older deployment)
            # are picked up on the next metadata refresh, and absent ones log no errors.
            pattern = "^(" + "|".join(re.escape(t) for t in self.routes) + ")$"
            self._consumer.subscribe(pattern=pattern, listener=_Listener(self))
            self._last_activity = time.monotonic()
            self._loop(exit_when_idle)
            self._flush_all()
        except Stopping:
            log.info("stopped while waiting for ClickHouse; unflushed rows stay uncommitted")
        finally:
            self._close()
        return self.stats

    # -- consumer loop ---------------------------------------------------------------

    def _make_consumer(self) -> KafkaConsumer:
        opts: dict[str, Any] = {
            "bootstrap_servers": self.settings.kafka.bootstrap,
            "group_id": self.cfg.group_id,
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

    def _loop(self, exit_when_idle: float | None) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stop.is_set():
            timeout = self._poll_timeout()
            batch = consumer.poll(timeout_ms=int(timeout * 1000))
            self._take(batch)
            self._flush_due()
            if batch:
                self._last_activity = time.monotonic()
            self.metrics.buffered_rows.set(sum(len(b) for b in self.buffers.values()))
            if time.monotonic() - self._lag_reported_at >= LAG_REPORT_SECONDS:
                self._report_lag()
            if exit_when_idle is not None and self._idle_for() >= exit_when_idle:
                log.info("idle for %.1fs with everything landed: exiting", exit_when_idle)
                return

    def _take(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> None:
        """Accept one poll's records, closing a buffer the moment it is full."""
        limit = self.cfg.batch_max_rows
        for tp, messages in batch.items():
            route = self.routes[tp.topic]
            for msg in messages:
                buf = self._accept(route, tp, msg)
                if len(buf) >= limit:
                    generation = self._rebalances
                    self._flush(buf)
                    if generation != self._rebalances:
                        # The group rebalanced while this flush waited for ClickHouse: the
                        # buffers of revoked partitions were dropped and positions reset to
                        # the last commit, so the rest of this poll will be delivered again.
                        # Accepting it now could commit past records that never landed.
                        return

    def _report_lag(self) -> None:
        """High watermark minus committed offset for every partition this sink owns."""
        consumer = self._consumer
        assert consumer is not None
        self._lag_reported_at = time.monotonic()
        for tp in list(self.assigned):
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            if tp not in self._committed:
                try:
                    self._committed[tp] = consumer.committed(tp) or 0
                except KafkaError:
                    continue
            lag = max(0, highwater - self._committed[tp])
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    def _gauge_buffered(self) -> None:
        rows = sum(len(b) for b in self.buffers.values()) + self._inflight_rows
        self.metrics.buffered_rows.set(rows)

    def _idle_for(self) -> float:
        if any(len(b) or b.offsets for b in self.buffers.values()) or self.to_commit:
            return 0.0
        now = time.monotonic()
        if not self._ever_assigned and now - self._started < 30.0:
            return 0.0  # still joining the group: not idle, just not started
        return now - self._last_activity

    def _poll_timeout(self) -> float:
        due = [
            b.first_at + self.cfg.batch_max_seconds
            for b in self.buffers.values()
            if b.first_at is not None
        ]
        if not due:
            return 0.5
        return max(0.0, min(0.5, min(due) - time.monotonic()))

    def _buffer(self, table: R.TableSpec) -> Buffer:
        buf = self.buffers.get(table.name)
        if buf is None:
            buf = self.buffers[table.name] = Buffer(table)
        return buf

    def _accept(self, route: Route, tp: TopicPartition, msg: Any) -> Buffer:
        """Decode one record into its table's buffer (or count / dead-letter it)."""
        self.stats.records += 1
        buf = self._buffer(route.table)
        if buf.first_at is None:
            buf.first_at = time.monotonic()
        buf.offsets[tp] = msg.offset + 1
        meta = R.Meta(msg.topic, msg.partition, msg.offset, msg.timestamp, msg.key)
        if route.is_input:
            # The worker's own acceptance test: what it refuses is its dead letter, not an event.
            verdict = accept(
                self.codec, route.logical, msg.key, msg.value, msg.timestamp, self.bounds
            )
            if isinstance(verdict, Rejection):
                self.stats.records_skipped += 1
                self.metrics.records_skipped.labels(route.logical, verdict.kind).inc()
                return buf
            record = verdict
        else:
            try:
                record = self.codec.decode(route.logical, msg.value, validate=False)
            except EventValidationError as exc:
                return self._reject_unreadable(route, buf, meta, msg.value, exc)
        try:
            if route.table is R.DEAD_LETTER:
                row = R.dead_letter_row(record, meta, self.pii, self._readable)
            else:
                row = route.table.build(record, meta, self.pii)
        except Exception as exc:
            column = exc.column if isinstance(exc, R.RowError) else ""
            content = _safe_json(self.pii, record)
            self.stats.rows_rejected += 1
            self.metrics.rows_rejected.labels(route.table.name).inc()
            buf.dead.append(R.rejected_row(meta, msg.value, error_text(exc), content, column))
            return buf
        buf.rows.append(row)
        buf.metas.append(meta)
        buf.values.append(msg.value)
        return buf

    def _reject_unreadable(
        self, route: Route, buf: Buffer, meta: R.Meta, value: bytes, exc: EventValidationError
    ) -> Buffer:
        """An output-topic record this build cannot read: a dead letter of the sink's own."""
        reason = R.redact_reason(str(exc), exc.field)
        buf.dead.append(R.rejected_row(meta, value, reason, "", exc.field or "", exc.kind))
        self.stats.rows_rejected += 1
        self.metrics.rows_rejected.labels(route.table.name).inc()
        return buf

    def _readable(self, topic: str, value: bytes) -> Mapping[str, Any] | None:
        """A dead letter's original record as a dict, when it can be read at all."""
        route = self.routes.get(topic)
        if route is not None and value:
            try:
                return self.codec.decode(route.logical, value, validate=False)
            except EventValidationError:
                pass
        if value.lstrip()[:1] == b"{":
            try:
                parsed = json.loads(value)
            except ValueError:
                return None
            return parsed if isinstance(parsed, dict) else None
        return None

    # -- flushing --------------------------------------------------------------------

    def _flush_due(self) -> None:
        now = time.monotonic()
        for buf in list(self.buffers.values()):
            full = len(buf) >= self.cfg.batch_max_rows
            old = buf.first_at is not None and now - buf.first_at >= self.cfg.batch_max_seconds
            if full or old:
                self._flush(buf)

    def _flush_all(self) -> None:
        for buf in list(self.buffers.values()):
            if len(buf) or buf.offsets:
                self._flush(buf)
        self._commit()

    def _flush(self, buf: Buffer) -> None:
        batch = buf.take()
        self._inflight_rows = len(batch)
        try:
            self._land(batch)
        finally:
            self._inflight_rows = 0
        if batch.rows and self._failpoint == "kill-before-commit":
            log.warning("failpoint kill-before-commit: SIGKILL after the insert, before commit")
            os.kill(os.getpid(), signal.SIGKILL)
        for tp, offset in batch.offsets.items():
            self.to_commit[tp] = max(offset, self.to_commit.get(tp, 0))
        self._commit()

    def _land(self, batch: Buffer) -> None:
        """Insert a detached buffer's rows and dead letters (retrying until acknowledged)."""
        dead = list(batch.dead)
        if batch.rows:
            self.metrics.batch_rows.observe(len(batch.rows))
            rejected = self._insert_all(batch.table, batch.rows)
            for i, reason in rejected:
                content = R.row_json(batch.table.columns, batch.rows[i])
                dead.append(R.rejected_row(batch.metas[i], batch.values[i], reason, content))
            landed = len(batch.rows) - len(rejected)
            self.stats.rows_inserted += landed
            self.stats.rows_rejected += len(rejected)
            if rejected:
                self.metrics.rows_rejected.labels(batch.table.name).inc(len(rejected))
                log.warning(
                    "%s: %d of %d rows refused by ClickHouse, sent to dead_letter (first: %s)",
                    batch.table.name, len(rejected), len(batch.rows), rejected[0][1],
                )  # fmt: skip
        if dead:
            self._insert_dead(dead)

    def _insert_dead(self, dead: list[tuple[Any, ...]]) -> None:
        rejected = self._insert_all(R.DEAD_LETTER, dead)
        for i, reason in rejected:  # last resort: keep the coordinates and the reason
            log.error("dead_letter row refused (%s); landing a minimal one", reason)
            row = list(dead[i])
            row[6] = f"{row[6]} | dead_letter row refused: {reason}"[:4000]
            row[8], row[11] = "", 0
            self._insert_with_retry(R.DEAD_LETTER, [tuple(row)], check=True)
        if rejected:
            self.metrics.rows_rejected.labels("dead_letter").inc(len(rejected))
        self.stats.rows_inserted += len(dead)

    def _insert_all(self, table: R.TableSpec, rows: list[tuple[Any, ...]]) -> list[tuple[int, str]]:
        """Insert ``rows``; return (index, ClickHouse message) of the rows it refused."""
        try:
            self._insert_with_retry(table, rows, check=False)
            return []
        except DataError:
            pass
        rejected: list[tuple[int, str]] = []
        self._bisect(table, rows, list(range(len(rows))), rejected)
        return rejected

    def _bisect(
        self,
        table: R.TableSpec,
        rows: list[tuple[Any, ...]],
        idx: list[int],
        rejected: list[tuple[int, str]],
    ) -> None:
        """Land every row of ``idx`` that ClickHouse accepts; collect the ones it refuses."""
        if len(idx) == 1:
            try:
                self._insert_with_retry(table, [rows[idx[0]]], check=True)
            except DataError as exc:
                rejected.append((idx[0], str(exc)))
            return
        mid = len(idx) // 2
        for half in (idx[:mid], idx[mid:]):
            try:
                self._insert_with_retry(table, [rows[i] for i in half], check=True)
            except DataError:
                self._bisect(table, rows, half, rejected)

    def _insert_with_retry(
        self, table: R.TableSpec, rows: list[tuple[Any, ...]], *, check: bool
    ) -> None:
        self._retrying(f"insert into {table.name}", lambda: self._insert(table, rows, check))

    def _insert(self, table: R.TableSpec, rows: list[tuple[Any, ...]], check: bool) -> None:
        client = self._writer()
        for chunk in _partition_chunks(table, rows):
            columns = [list(c) for c in zip(*chunk, strict=True)]
            started = time.perf_counter()
            try:
                client.execute(
                    f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES",
                    columns,
                    columnar=True,
                    types_check=check,
                )
            except Exception as exc:
                if is_data_error(exc):
                    self.metrics.clickhouse_up.set(1)
                    raise DataError(error_text(exc)) from exc
                raise
            self.metrics.insert_duration.observe(time.perf_counter() - started)
            self.metrics.rows_inserted.labels(table.name).inc(len(chunk))
            self.metrics.last_success.set(time.time())
            self.metrics.clickhouse_up.set(1)

    def _writer(self) -> Client:
        if self._client is None:
            self._client = writer_client(self.settings, send_receive_timeout=30)
        return self._client

    def _retrying(self, what: str, action: Callable[[], Any], *, clickhouse: bool = True) -> Any:
        """Run ``action`` until it succeeds or fails for its data (DataError passes through).

        Anything else (ClickHouse unreachable, restarting, out of memory, table missing;
        Kafka unreachable at start) is retried with exponential backoff and jitter, capped
        at retry_max_seconds, forever.
        """
        delay = 0.2
        while True:
            try:
                return action()
            except (DataError, MigrationError):
                raise
            except Exception as exc:
                self.metrics.retries.inc()
                log.warning("%s failed (%s); retrying in %.1fs", what, error_text(exc), delay)
                if clickhouse:
                    self.metrics.clickhouse_up.set(0)
                    if self._client is not None:
                        self._client.disconnect()
                self._wait(delay)
                delay = min(delay * 2, self.cfg.retry_max_seconds)
                delay *= random.uniform(0.8, 1.0)

    def _wait(self, seconds: float) -> None:
        """Sleep while staying in the consumer group, without taking in more records."""
        deadline = time.monotonic() + seconds
        consumer = self._consumer
        self._waiting = True
        try:
            if consumer is not None and self.assigned:
                consumer.pause(*self.assigned)
            while True:
                if self._stop.is_set():
                    raise Stopping()
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                if consumer is None:
                    time.sleep(min(left, 0.5))
                    continue
                self._gauge_buffered()
                records = consumer.poll(timeout_ms=int(min(left, 0.5) * 1000))
                for tp, messages in records.items():  # partitions assigned mid-wait
                    consumer.seek(tp, min(m.offset for m in messages))
                    consumer.pause(tp)
        finally:
            self._waiting = False
            if consumer is not None:
                consumer.resume(*consumer.paused())

    # -- offsets ---------------------------------------------------------------------

    def _commit(self) -> None:
        """Commit what has landed, for the partitions this consumer still owns."""
        consumer = self._consumer
        if consumer is None or not self.to_commit:
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
            consumer.commit(offsets=offsets)
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
        self._commit()
        for buf in self.buffers.values():
            buf.drop_partitions(revoked)
        for tp in revoked:
            self.to_commit.pop(tp, None)
        self.assigned -= revoked

    def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned |= assigned
        self._ever_assigned = self._ever_assigned or bool(assigned)
        self._last_activity = time.monotonic()
        if self._waiting and self._consumer is not None and assigned:
            self._consumer.pause(*assigned)

    # -- lifecycle -------------------------------------------------------------------

    def _start_metrics_server(self) -> None:
        p = self.settings.prometheus
        try:
            self._http = start_http_server(
                p.sink_metrics_port, addr=p.metrics_host, registry=self.metrics.registry
            )
        except OSError as exc:
            log.error("cannot serve metrics on %s:%d: %s", p.metrics_host, p.sink_metrics_port, exc)

    def _close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
        if self._client is not None:
            self._client.disconnect()
            self._client = None
        if isinstance(self._http, tuple):
            server = self._http[0]
            server.shutdown()
            server.server_close()
        self._http = None


def _safe_json(pii: R.PiiHasher, record: Any) -> str:
    try:
        return R.to_json(pii.redact(record)) if isinstance(record, Mapping) else ""
    except Exception:
        return ""


def _partition_chunks(
    table: R.TableSpec, rows: list[tuple[Any, ...]]
) -> Sequence[list[tuple[Any, ...]]]:
    """The rows in pieces of at most MAX_PARTITIONS_PER_INSERT months (usually one piece)."""
    i = table.partition_index
    if i is None or len(rows) < 2:
        return [rows]
    stamps = [r[i] for r in rows if isinstance(r[i], int)]
    if not stamps or max(stamps) - min(stamps) < _MONTH_SPAN_SAFE_S:
        return [rows]
    by_month: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        ts = r[i] if isinstance(r[i], int) else 0
        t = time.gmtime(max(ts, 0))
        by_month.setdefault(t.tm_year * 12 + t.tm_mon, []).append(r)
    months = sorted(by_month)
    return [
        [r for m in months[k : k + MAX_PARTITIONS_PER_INSERT] for r in by_month[m]]
        for k in range(0, len(months), MAX_PARTITIONS_PER_INSERT)
    ]


# -- lag -------------------------------------------------------------------------------------


def lag(settings: Settings) -> int:
    """Records on the sink's topics not yet committed by its consumer group.

    Partitions the group never committed count from their earliest offset (the sink starts
    there). The demo waits for 0 to know that everything produced has landed.
    """
    routes = build_routes(settings, Codec())
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap,
        client_id="hub-sink-lag",
        enable_auto_commit=False,
    )
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap, client_id="hub-sink-lag")
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in routes
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return 0
        end = consumer.end_offsets(tps)
        begin = consumer.beginning_offsets(tps)
        groups = admin.list_group_offsets({settings.sink.group_id: None})
        committed = {
            tp: meta.offset
            for tp, meta in groups.get(settings.sink.group_id, {}).items()
            if meta is not None and meta.offset >= 0
        }
        total = 0
        for tp in tps:
            start = max(committed.get(tp, begin[tp]), begin[tp])
            total += max(0, end[tp] - start)
        return total
    finally:
        consumer.close(autocommit=False)
        admin.close()


def run_sink(
    settings: Settings,
    stop: threading.Event | None = None,
    *,
    exit_when_idle: float | None = None,
    serve_metrics: bool = True,
) -> SinkStats:
    """Run the sink in this thread until ``stop`` is set (or idle, see ClickHouseSink.run)."""
    sink = ClickHouseSink(settings, serve_metrics=serve_metrics)
    return sink.run(stop, exit_when_idle=exit_when_idle)
