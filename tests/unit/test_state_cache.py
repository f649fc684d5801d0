"""The worker's cache of customer states (streams/worker/state_cache.py), without Kafka."""

from __future__ import annotations

import pytest

from streams.worker.state_cache import StateCache


class Table:
    """What the cache reads from and writes to: a dict standing in for the RocksDB table."""

    def __init__(self, rows: dict[str, list[str]] | None = None) -> None:
        self.rows = rows or {}
        self.reads: list[str] = []
        self.writes: list[list[str]] = []

    def load(self, key: str, partition: int) -> list[str] | None:
        self.reads.append(key)
        row = self.rows.get(key)
        return list(row) if row is not None else None

    def write(self, states: list[list[str]]) -> None:
        self.writes.append([s[0] for s in states])
        for s in states:
            self.rows[s[0]] = list(s)


def _cache(table: Table, capacity: int = 10) -> StateCache[list[str], str]:
    return StateCache(capacity, table.load, table.write)


def test_a_state_is_read_once_and_written_once_however_many_changes() -> None:
    table = Table({"C1": ["C1"]})
    cache = _cache(table)
    for change in ("e1", "e2", "e3"):
        state = cache.get("C1", 0)
        assert state is not None
        state.append(change)
        cache.changed("C1", state, change)
    assert table.reads == ["C1"]
    taken = cache.take_changed()
    assert taken == [["C1", "e1", "e2", "e3"]]
    assert cache.take_changed() == []  # counted as written: nothing changed since
    assert cache.forget("C1") == []  # and its journal with it


def test_a_new_state_is_cached_when_first_changed() -> None:
    table = Table()
    cache = _cache(table)
    assert cache.get("C9", 0) is None
    cache.changed("C9", ["C9", "e1"], "e1")
    assert cache.get("C9", 0) == ["C9", "e1"]
    assert table.reads == ["C9"]  # the second get came from the cache


def test_the_least_recently_used_state_leaves_first_and_a_changed_one_is_written() -> None:
    table = Table({k: [k] for k in ("A", "B", "C")})
    cache = _cache(table, capacity=2)
    a = cache.get("A", 0)
    assert a is not None
    a.append("e1")
    cache.changed("A", a, "e1")
    cache.get("B", 0)
    cache.get("A", 0)  # A is now the most recently used: B leaves, unchanged, unwritten
    cache.get("C", 0)
    assert table.writes == []
    assert len(cache) == 2
    cache.get("B", 0)  # A leaves now, changed: written on its way out
    assert table.writes == [["A"]]
    assert table.rows["A"] == ["A", "e1"]
    assert cache.take_changed() == []  # written already


def test_forget_returns_the_journal_to_redo_on_the_written_state() -> None:
    table = Table({"C1": ["C1"]})
    cache = _cache(table)
    state = cache.get("C1", 0)
    assert state is not None
    for change in ("e1", "e2"):
        state.append(change)
        cache.changed("C1", state, change)
    state.append("half-applied")  # a change that failed: never reported as changed
    journal = cache.forget("C1")
    assert journal == ["e1", "e2"]
    redone = cache.get("C1", 0)  # from the table again, without the failed change
    assert redone == ["C1"]
    for change in journal:
        redone.append(change)
        cache.changed("C1", redone, change)
    assert cache.take_changed() == [["C1", "e1", "e2"]]


def test_clear_drops_changed_states_unwritten() -> None:
    table = Table({"C1": ["C1"]})
    cache = _cache(table)
    cache.changed("C1", ["C1", "e1"], "e1")
    cache.clear()
    assert len(cache) == 0 and cache.take_changed() == [] and table.writes == []
    assert cache.get("C1", 0) == ["C1"]


def test_a_cache_needs_room() -> None:
    with pytest.raises(ValueError):
        StateCache(0, Table().load, Table().write)
