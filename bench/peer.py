"""The peer in bench/run.py: Quix Streams draining the same backlog with the hub's own code.

One drain = one fresh deployment (common.isolated), timed as drain.drain times the worker:
from the replay's start to the Kafka timestamp of the last output record, once the peer's
group has committed every input record. The job itself is bench/quix_job.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    MachineLoad,
    cleanup,
    cpu_seconds,
    group_state,
    input_names,
    isolated,
    log,
    rss_kib,
)
from drain import Backlog, last_timestamp
from support.harness import env_for

from streams.kafka_admin import total_lag
from streams.ops.topics import TopicSpec, create_topics, ensure_topics
from streams.settings import Settings
from streams.simulator.recording import replay

JOB = Path(__file__).resolve().parent / "quix_job.py"


def available() -> str | None:
    """None when the peer can run, else why not."""
    try:
        import quixstreams  # noqa: F401
    except ImportError:
        return "quixstreams is not installed: .venv/bin/pip install -e '.[bench]'"
    return None


def _until(check: Any, timeout_s: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if proc.poll() is not None:
            raise RuntimeError(f"the Quix job exited ({proc.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout_s:.0f} s")
        time.sleep(0.5)


def quix_drain(
    base: Settings, backlog: Backlog, tmp: Path, timeout_s: float = 900
) -> dict[str, Any]:
    s = isolated(base, tmp, "quix")
    group = f"{s.worker.app_id}-quix"
    output = f"{s.kafka.topic_prefix}quix-profiles"
    tmp.mkdir(parents=True, exist_ok=True)
    log_file = (tmp / "quix.log").open("ab")
    proc: subprocess.Popen[bytes] | None = None
    try:
        create_topics(s)
        partitions = s.kafka.input_partitions
        # Quix gives an output the timestamp of its input: the broker's clock times it instead.
        stamp = {"message.timestamp.type": "LogAppendTime"}
        ensure_topics(s, [TopicSpec(output, output, partitions, s.kafka.replication_factor, stamp)])
        proc = subprocess.Popen(
            [sys.executable, str(JOB), output, group, str(tmp / "state")],
            env=env_for(s),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running = proc
        _until(lambda: group_state(s, group) == ("Stable", 1), 120, "the Quix group", running)
        cpu0, rss0 = cpu_seconds(proc.pid), rss_kib(proc.pid)
        load = MachineLoad({"quix": proc.pid})
        wall0 = time.time()
        replayed = replay(backlog.recording, s, create=False, progress=False)
        inputs = input_names(s)
        _until(
            lambda: total_lag(s.kafka.bootstrap, group, inputs) == 0, timeout_s, "lag 0", running
        )
        machine = load.done()
        seconds = last_timestamp(s, output) / 1000 - wall0
        cpu = cpu_seconds(proc.pid) - cpu0
        out = {
            "records": replayed.records,
            "seconds": round(seconds, 2),
            "events_per_s": round(replayed.records / seconds, 1),
            "cpu_us_per_event": round(cpu / replayed.records * 1e6, 1),
            "rss_start_mib": round(rss0 / 1024, 1),
            "rss_end_mib": round(rss_kib(proc.pid) / 1024, 1),
            "machine": machine,
        }
        log(f"quix: {out['events_per_s']:,.0f} events/s, {out['cpu_us_per_event']} µs CPU/event")
        return out
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_file.close()
        cleanup(s, extra_groups=[group])
