"""Event-time watermark of one input partition, over the four co-partitioned topics.

A topic **holds** the watermark back while it has records not processed yet (consumer lag
above 0), and for ``quiet`` wall time after its last record (the consumer's idea of the end of
a topic is only as fresh as its last fetch: a record may be on its way). Then:

- **Some topic holds**: the watermark follows event time only, the oldest newest-event-time
  among the holding topics, minus the allowed lateness; a holding topic not read yet keeps it
  where it is. A caught-up, quiet topic cannot hold it back (whatever it sends next is new).
  So replays, backfills, rebalances and slow starts never breach an obligation whose end
  event is queued, and never move by wall time while anything is queued.
- **Caught up and quiet**, nothing read yet: where it is (nothing can be overdue).
- **Caught up and quiet**, newest event within ``live_horizon`` of the wall clock (a live
  source, even one that uploads in batches hours late): the wall clock minus the allowed
  lateness, so a deadline fires on time whatever the event times of the last records.
- **Caught up and quiet** on older history (a replay of a past month that paused): from the
  newest event time on by the wall time since the last record, as if the replay's clock ran on.

Never past the wall clock minus the allowed lateness, whatever a record says.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field


@dataclass
class PartitionClock:
    topic_max: dict[str, int] = field(default_factory=dict)  # newest event time per topic
    topic_wall: dict[str, int] = field(default_factory=dict)  # wall time of its last record
    watermark_ms: int = 0
    deadlines: list[tuple[int, str]] = field(default_factory=list)  # heap (deadline, customer)
    saved_row: bytes = b""  # the row last written to the worker's clock table
    newest_floor: int = 0  # newest event the partition's states hold (set at a takeover)
    restored_wall_ms: int | None = None  # wall time of the takeover, if any

    def observe(self, topic: str, event_ms: int, wall_ms: int) -> None:
        if event_ms > self.topic_max.get(topic, 0):
            self.topic_max[topic] = event_ms
        self.topic_wall[topic] = wall_ms

    def candidate(
        self,
        wall_ms: int,
        lateness_ms: int,
        backlog: Collection[str],
        quiet_ms: int,
        live_horizon_ms: int,
    ) -> int:
        """The watermark the observations allow now (callers keep it monotonic).

        ``backlog``: the topics of this partition with records not processed yet.
        """
        ceiling = wall_ms - lateness_ms
        recent = [t for t, w in self.topic_wall.items() if wall_ms - w < quiet_ms]
        holding = {*backlog, *recent}
        if holding:
            if any(t not in self.topic_max for t in holding):
                return self.watermark_ms  # queued records not read yet: hold
            return min(min(self.topic_max[t] for t in holding) - lateness_ms, ceiling)
        newest = max(*self.topic_max.values(), self.newest_floor, 0)
        if not newest:
            # Nothing read yet, so nothing to breach: a backfill of old history published
            # after the worker started on empty topics must not find the clock at today.
            return self.watermark_ms
        if wall_ms - newest <= live_horizon_ms:
            return ceiling
        # Nothing read since a takeover: the replay's clock has run on since then.
        last = max(self.topic_wall.values(), default=self.restored_wall_ms or wall_ms)
        return min(newest + (wall_ms - last) - lateness_ms, ceiling)

    def restore(
        self,
        topic_max: dict[str, int],
        watermark_ms: int,
        newest_ms: int,
        wall_ms: int,
        lateness_ms: int,
    ) -> bool:
        """After a takeover: what the previous owner saved, clamped to the wall clock.

        The saved copy is as of its owner's last commit (a few seconds older than its
        progress), and a few seconds of a burst can be weeks of event time: ``newest_ms``,
        the newest event the partition's recovered states hold, makes that up when nothing
        is left to read again. Returns
        whether anything had to be clamped (an earlier version let a far-future record move
        it); the caller logs that.
        """
        clamped = {t: min(v, wall_ms) for t, v in topic_max.items()}
        self.topic_max = clamped
        self.watermark_ms = min(watermark_ms, wall_ms - lateness_ms)
        self.newest_floor = min(newest_ms, wall_ms)
        self.topic_wall = {}
        self.restored_wall_ms = wall_ms
        return clamped != topic_max or self.watermark_ms != watermark_ms or newest_ms > wall_ms
