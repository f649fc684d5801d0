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

import contextlib
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kafka import TopicPartition
from prometheus_client import start_http_server

from sinks.clickhouse.batching import Batches, Buffer
from sinks.clickhouse.columns import PiiHasher
from sinks.clickhouse.consumer import SinkConsumer
from sinks.clickhouse.metrics import SinkMetrics, SinkStats
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.writer import ClickHouseWriter, Stopping
from streams.settings import Settings

log = logging.getLogger("insurance_hub.sink")

#: Net allocations of tracked objects between two young-generation collections while a sink
#: runs (CPython's default is 700). A sink keeps every row read in its buffers until the
#: INSERT and makes no reference cycles per record, so at the default the collector runs
#: every few hundred records and its older generations keep walking the buffered rows:
#: about 8 % of the sink's CPU, measured (bench/README.md, "sink, 2026-12-01").
GC_YOUNG_THRESHOLD = 20_000


class _Collector:
    """The garbage collector's young-generation threshold, raised while any sink of this
    process runs (several may, in threads) and restored when the last one stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._before = gc.get_threshold()

    @contextlib.contextmanager
    def fewer_collections(self, young: int = GC_YOUNG_THRESHOLD) -> Iterator[None]:
        with self._lock:
            if not self._running:
                self._before = gc.get_threshold()
                gc.set_threshold(max(young, self._before[0]), *self._before[1:])
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    gc.set_threshold(*self._before)


_COLLECTOR = _Collector()


class ClickHouseSink:
    """Consume the hub's topics and land them in ClickHouse; see the module docstring.

    ``after_insert(batch)``, if given, runs after a batch with rows landed and before its
    offsets are committed (the delivery tests kill the process there).
    """

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
        after_insert: Callable[[Buffer], None] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or SinkMetrics()
        self.stats = SinkStats()
        self.serve_metrics = serve_metrics
        self.migrate_on_start = migrate_on_start
        self.after_insert = after_insert
        self.batches = Batches(settings.sink.batch_max_rows, settings.sink.batch_max_seconds)
        self.consumer = SinkConsumer(
            settings,
            self.metrics,
            self.stats,
            self.batches,
            PiiHasher(settings.pii_key),
            client_id=client_id,
            instance_id=instance_id,
            consumer_options=consumer_options,
        )
        self.writer = ClickHouseWriter(settings, self.metrics, self.stats, self.consumer.wait)
        self._http: Any = None

    @property
    def assigned(self) -> set[TopicPartition]:
        """The partitions this sink owns now."""
        return self.consumer.assigned

    def run(
        self, stop: threading.Event | None = None, *, exit_when_idle: float | None = None
    ) -> SinkStats:
        """Consume until ``stop`` is set (or nothing arrived for ``exit_when_idle`` seconds
        with everything landed and committed); flush and commit before returning."""
        self.consumer.stop = stop or threading.Event()
        if self.serve_metrics:
            self._start_metrics_server()
        try:
            if self.migrate_on_start:
                self.writer.retrying("migrate", lambda: migrate(self.settings))
            self.consumer.connect(
                lambda make: self.writer.retrying("connect to Kafka", make, clickhouse=False)
            )
            with _COLLECTOR.fewer_collections():
                self.consumer.run(self._flush, exit_when_idle)
            self._flush_all()
        except Stopping:
            log.info("stopped while waiting for ClickHouse; unflushed rows stay uncommitted")
        finally:
            self._close()
        return self.stats

    def _flush(self, buf: Buffer) -> None:
        """Land a buffer, then commit the offsets it accounts for."""
        batch = buf.take()
        self.batches.inflight = len(batch)
        try:
            self.writer.land(batch)
        finally:
            self.batches.inflight = 0
        if batch.rows and self.after_insert is not None:
            self.after_insert(batch)
        self.consumer.landed(batch.offsets)
        self.consumer.commit()

    def _flush_all(self) -> None:
        for buf in self.batches.pending():
            self._flush(buf)
        self.consumer.commit()

    def _start_metrics_server(self) -> None:
        p = self.settings.prometheus
        try:
            self._http = start_http_server(
                p.sink_metrics_port, addr=p.metrics_host, registry=self.metrics.registry
            )
        except OSError as exc:
            log.error("cannot serve metrics on %s:%d: %s", p.metrics_host, p.sink_metrics_port, exc)

    def _close(self) -> None:
        self.consumer.close()
        self.writer.close()
        if isinstance(self._http, tuple):
            server = self._http[0]
            server.shutdown()
            server.server_close()
        self._http = None


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
