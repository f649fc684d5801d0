"""Event-time watermark of one input partition, over the four co-partitioned topics.

Faust reads the four topics of a partition at slightly different paces, so the watermark is
the *slowest* active topic's newest event time minus the allowed lateness: a deadline is
never declared passed while another topic may still deliver the event that meets it. A topic
with no new record for `idle_ms` of wall time stops holding the watermark back, and when
every topic is idle the watermark moves on with the wall clock, so deadlines still fire
when no events arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PartitionClock:
    topic_max: dict[str, int] = field(default_factory=dict)  # newest event time per topic
    topic_wall: dict[str, int] = field(default_factory=dict)  # wall time of its last record
    heard: set[str] = field(default_factory=set)  # topics heard from since the last wake-up
    watermark_ms: int = 0
    deadlines: list[tuple[int, str]] = field(default_factory=list)  # heap (deadline, customer)
    saved_wall_ms: int = 0  # wall time this clock was last saved to the worker's table

    @classmethod
    def for_topics(cls, topics: list[str], wall_ms: int) -> PartitionClock:
        """A clock that waits to hear from every topic (or for it to go idle) before moving.

        At start-up with a backlog, the first topic read must not drag the watermark past
        events still waiting in the others.
        """
        return cls(topic_wall=dict.fromkeys(topics, wall_ms))

    def observe(self, topic: str, event_ms: int, wall_ms: int, idle_ms: int) -> None:
        if self.topic_wall and all(wall_ms - w >= idle_ms for w in self.topic_wall.values()):
            # Waking up after a quiet spell: a burst may reach one topic before the others,
            # so wait to hear from each again (or for it to stay quiet), as at start-up.
            self.heard.clear()
            self.topic_wall = dict.fromkeys(self.topic_wall, wall_ms)
        if event_ms > self.topic_max.get(topic, 0):
            self.topic_max[topic] = event_ms
        self.topic_wall[topic] = wall_ms
        self.heard.add(topic)

    def candidate(self, wall_ms: int, idle_ms: int, lateness_ms: int) -> int:
        """The watermark the observations allow now (callers keep it monotonic)."""
        active = []
        for topic, heard_at in self.topic_wall.items():
            if wall_ms - heard_at < idle_ms:
                if topic not in self.heard:
                    return self.watermark_ms  # not heard from since waking up: hold
                active.append(self.topic_max[topic])
        if active:
            return min(active) - lateness_ms
        if not self.topic_max:
            return self.watermark_ms
        idle_for = wall_ms - max(self.topic_wall.values())
        return max(self.topic_max.values()) + idle_for - lateness_ms

    def restore(self, topic_max: dict[str, int], watermark_ms: int) -> None:
        """After a restart: what was saved (every topic still has to be heard from)."""
        self.topic_max = dict(topic_max)
        self.watermark_ms = watermark_ms
