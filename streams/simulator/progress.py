"""A one-line progress bar on stderr for long generator runs (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .truth import iso


class Progress:
    """Redraws at most every ``interval_s``: simulated position, records and rate."""

    def __init__(
        self,
        start_ms: int,
        end_ms: int,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        interval_s: float = 0.25,
        width: int = 24,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start_ms = start_ms
        self.span = max(1, end_ms - start_ms)
        self.interval_s = interval_s
        self.width = width
        self.t0 = time.monotonic()
        self._next = self.t0
        self._drawn = False

    def update(self, records: int, sim_ms: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next and not force:
            return
        self._next = now + self.interval_s
        fraction = min(1.0, max(0.0, (sim_ms - self.start_ms) / self.span))
        filled = int(fraction * self.width)
        rate = records / max(now - self.t0, 1e-9)
        when = (iso(sim_ms) or "")[:16].replace("T", " ")
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} "
            f"sim {when}  {records:,} records  {rate:,.0f}/s "
        )
        self.stream.flush()
        self._drawn = True

    def close(self, records: int, sim_ms: int) -> None:
        if self.enabled:
            self.update(records, sim_ms, force=True)
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()
