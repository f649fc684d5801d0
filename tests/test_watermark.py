"""The per-partition event-time watermark (pure unit tests)."""

from __future__ import annotations

from streams.watermark import PartitionClock

TOPICS = ["sales", "claims", "servicing"]


def test_waits_for_every_topic_then_follows_the_slowest() -> None:
    c = PartitionClock.for_topics(TOPICS, wall_ms=0)
    c.observe("claims", 5_000_000, wall_ms=10, idle_ms=5000)
    # Sales may still hold older events: nothing moves yet.
    assert c.candidate(wall_ms=20, idle_ms=5000, lateness_ms=1000) == 0
    c.observe("sales", 1_000_000, wall_ms=30, idle_ms=5000)
    c.observe("servicing", 7_000_000, wall_ms=40, idle_ms=5000)
    assert c.candidate(wall_ms=50, idle_ms=5000, lateness_ms=1000) == 999_000


def test_idle_topics_stop_holding_it_back_and_wall_time_moves_it_on() -> None:
    c = PartitionClock.for_topics(TOPICS, wall_ms=0)
    c.observe("sales", 1_000_000, wall_ms=100, idle_ms=5000)
    c.observe("claims", 1_500_000, wall_ms=4_000, idle_ms=5000)
    c.observe("claims", 2_000_000, wall_ms=8_000, idle_ms=5000)
    # servicing never spoke and sales went quiet over 5 s ago: claims alone leads.
    assert c.candidate(wall_ms=8_000, idle_ms=5000, lateness_ms=0) == 2_000_000
    # Everything idle: event time advances with the wall clock from the newest event.
    assert c.candidate(wall_ms=18_000, idle_ms=5000, lateness_ms=0) == 2_000_000 + 10_000


def test_restore_keeps_what_was_saved_until_topics_speak() -> None:
    c = PartitionClock.for_topics(TOPICS, wall_ms=0)
    c.restore({"sales": 9_000, "claims": 8_000}, watermark_ms=7_000)
    assert c.watermark_ms == 7_000
    assert c.candidate(wall_ms=1, idle_ms=5000, lateness_ms=0) == 7_000  # servicing unheard


def test_waking_up_after_a_quiet_spell_waits_for_the_other_topics() -> None:
    c = PartitionClock.for_topics(TOPICS, wall_ms=0)
    for topic in TOPICS:
        c.observe(topic, 1_000_000, wall_ms=10, idle_ms=5000)
    c.watermark_ms = c.candidate(wall_ms=20, idle_ms=5000, lateness_ms=0)
    assert c.watermark_ms == 1_000_000
    # A burst after a minute of silence reaches claims first, days ahead in event time.
    c.observe("claims", 9_000_000, wall_ms=60_000, idle_ms=5000)
    assert c.candidate(wall_ms=60_001, idle_ms=5000, lateness_ms=0) == 1_000_000  # hold
    c.observe("sales", 2_000_000, wall_ms=60_002, idle_ms=5000)
    c.observe("servicing", 3_000_000, wall_ms=60_003, idle_ms=5000)
    assert c.candidate(wall_ms=60_004, idle_ms=5000, lateness_ms=0) == 2_000_000
