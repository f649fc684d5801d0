"""The ClickHouse side of the sink: one columnar INSERT per batch, retried until acknowledged,
and the rows ClickHouse refuses isolated by bisection and landed in ``dead_letter``."""

from __future__ import annotations

import logging
import random
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from clickhouse_driver import Client, errors

from sinks.clickhouse.batching import Buffer
from sinks.clickhouse.columns import DEAD_LETTER, Table, rejected_row
from sinks.clickhouse.metrics import SinkMetrics, SinkStats
from sinks.clickhouse.migrate import MigrationError, writer_client
from streams.settings import Settings

log = logging.getLogger("insurance_hub.sink")

T = TypeVar("T")

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
_MONTH_SPAN_SAFE_S = 80 * 28 * 86_400
_REASON, _VALUE, _RECEIVED_AT = (DEAD_LETTER.index(c) for c in ("reason", "value", "received_at"))

Rows = list[tuple[Any, ...]]


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


def partition_chunks(table: Table, rows: Rows) -> Sequence[Rows]:
    """The rows in pieces of at most MAX_PARTITIONS_PER_INSERT months (usually one piece)."""
    i = table.partition_index
    if i is None or len(rows) < 2:
        return [rows]
    stamps = [r[i] for r in rows if isinstance(r[i], int)]
    if not stamps or max(stamps) - min(stamps) < _MONTH_SPAN_SAFE_S:
        return [rows]
    by_month: dict[int, Rows] = {}
    for r in rows:
        ts = r[i] if isinstance(r[i], int) else 0
        t = time.gmtime(max(ts, 0))
        by_month.setdefault(t.tm_year * 12 + t.tm_mon, []).append(r)
    months = sorted(by_month)
    return [
        [r for m in months[k : k + MAX_PARTITIONS_PER_INSERT] for r in by_month[m]]
        for k in range(0, len(months), MAX_PARTITIONS_PER_INSERT)
    ]


class ClickHouseWriter:
    """Lands batches; ``wait(seconds)`` is how it sleeps between retries (the sink's wait
    keeps the consumer in its group without taking in records, and raises Stopping)."""

    def __init__(
        self,
        settings: Settings,
        metrics: SinkMetrics,
        stats: SinkStats,
        wait: Callable[[float], None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stats = stats
        self.wait = wait
        self._client: Client | None = None

    def land(self, batch: Buffer) -> None:
        """Insert a detached buffer's rows and dead letters (retrying until acknowledged)."""
        dead = list(batch.dead)
        if batch.rows:
            self.metrics.batch_rows.observe(len(batch.rows))
            rejected = self._insert_all(batch.table, batch.rows)
            for i, reason in rejected:
                content = batch.table.as_json(batch.rows[i])
                dead.append(rejected_row(batch.metas[i], batch.values[i], reason, content))
            self.stats.rows_inserted += len(batch.rows) - len(rejected)
            self.stats.rows_rejected += len(rejected)
            if rejected:
                self.metrics.rows_rejected.labels(batch.table.name).inc(len(rejected))
                log.warning(
                    "%s: %d of %d rows refused by ClickHouse, sent to dead_letter (first: %s)",
                    batch.table.name, len(rejected), len(batch.rows), rejected[0][1],
                )  # fmt: skip
        if dead:
            self._insert_dead(dead)

    def _insert_dead(self, dead: Rows) -> None:
        rejected = self._insert_all(DEAD_LETTER, dead)
        for i, reason in rejected:  # last resort: keep the coordinates and the reason
            log.error("dead_letter row refused (%s); landing a minimal one", reason)
            row = list(dead[i])
            row[_REASON] = f"{row[_REASON]} | dead_letter row refused: {reason}"[:4000]
            row[_VALUE], row[_RECEIVED_AT] = "", 0
            self._insert_with_retry(DEAD_LETTER, [tuple(row)], check=True)
        if rejected:
            self.metrics.rows_rejected.labels(DEAD_LETTER.name).inc(len(rejected))
        self.stats.rows_inserted += len(dead)

    def _insert_all(self, table: Table, rows: Rows) -> list[tuple[int, str]]:
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
        self, table: Table, rows: Rows, idx: list[int], rejected: list[tuple[int, str]]
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

    def _insert_with_retry(self, table: Table, rows: Rows, *, check: bool) -> None:
        self.retrying(f"insert into {table.name}", lambda: self._insert(table, rows, check))

    def _insert(self, table: Table, rows: Rows, check: bool) -> None:
        client = self._writer()
        for chunk in partition_chunks(table, rows):
            columns = [list(c) for c in zip(*chunk, strict=True)]
            started = time.perf_counter()
            try:
                client.execute(
                    f"INSERT INTO {table.name} ({', '.join(table.names)}) VALUES",
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

    def retrying(self, what: str, action: Callable[[], T], *, clickhouse: bool = True) -> T:
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
                self.wait(delay)
                delay = min(delay * 2, self.settings.sink.retry_max_seconds)
                delay *= random.uniform(0.8, 1.0)

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client = None
