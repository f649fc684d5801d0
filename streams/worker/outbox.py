"""Output records kept in the state that produced them until their input is committed.

Why: a change's output records (breaches, outcomes, anomalies, claims forwarded to the
provider agent) and the changelog record of the state it wrote go to different partitions,
and Kafka keeps no order between partitions. A worker killed after the changelog record
arrived but before the outputs did would restart from a state that says they were sent; the
replayed input is then a duplicate and its outputs were lost. Stored in the same table value
as the state, the outputs reach the changelog exactly when the state does. A worker that
takes a partition over (after a crash, a restart or a rebalance) re-sends every entry whose
input is at or after the partition's committed offset; the records' deterministic ids make a
copy of one that did arrive harmless.

An entry is ``[topic, partition, offset, [[output, key, record], ...]]``: the input record
(event or tick) whose processing produced the outputs, and the outputs as sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Source = tuple[str, int, int]  # input topic, partition, offset
Output = tuple[str, str, Mapping[str, Any]]  # output name (a topic alias), record key, record
Committed = Mapping[tuple[str, int], int]  # (topic, partition) -> next offset to read


def record(outbox: list[list[Any]], source: Source, outputs: list[Output]) -> None:
    """Keep what `source` produced (nothing to keep when it produced nothing)."""
    if outputs:
        outbox.append([*source, [list(o) for o in outputs]])


def uncommitted(outbox: list[list[Any]], committed: Committed) -> list[list[Any]]:
    """The entries whose input offset is not committed yet: the rest can never be lost."""
    return [e for e in outbox if e[2] >= committed.get((e[0], e[1]), 0)]


def after_change(
    outbox: list[list[Any]], committed: Committed, source: Source, outputs: list[Output]
) -> list[list[Any]]:
    """The outbox to store with a change: the entries not committed yet, plus this one."""
    kept = uncommitted(outbox, committed)
    record(kept, source, outputs)
    return kept


def to_resend(
    outbox: list[list[Any]], committed: Committed, taken_over: set[tuple[str, int]]
) -> Iterator[Output]:
    """Outputs that a previous owner of these partitions may not have delivered.

    Only partitions this process has just taken over: on the others, its own producer sent
    the outputs and is still delivering them.
    """
    for topic, partition, offset, outputs in outbox:
        tp = (topic, partition)
        if tp in taken_over and offset >= committed.get(tp, 0):
            yield from outputs
