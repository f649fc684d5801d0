"""`hub stack up|down|status`: the three local services as one unit.

`up` is idempotent and all-or-nothing: what this call started is stopped again if any
service fails to become healthy, so a failed `up` leaves nothing of ours running.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from streams.ops.stack.apps import APPS, app_spec
from streams.ops.stack.clickhouse import ClickHouseService
from streams.ops.stack.kafka import KafkaService
from streams.ops.stack.process import (
    ProcessSpec,
    StackError,
    port_in_use,
    running_pid,
    start,
    stop,
    wait_until,
)
from streams.ops.stack.prometheus import PrometheusService
from streams.settings import Settings

START_TIMEOUT_S = 90.0


class Service(Protocol):
    name: str
    spec: ProcessSpec

    @property
    def ports(self) -> list[int]: ...

    @property
    def address(self) -> str: ...

    def prepare(self) -> None: ...

    def healthy(self) -> bool: ...


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # healthy | unhealthy | stopped
    pid: int | None
    ports: list[int]
    address: str
    log: str

    @property
    def ok(self) -> bool:
        return self.state == "healthy"


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: list[Service] = [
            KafkaService(settings),
            ClickHouseService(settings),
            PrometheusService(settings),
        ]

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Two `up`s at once (two test sessions, say) would race for the same ports."""
        path = self.settings.state_dir / "run" / "stack.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _status(self, svc: Service) -> ServiceStatus:
        pid = running_pid(svc.spec)
        if pid is None:
            state = "stopped"
        else:
            try:
                state = "healthy" if svc.healthy() else "unhealthy"
            except Exception:
                state = "unhealthy"
        return ServiceStatus(svc.name, state, pid, svc.ports, svc.address, str(svc.spec.log_file))

    def status(self) -> list[ServiceStatus]:
        return [self._status(s) for s in self.services]

    def up(self, timeout: float = START_TIMEOUT_S) -> list[ServiceStatus]:
        with self._lock():
            started: list[Service] = []
            try:
                waiting: list[Service] = []
                reused: list[Service] = []
                for svc in self.services:
                    if running_pid(svc.spec) is not None:
                        waiting.append(svc)  # ours and alive: never started twice
                        reused.append(svc)
                        continue
                    for port in svc.ports:
                        if _port_stays_taken(self._host(svc), port):
                            raise StackError(
                                f"port {port} needed by {svc.name} is already in use by another "
                                f"process; free it or set the port's HUB_* variable"
                            )
                    svc.prepare()
                    start(svc.spec)
                    started.append(svc)
                    waiting.append(svc)
                deadline = time.monotonic() + timeout
                for svc in waiting:
                    remaining = max(1.0, deadline - time.monotonic())
                    wait_until(svc.spec, svc.healthy, remaining, "healthy")
                for svc in reused:
                    reload = getattr(svc, "reload", None)
                    if reload is not None:
                        reload()  # configuration files may have changed since it started
            except BaseException:
                for svc in reversed(started):
                    stop(svc.spec)
                raise
            return self.status()

    def down(self) -> list[str]:
        """Stop the hub's own processes first (they use the services), then the services."""
        with self._lock():
            apps = [app_spec(self.settings, name) for name in APPS]
            stopped = [spec.name for spec in apps if stop(spec)]
            return stopped + [svc.name for svc in reversed(self.services) if stop(svc.spec)]

    @staticmethod
    def _host(svc: Service) -> str:
        return svc.address.removeprefix("http://").rsplit(":", 1)[0]


def _port_stays_taken(host: str, port: int, grace_s: float = 3.0) -> bool:
    """A process of ours that just died may hold its sockets a moment longer."""
    deadline = time.monotonic() + grace_s
    while port_in_use(host, port):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)
    return False
