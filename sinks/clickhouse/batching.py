"""Row buffers, one per table, and when to flush them: full (``HUB_SINK_BATCH_ROWS``) or old
(oldest row ``HUB_SINK_BATCH_SECONDS`` old). A buffer also carries the offsets its records
account for, so a flush commits exactly what it landed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition

from sinks.clickhouse.columns import DEAD_LETTER, Meta, Table

_LETTER_TOPIC = DEAD_LETTER.index("kafka_topic")
_LETTER_PARTITION = DEAD_LETTER.index("kafka_partition")


@dataclass
class Buffer:
    """Rows read for one table since its last flush, and the offsets they account for."""

    table: Table
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    metas: list[Meta] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    dead: list[tuple[Any, ...]] = field(default_factory=list)  # dead_letter rows made on read
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # next offset to commit
    first_at: float | None = None  # time.monotonic() of the first record

    def __len__(self) -> int:
        return len(self.rows) + len(self.dead)

    def account(self, tp: TopicPartition, offset: int) -> None:
        """Note a record read at ``offset`` (landed, dead-lettered or skipped alike)."""
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.offsets[tp] = offset + 1

    def add(self, row: tuple[Any, ...], meta: Meta, value: bytes | None) -> None:
        """A record's row, with its coordinates and value (for a dead letter if it fails)."""
        self.rows.append(row)
        self.metas.append(meta)
        self.values.append(value)

    def take(self) -> Buffer:
        """Detach the contents (a flush owns them) and leave this buffer empty."""
        taken = Buffer(
            self.table, self.rows, self.metas, self.values, self.dead, self.offsets, self.first_at
        )
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
            d
            for d in self.dead
            if TopicPartition(d[_LETTER_TOPIC], d[_LETTER_PARTITION]) not in revoked
        ]
        self.offsets = {tp: o for tp, o in self.offsets.items() if tp not in revoked}
        if not self:
            self.first_at = None


class Batches:
    """The buffers by table, and the flush decision."""

    def __init__(self, max_rows: int, max_seconds: float) -> None:
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.buffers: dict[str, Buffer] = {}
        self.inflight = 0  # rows a flush has taken out and not landed yet

    def buffer(self, table: Table) -> Buffer:
        buf = self.buffers.get(table.name)
        if buf is None:
            buf = self.buffers[table.name] = Buffer(table)
        return buf

    def full(self, buf: Buffer) -> bool:
        return len(buf) >= self.max_rows

    def due(self) -> Iterator[Buffer]:
        """The buffers full or old enough to flush (each decided when reached: a flush
        before it may have waited, and a rebalance meanwhile emptied it)."""
        now = time.monotonic()
        for buf in list(self.buffers.values()):
            old = buf.first_at is not None and now - buf.first_at >= self.max_seconds
            if self.full(buf) or old:
                yield buf

    def pending(self) -> Iterator[Buffer]:
        """The buffers holding anything to land or commit."""
        for buf in list(self.buffers.values()):
            if len(buf) or buf.offsets:
                yield buf

    def busy(self) -> bool:
        return any(len(b) or b.offsets for b in self.buffers.values())

    def rows(self) -> int:
        """Rows read and not landed yet, the ones being flushed included."""
        return sum(len(b) for b in self.buffers.values()) + self.inflight

    def poll_timeout(self) -> float:
        """Seconds a poll may wait before the oldest buffer is due (at most 0.5)."""
        due = [
            b.first_at + self.max_seconds for b in self.buffers.values() if b.first_at is not None
        ]
        if not due:
            return 0.5
        return max(0.0, min(0.5, min(due) - time.monotonic()))

    def drop_partitions(self, revoked: set[TopicPartition]) -> None:
        for buf in self.buffers.values():
            buf.drop_partitions(revoked)
