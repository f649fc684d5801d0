"""Whether a worker's RocksDB is kept when it starts, partition by partition.

Why: rebuilding the tables from their changelogs took ~170 s at a million customers, and
RocksDB on disk normally holds the very same rows. It can differ from the changelog in two
ways, both told by what the worker stores in it (HubTable in streams/worker/faust_app.py):

- rows written after the last checkpoint may not have reached the changelog (a SIGKILL):
  they carry an unsynced mark, and the worker sends them again once the partition is
  recovered (``HubTable.take_over``);
- another worker may have owned the partition since: the changelog then moved on from the
  states it had, and sending the marked rows would put back what that owner replaced. Told
  by the group's committed offsets: past those of the checkpoint, someone else committed.
  Such a partition is dropped and rebuilt from its changelog.

A partition without marks holds nothing the changelog lacks: Faust's recovery catches it up
from its stored changelog offset, whoever wrote since. The providers table is written by
Faust's own per-event path, without marks: after an unclean stop it is rebuilt (one row per
provider, a small table).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.worker.faust_app import CHECKPOINT, HubTable, unsynced_keys

log = logging.getLogger("insurance_hub.worker")

#: (topic, partition) -> the group's committed offset (next record to read).
Committed = Mapping[tuple[str, int], int]


@dataclass(frozen=True)
class OnDisk:
    """What one table partition's RocksDB says about itself."""

    marked: bool  # holds rows written after its last checkpoint
    checkpoint: dict[str, int] | None  # input topic -> offset its last checkpoint was for


def stale(found: Iterable[OnDisk], committed: Mapping[str, int]) -> str | None:
    """Why a partition's RocksDB must be rebuilt from the changelog (None: keep it).

    ``found``: the partition's tables on disk; ``committed``: input topic -> the group's
    committed offset on this partition.
    """
    for disk in found:
        if not disk.marked:
            continue
        seen = disk.checkpoint or {}
        for topic, offset in sorted(committed.items()):
            if offset > seen.get(topic, 0):
                return f"the group committed {topic} up to {offset}, past its checkpoint"
    return None


def read_disk(path: Path) -> OnDisk | None:
    """None when the partition has no RocksDB here."""
    if not path.exists():
        return None
    import rocksdict

    db = rocksdict.Rdict(
        str(path),
        options=rocksdict.Options(raw_mode=True),
        access_type=rocksdict.AccessType.read_only(),
    )
    try:
        marked = next(iter(unsynced_keys(db)), None) is not None
        raw = db.get(CHECKPOINT)
        return OnDisk(marked, json.loads(raw) if raw is not None else None)
    finally:
        db.close()


def prepare(
    marked: Iterable[HubTable],
    unmarked: Iterable[HubTable],
    partitions: int,
    inputs: Iterable[str],
    unclean: bool,
    read_committed: Callable[[], Committed],
) -> set[int]:
    """Drop what cannot be kept before Faust opens the tables; returns the partitions of
    ``marked`` tables that were dropped (and will be rebuilt from their changelogs).

    ``marked``: tables written with unsynced marks; ``unmarked``: the others, dropped after
    an unclean stop; ``inputs``: the input topics whose commits a checkpoint records.
    """
    marked, inputs = list(marked), list(inputs)
    if unclean:
        for table in unmarked:
            for p in range(partitions):
                _drop(_path(table, p))
    found: dict[int, list[OnDisk]] = {}
    for p in range(partitions):
        disks = []
        for table in marked:
            try:
                disk = read_disk(_path(table, p))
            except Exception as exc:  # unreadable: the changelog has it all
                log.warning("%s partition %d unreadable (%s): rebuilding it", table.name, p, exc)
                disk = OnDisk(True, None)
            if disk is not None:
                disks.append(disk)
        if any(d.marked for d in disks):
            found[p] = disks
    if not found:
        return set()
    try:
        committed = read_committed()
    except Exception as exc:
        log.warning("committed offsets unreadable (%s): rebuilding partitions %s", exc,
                    sorted(found))  # fmt: skip
        committed = None
    dropped = set()
    for p, disks in sorted(found.items()):
        if committed is None:
            why: str | None = "committed offsets unknown"
        else:
            mine = {t: committed[(t, p)] for t in inputs if (t, p) in committed}
            why = stale(disks, mine)
        if why is None:
            log.info("partition %d: RocksDB kept, rows written after its checkpoint re-sent", p)
            continue
        log.warning("partition %d: RocksDB rebuilt from the changelog: %s", p, why)
        for table in marked:
            _drop(_path(table, p))
        dropped.add(p)
    return dropped


def _path(table: HubTable, partition: int) -> Path:
    store: Any = table.data
    path: Path = store.partition_path(partition)
    return path


def _drop(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
