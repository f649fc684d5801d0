"""Which partitions of a worker's RocksDB are kept at start (streams/worker/local_state.py),
on real RocksDB directories (the library, no service)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import rocksdict

from streams.worker.faust_app import CHECKPOINT, UNSYNCED
from streams.worker.local_state import Committed, OnDisk, prepare, stale

SALES, TICKS = "hub.sales", "hub-ticks"


def test_a_partition_without_marks_is_kept_whoever_committed_since() -> None:
    assert stale([OnDisk(False, {SALES: 3})], {SALES: 900}) is None


def test_marks_are_kept_while_nobody_committed_past_the_checkpoint() -> None:
    disk = OnDisk(True, {SALES: 40, TICKS: 7})
    assert stale([disk], {SALES: 40, TICKS: 7}) is None
    # Killed between its checkpoint and its commit: the group is behind, the state ahead.
    assert stale([disk], {SALES: 31, TICKS: 7}) is None


def test_marks_behind_what_another_owner_committed_are_dropped() -> None:
    why = stale([OnDisk(False, None), OnDisk(True, {SALES: 40, TICKS: 7})], {SALES: 40, TICKS: 9})
    assert why is not None and TICKS in why


def test_marks_without_a_checkpoint_are_kept_only_while_nothing_was_committed() -> None:
    assert stale([OnDisk(True, None)], {SALES: 0}) is None
    assert stale([OnDisk(True, None)], {SALES: 1}) is not None


@dataclass
class _Store:
    root: Path
    name: str

    def partition_path(self, partition: int) -> Path:
        return self.root / f"{self.name}-{partition}.db"


@dataclass
class _Table:
    name: str
    data: _Store


def _table(root: Path, name: str) -> Any:
    return _Table(name, _Store(root, name))


def _write(path: Path, rows: dict[bytes, bytes]) -> None:
    db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True))
    for key, value in rows.items():
        db.put(key, value)
    db.close()


def test_prepare_drops_the_partitions_another_owner_moved_on_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    customers, clocks, providers = (
        _table(tmp_path, n) for n in ("customers", "clocks", "providers")
    )
    state = {b"C1": b"{}"}
    _write(
        tmp_path / "customers-0.db",
        {**state, UNSYNCED + b"C1": b"", CHECKPOINT: b'{"hub.sales": 10}'},
    )
    _write(
        tmp_path / "customers-1.db",
        {**state, UNSYNCED + b"C1": b"", CHECKPOINT: b'{"hub.sales": 5}'},
    )
    _write(tmp_path / "customers-2.db", {**state, CHECKPOINT: b'{"hub.sales": 5}'})
    _write(tmp_path / "clocks-1.db", {b"p1": b"{}"})
    for p in range(3):
        _write(tmp_path / f"providers-{p}.db", {b"P1": b"{}"})
    asked: list[bool] = []

    def committed() -> Committed:
        asked.append(True)
        return {(SALES, 0): 10, (SALES, 1): 8, (SALES, 2): 50, ("elsewhere", 0): 99}

    dropped = prepare(
        cast(Any, [customers, clocks]), cast(Any, [providers]), 3, [SALES, TICKS], True, committed
    )
    assert dropped == {1}
    assert asked == [True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers-0.db", "customers-2.db"]


def test_prepare_after_a_clean_stop_keeps_everything_without_asking_kafka(tmp_path: Path) -> None:
    customers, providers = _table(tmp_path, "customers"), _table(tmp_path, "providers")
    _write(tmp_path / "customers-0.db", {b"C1": b"{}", CHECKPOINT: b'{"hub.sales": 5}'})
    _write(tmp_path / "providers-0.db", {b"P1": b"{}"})

    def committed() -> Committed:
        raise AssertionError("no marks: nothing to check against Kafka")

    assert (
        prepare(cast(Any, [customers]), cast(Any, [providers]), 1, [SALES], False, committed)
        == set()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers-0.db", "providers-0.db"]


def test_prepare_rebuilds_marked_partitions_when_kafka_cannot_tell(tmp_path: Path) -> None:
    customers = _table(tmp_path, "customers")
    _write(tmp_path / "customers-0.db", {UNSYNCED + b"C1": b"", CHECKPOINT: b'{"hub.sales": 5}'})

    def committed() -> Committed:
        raise OSError("broker away")

    assert prepare(cast(Any, [customers]), [], 1, [SALES], True, committed) == {0}
    assert not (tmp_path / "customers-0.db").exists()
