"""Hot customer states as objects, written to their table once per commit, not per event.

Why: loading and dumping a customer's whole state as JSON and writing it with its changelog
record cost more per event than applying the event. Here a state stays an object between
events; a change only marks it. ``take_changed`` hands the changed states to the writer,
which the worker calls before Faust commits offsets (an offset is committed only once the
states it produced are in the changelog), and a changed state evicted from the bounded
cache is written on its way out.

A changed state also keeps the list of changes applied since it was last written (its
journal): a change that fails half-way is undone by reloading the written state and
redoing the others, so one bad record cannot leave a half-applied state behind.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

S = TypeVar("S")
E = TypeVar("E")


class StateCache(Generic[S, E]):
    """Least-recently-used states by key, with the changes not yet written (and their journal).

    ``load(key, partition)`` reads a state from the table (None: no state yet);
    ``write(states)`` writes changed states to it.
    """

    def __init__(
        self,
        capacity: int,
        load: Callable[[str, int], S | None],
        write: Callable[[list[S]], None],
    ) -> None:
        if capacity < 1:
            raise ValueError("the state cache needs room for at least one state")
        self.capacity = capacity
        self._load = load
        self._write = write
        self._states: OrderedDict[str, S] = OrderedDict()
        self._journal: dict[str, list[E]] = {}  # key -> changes since written (the dirty set)

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: str, partition: int) -> S | None:
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
            return state
        state = self._load(key, partition)
        if state is not None:
            self._put(key, state)
        return state

    def changed(self, key: str, state: S, change: E) -> None:
        """`state` (now the cached one for `key`) was changed by `change`."""
        if self._states.get(key) is not state:
            self._put(key, state)
        self._journal.setdefault(key, []).append(change)

    def forget(self, key: str) -> list[E]:
        """Drop `key`'s state unwritten; returns its journal (to redo on the written state)."""
        self._states.pop(key, None)
        return self._journal.pop(key, [])

    def take_changed(self) -> list[S]:
        """The changed states, now counted as written (the caller writes them)."""
        taken = [self._states[key] for key in self._journal]
        self._journal.clear()
        return taken

    def clear(self) -> None:
        """Drop every state, changed or not (after a rebalance: input is re-read from the
        committed offsets, which the written states already cover)."""
        self._states.clear()
        self._journal.clear()

    def _put(self, key: str, state: S) -> None:
        self._states[key] = state
        self._states.move_to_end(key)
        while len(self._states) > self.capacity:
            old, evicted = self._states.popitem(last=False)
            if self._journal.pop(old, None) is not None:
                self._write([evicted])
