"""Event time of the worker's input partitions: watermarks, deadline heaps, lag and ticks.

Event time is watched per partition (watermark.py decides from what was read and what is
still queued); a deadline heap per partition says which customers to look at once the
watermark passes their next deadline. Ticks (one record per owned partition per interval,
sent by the worker to its own tick topic) advance a quiet partition by wall time: a deadline
fired by the wall clock is then processed, like any event, in its partition's offset order.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping

from streams.domain.sla.rules import RuleSet
from streams.worker.metrics import WorkerMetrics
from streams.worker.watermark import PartitionClock

log = logging.getLogger("insurance_hub.worker")

TopicPartition = tuple[str, int]


def wall_ms() -> int:
    return int(time.time() * 1000)


class EventTime:
    """Clocks of the partitions this worker owns, and what it knows of their offsets."""

    def __init__(
        self,
        rules: RuleSet,
        inputs: Collection[str],
        metrics: WorkerMetrics,
        tick_interval_s: float,
        highwater: Callable[[str, int], int | None],
        committed: Callable[[], Mapping[TopicPartition, int]],
    ) -> None:
        self.rules = rules
        self.inputs = list(inputs)  # Kafka names of the input topics
        self.metrics = metrics
        self.highwater = highwater  # the consumer's end offset from its last fetch
        self.committed = committed
        self.clocks: dict[int, PartitionClock] = {}
        self.positions: dict[TopicPartition, int] = {}  # next offset to process, per input
        self.ends: dict[TopicPartition, int] = {}  # broker end offsets (see set_ends)
        self.ends_wall_ms = 0  # when they were read
        self.ends_stale_ms = int(3000 * max(1.0, tick_interval_s))

    def clock(self, partition: int) -> PartitionClock:
        clock = self.clocks.get(partition)
        if clock is None:
            clock = self.clocks[partition] = PartitionClock()
        return clock

    # -- offsets -----------------------------------------------------------------------

    def lag(self, topic: str, partition: int) -> int | None:
        """Records of an input partition not processed yet (None: not known).

        The end is the newer of the broker's (set_ends) and the last fetch's; the position
        is the next offset to process, or the committed one before the first record.
        """
        key = (topic, partition)
        fetched = self.highwater(topic, partition)
        end = max(-1 if fetched is None else fetched, self.ends.get(key, -1))
        done = self.positions.get(key, self.committed().get(key))
        if end < 0 or done is None:
            return None
        return max(0, end - done)

    def backlog(self, partition: int, now_ms: int, topics: Collection[str]) -> list[str]:
        """Those of `topics` with records of `partition` not processed yet (unknown: a
        backlog)."""
        if now_ms - self.ends_wall_ms > self.ends_stale_ms:
            return list(topics)  # no fresh end offsets: nothing counts as caught up
        behind = []
        for t in topics:
            key = (t, partition)
            done = self.positions.get(key)
            # Short of the broker's end as last read: a backlog, whatever the last fetch says
            # (asking the consumer costs more than the rest of an event's event time).
            if (done is not None and self.ends.get(key, -1) > done) or self.lag(t, partition) != 0:
                behind.append(t)
        return behind

    def set_ends(self, ends: Mapping[TopicPartition, int]) -> None:
        """The broker's end offsets: what tells a caught-up topic (the consumer's own
        highwater is only as fresh as its last fetch, which stops during a rebalance)."""
        self.ends = dict(ends)
        self.ends_wall_ms = wall_ms()

    # -- watermark and deadlines ---------------------------------------------------------

    def candidate(self, partition: int, now_ms: int) -> int:
        """The watermark `partition` may move to now (not yet applied)."""
        rules = self.rules
        clock = self.clock(partition)
        walls = clock.topic_wall
        # A topic read within quiet_ms holds the watermark anyway: only the others are
        # asked for a backlog (asking costs more than the rest of an event's event time).
        quiet = [t for t in self.inputs if now_ms - walls.get(t, 0) >= rules.quiet_ms]
        backlog = self.backlog(partition, now_ms, quiet) if quiet else []
        return clock.candidate(
            now_ms, rules.allowed_lateness_ms, backlog, rules.quiet_ms, rules.live_horizon_ms
        )

    def rows(self, partitions: Collection[int]) -> list[tuple[int, bytes, bytes]]:
        """(partition, key, row) for the worker's clock table: the clocks of `partitions`
        that changed since their last row (what a worker taking a partition over starts
        from, see restore). Written once the customer states are: a saved watermark must
        never be ahead of the events the saved states hold."""
        rows = []
        for p in partitions:
            clock = self.clocks.get(p)
            if clock is None:
                continue
            row = json.dumps({"topic_max": clock.topic_max, "watermark_ms": clock.watermark_ms})
            if row.encode() != clock.saved_row:
                clock.saved_row = row.encode()
                rows.append((p, f"p{p}".encode(), clock.saved_row))
        return rows

    def move(self, partition: int, watermark_ms: int) -> bool:
        """Apply a candidate watermark; False when it does not move forward."""
        clock = self.clock(partition)
        if watermark_ms <= clock.watermark_ms:
            return False
        clock.watermark_ms = watermark_ms
        self.metrics.watermark.labels(str(partition)).set(watermark_ms / 1000)
        return True

    def due(self, partition: int) -> Iterator[str]:
        """Customers whose next deadline the partition's watermark has passed (popped)."""
        clock = self.clock(partition)
        while clock.deadlines and clock.deadlines[0][0] < clock.watermark_ms:
            yield heapq.heappop(clock.deadlines)[1]

    def schedule(self, partition: int, deadline_ms: int | None, customer_id: str) -> None:
        if deadline_ms is not None:
            heapq.heappush(self.clock(partition).deadlines, (deadline_ms, customer_id))

    def open_deadlines(self) -> int:
        return sum(len(c.deadlines) for c in self.clocks.values())

    # -- ownership -----------------------------------------------------------------------

    def reassign(
        self, assigned: set[int], taken_over: set[TopicPartition], tick_topic: str
    ) -> None:
        """After a rebalance: keep the clocks of partitions kept (newer than any saved copy),
        start the others empty, and forget positions of inputs taken over (read again from
        the committed offset). Deadline heaps are rebuilt by the caller from the states."""
        kept = {p: c for p, c in self.clocks.items() if (tick_topic, p) not in taken_over}
        self.clocks = {p: kept.get(p) or PartitionClock() for p in assigned}
        for tp in taken_over:
            self.positions.pop(tp, None)
        for c in self.clocks.values():
            c.deadlines = []

    def restore(
        self,
        partitions: set[int],
        saved: Mapping[int, dict[str, object]],
        newest: Mapping[int, int],
        n_partitions: int,
    ) -> None:
        """Clocks of partitions taken over: the saved copies, clamped to the wall clock."""
        now = wall_ms()
        for clock in self.clocks.values():
            heapq.heapify(clock.deadlines)
        for p in partitions:
            copy = saved.get(p, {"topic_max": {}, "watermark_ms": 0})
            topic_max = copy["topic_max"]
            watermark = copy["watermark_ms"]
            assert isinstance(topic_max, dict) and isinstance(watermark, int)
            clamped = self.clocks[p].restore(
                topic_max, watermark, newest.get(p, 0), now, self.rules.allowed_lateness_ms
            )
            if clamped:
                log.warning(
                    "partition %d: saved clock or a state was ahead of the wall clock (%s, "
                    "newest event %d); clamped",
                    p, copy, newest.get(p, 0),
                )  # fmt: skip
        for p in range(n_partitions):  # the gauge shows owned partitions only
            owned = self.clocks.get(p)
            if owned is not None and owned.watermark_ms:
                self.metrics.watermark.labels(str(p)).set(owned.watermark_ms / 1000)
            elif owned is None:
                with contextlib.suppress(KeyError):
                    self.metrics.watermark.remove(str(p))
