"""The hub's own long-running processes (worker, sink) started in the background by `hub demo`.

They are tracked like the stack's services (pid file under .hub/run, log under .hub/logs), so
`hub stack down` stops them too and a second `hub demo` does not start them twice.
"""

from __future__ import annotations

import sys

from streams.ops.stack.process import ProcessSpec
from streams.settings import Settings

APPS = ("worker", "sink")


def app_spec(settings: Settings, name: str) -> ProcessSpec:
    if name not in APPS:
        raise ValueError(f"unknown app {name!r}")
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-m", "streams.ops.cli", name],
        pid_file=settings.state_dir / "run" / f"{name}.pid",
        log_file=settings.state_dir / "logs" / f"{name}.log",
        marker=f"streams.ops.cli {name}",
    )
