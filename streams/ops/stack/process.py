"""Processes the local stack owns: started detached, tracked by pid file, stopped by pid.

A pid alone can be reused by the OS after a crash, so a pid counts as ours only while its
command line still names our state directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """A service could not be started or checked; the message says which and why."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    pid_file: Path
    log_file: Path
    marker: str  # a string that appears in the command line of our process only
    env: dict[str, str] | None = None
    cwd: Path | None = None


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def running_pid(spec: ProcessSpec) -> int | None:
    """The pid from the pid file, if that process is alive and is really ours."""
    try:
        pid = int(spec.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if _is_zombie(pid):
        return None
    if spec.marker not in _cmdline(pid) and _parent(pid) != os.getpid():
        return None  # the pid was reused by a process that is not ours
    return pid


def _parent(pid: int) -> int:
    """Parent pid; a child we just started is ours even while its command line is in flux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[-1].split()[2])


def start(spec: ProcessSpec) -> int:
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    spec.pid_file.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if spec.env:
        env.update(spec.env)
    with spec.log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=spec.cwd,
            start_new_session=True,  # survives the `hub` command; not killed by its Ctrl-C
        )
    spec.pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def stop(spec: ProcessSpec, timeout: float = 30.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True if a process of ours was stopped."""
    pid = running_pid(spec)
    if pid is None:
        spec.pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(spec) == pid:
        _reap(pid)
        time.sleep(0.1)
    if running_pid(spec) == pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while running_pid(spec) == pid:
            _reap(pid)
            time.sleep(0.05)
    spec.pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(spec: ProcessSpec, check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it holds; fail fast with the log tail if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(spec) is None:
            raise StackError(
                f"{spec.name} exited while starting; last lines of {spec.log_file}:\n"
                + log_tail(spec.log_file)
            )
        try:
            if check():
                return
        except Exception:  # a not-yet-ready service raises all kinds of client errors
            pass
        time.sleep(0.25)
    raise StackError(
        f"{spec.name} not {what} after {timeout:.0f}s; last lines of {spec.log_file}:\n"
        + log_tail(spec.log_file)
    )
