"""The per-partition event-time watermark (pure unit tests)."""

from __future__ import annotations

from streams.worker.watermark import PartitionClock

HOUR = 3_600_000
DAY = 24 * HOUR
NOW = 1_780_000_000_000  # the wall clock in these tests
LIVE = 72 * HOUR
LATE = 300_000
QUIET = 5000


def _at(c: PartitionClock, wall: int, backlog: list[str]) -> int:
    return c.candidate(wall, LATE, backlog, QUIET, LIVE)


def test_a_backlog_follows_the_slowest_topic_with_queued_records() -> None:
    c = PartitionClock()
    c.observe("claims", NOW - 10 * DAY, NOW - 60_000)
    # Sales has records queued but none read yet: nothing moves.
    assert _at(c, NOW, ["claims", "sales"]) == 0
    c.observe("sales", NOW - 20 * DAY, NOW - 60_000)
    c.observe("servicing", NOW - 5 * DAY, NOW - 60_000)
    assert _at(c, NOW, ["claims", "sales"]) == NOW - 20 * DAY - LATE
    # Servicing is caught up and quiet: it cannot hold the others back, nor pull them on.
    assert _at(c, NOW, ["claims"]) == NOW - 10 * DAY - LATE


def test_a_topic_heard_from_recently_holds_it_back_though_caught_up() -> None:
    """The consumer knows a topic's end only as of its last fetch: a record may be coming."""
    c = PartitionClock()
    c.observe("claims", NOW - 10 * DAY, NOW - 60_000)
    c.observe("sales", NOW - 20 * DAY, NOW - 1000)  # caught up, but a second ago
    assert _at(c, NOW, ["claims"]) == NOW - 20 * DAY - LATE
    assert _at(c, NOW + QUIET, ["claims"]) == NOW - 10 * DAY - LATE


def test_a_backlog_never_advances_by_wall_time() -> None:
    c = PartitionClock()
    c.observe("claims", NOW - 10 * DAY, NOW)
    c.observe("sales", NOW - 9 * DAY, NOW)
    first = _at(c, NOW, ["claims"])
    # An hour of a stalled consumer (a rebalance, a slow start) later: the same.
    assert _at(c, NOW + HOUR, ["claims"]) == first == NOW - 10 * DAY - LATE


def test_caught_up_and_live_follows_the_wall_clock_whatever_the_last_event_time() -> None:
    c = PartitionClock()
    c.observe("servicing", NOW - 12 * HOUR, NOW)  # a source that uploads its batch 12 h late
    assert _at(c, NOW + 1000, []) == NOW - 12 * HOUR - LATE  # just read: may be more
    assert _at(c, NOW + QUIET, []) == NOW + QUIET - LATE
    assert _at(c, NOW + 60_000, []) == NOW + 60_000 - LATE


def test_caught_up_on_old_history_moves_on_from_the_newest_event_by_wall_time() -> None:
    c = PartitionClock()
    c.observe("claims", NOW - 200 * DAY, NOW)
    c.observe("sales", NOW - 201 * DAY, NOW)
    assert _at(c, NOW + 60_000, []) == NOW - 200 * DAY - LATE + 60_000
    # A new record stops the drift: a paced replay never runs ahead of itself.
    c.observe("claims", NOW - 199 * DAY, NOW + 61_000)
    assert _at(c, NOW + 62_000, []) == NOW - 199 * DAY - LATE
    # And a backlog never drifts.
    assert _at(c, NOW + 120_000, ["sales"]) == NOW - 201 * DAY - LATE


def test_caught_up_with_nothing_read_stays_put_for_a_later_backfill() -> None:
    c = PartitionClock()
    assert _at(c, NOW, []) == 0
    c.observe("sales", NOW - 400 * DAY, NOW + 1000)  # the book of policies, published afterwards
    assert _at(c, NOW + 2000, ["sales"]) == NOW - 400 * DAY - LATE


def test_no_record_moves_it_past_the_wall_clock() -> None:
    c = PartitionClock()
    c.observe("claims", NOW + 365 * DAY, NOW)  # a far-future record that got this far
    assert _at(c, NOW, ["claims"]) == NOW - LATE
    assert _at(c, NOW + QUIET, []) == NOW + QUIET - LATE


def test_restore_clamps_a_poisoned_saved_clock() -> None:
    c = PartitionClock()
    far = NOW + 70 * 365 * DAY
    assert c.restore({"claims": far}, far, 0, NOW, LATE)
    assert c.topic_max == {"claims": NOW}
    assert c.watermark_ms == NOW - LATE
    sane = PartitionClock()
    assert not sane.restore({"claims": NOW - DAY}, NOW - DAY - LATE, NOW - DAY, NOW, LATE)
    assert sane.topic_max == {"claims": NOW - DAY}
    assert sane.watermark_ms == NOW - DAY - LATE
    poisoned_state = PartitionClock()
    assert poisoned_state.restore({}, 0, far, NOW, LATE)
    assert poisoned_state.newest_floor == NOW


def test_a_takeover_with_nothing_to_read_again_moves_on_from_the_newest_state() -> None:
    """The saved copy is up to a second behind its owner, a burst's second can be weeks."""
    c = PartitionClock()
    c.restore({"claims": NOW - 200 * DAY}, NOW - 200 * DAY - LATE, NOW - 180 * DAY, NOW, LATE)
    assert _at(c, NOW, []) == NOW - 180 * DAY - LATE
    assert _at(c, NOW + 10_000, []) == NOW - 180 * DAY - LATE + 10_000  # drifts from the takeover
