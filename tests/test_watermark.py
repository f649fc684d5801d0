"""The per-partition event-time watermark (pure unit tests)."""

from __future__ import annotations

from streams.watermark import PartitionClock

TOPICS = ["sales", "claims", "servicing"]


def test_waits_for_every_topic_then_follows_the_slowest() -> None:
    c = PartitionClock.for_topics(TOPICS, wall_ms=0)
    c.observe("claims", 5_000_000, wall_ms=10)
    # Sales may still hold older events: nothing moves yet.
    assert c.candidate(wall_ms=20, idle_ms=5000, lateness_ms=1000) == 0
    c.observe("sales", 1_000_000, wall_ms=30)
    c.observe("servicing", 7_000_000, wall_ms=40)
    assert c.candidate(wall_ms=50, idle_ms=5000, lateness_ms=1000) == 999_000


def test_idle_topics_stop_holding_it_back_and_wall_time_moves_it_on() -> None:
    c = PartitionClock.for_topics(TOPICS, wall_ms=0)
    c.observe("sales", 1_000_000, wall_ms=100)
    c.observe("claims", 2_000_000, wall_ms=6_000)
    # servicing never spoke and sales went quiet 5 s ago: claims alone leads.
    assert c.candidate(wall_ms=6_000, idle_ms=5000, lateness_ms=0) == 2_000_000
    # Everything idle: event time advances with the wall clock from the newest event.
    assert c.candidate(wall_ms=16_000, idle_ms=5000, lateness_ms=0) == 2_000_000 + 10_000


def test_restore_keeps_what_was_saved_until_topics_speak() -> None:
    c = PartitionClock.for_topics(TOPICS, wall_ms=0)
    c.restore({"sales": 9_000, "claims": 8_000}, watermark_ms=7_000)
    assert c.watermark_ms == 7_000
    assert c.candidate(wall_ms=1, idle_ms=5000, lateness_ms=0) == 7_000  # servicing unheard
