"""Helpers for end-to-end tests: hub processes as real subprocesses, topics read to the end."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas.codec import Codec
from streams.settings import REPO_ROOT, Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Starts every isolated() tag of this pytest session: the session deletes its own topics at
#: the end (tests/conftest.py) and leaves those of a session running next to it alone.
SESSION_TAG = uuid.uuid4().hex[:6]


def isolated(settings: Settings, tmp: Path, **worker: Any) -> Settings:
    """Settings with a fresh topic prefix, app id and state dir, so tests never collide."""
    tag = SESSION_TAG + uuid.uuid4().hex[:8]
    return replace(
        settings,
        state_dir=tmp,
        kafka=replace(settings.kafka, topic_prefix=f"t{tag}."),
        worker=replace(settings.worker, app_id=f"hub-test-{tag}", **worker),
        prometheus=replace(
            settings.prometheus, worker_metrics_port=free_port(), sink_metrics_port=free_port()
        ),
        sink=replace(settings.sink, group_id=f"hub-test-sink-{tag}"),
    )


def env_for(s: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HUB_STATE_DIR=str(s.state_dir),
        HUB_TOPIC_PREFIX=s.kafka.topic_prefix,
        HUB_KAFKA_HOST=s.kafka.host,
        HUB_KAFKA_PORT=str(s.kafka.port),
        HUB_INPUT_PARTITIONS=str(s.kafka.input_partitions),
        HUB_WORKER_APP_ID=s.worker.app_id,
        HUB_WORKER_ID=s.worker.worker_id,
        HUB_WORKER_TICK_SECONDS=str(s.worker.tick_interval_s),
        HUB_WORKER_METRICS_PORT=str(s.prometheus.worker_metrics_port),
        HUB_SINK_METRICS_PORT=str(s.prometheus.sink_metrics_port),
        HUB_SINK_GROUP_ID=s.sink.group_id,
        HUB_CLICKHOUSE_PORT=str(s.clickhouse.port),
        HUB_CLICKHOUSE_DATABASE=s.clickhouse.database,
    )
    env.update(extra)
    return env


class HubProcess:
    """`hub <command>` as a child process with its own log file."""

    def __init__(
        self,
        s: Settings,
        command: list[str],
        log: Path,
        cwd: Path = REPO_ROOT,
        program: list[str] | None = None,
        **extra_env: str,
    ) -> None:
        """`cwd`: the source tree to run (bench/bench_linger.py --rev runs an older one);
        `program`: what runs `command` (default: the `hub` CLI)."""
        self.settings = s
        self.log = log
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*(program or [sys.executable, "-m", "streams.ops.cli"]), *command],
            cwd=cwd,
            env=env_for(s, **extra_env),
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._fh.close()

    def stop(self, timeout: float = 60) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = -9
        self._fh.close()
        return rc

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def raw_records(s: Settings, logical: str, *, timeout_s: float = 20.0) -> list[Any]:
    """Every Kafka record now in a topic (all partitions, from the beginning to the end)."""
    name = s.kafka.topic_prefix + logical
    consumer = KafkaConsumer(bootstrap_servers=s.kafka.bootstrap, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {name} to its end")
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def read_topic(
    s: Settings, logical: str, *, decode: bool = True, timeout_s: float = 20.0
) -> list[tuple[bytes | None, Any]]:
    """Every record now in a topic as (key, decoded record or raw value)."""
    codec = Codec()
    return [
        (r.key, codec.decode(logical, r.value) if decode else r.value)
        for r in raw_records(s, logical, timeout_s=timeout_s)
    ]


def wait_for(
    check: Callable[[], bool],
    timeout_s: float,
    what: str,
    proc: HubProcess | None = None,
    show: Callable[[], str] | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and not proc.alive():
            raise AssertionError(f"{what}: process exited early:\n{proc.tail()}")
        time.sleep(1.0)
    seen = f"\nlast seen: {show()}" if show is not None else ""
    tail = f"\n{proc.tail()}" if proc is not None else ""
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}{seen}{tail}")
