"""Throwaway ClickHouse engines and the Kafka side of sink tests, for tests and benchmarks.

- :func:`private_server`: a separate ``clickhouse-server`` process (same binary, config and
  users as the local stack) on free ports under its own state directory, so a test can stop
  and restart it, or fill it with known data, without touching the shared server.
- :class:`ChdbEngine`: current ClickHouse in process (the ``chdb-core`` package, a dev
  dependency), to prove the DDL and the documented queries also run on a current engine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streams.ops.stack.clickhouse import ClickHouseService
from streams.ops.stack.process import StackError, log_tail, start, stop
from streams.ops.topics import delete_prefixed_topics
from streams.settings import Settings


def free_ports(count: int) -> list[int]:
    """Ports free on loopback right now (held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class PrivateServer:
    """A clickhouse-server process of our own; ``settings`` point the hub at it."""

    def __init__(self, settings: Settings, state_dir: Path) -> None:
        port, http_port = free_ports(2)
        self.settings = dataclasses.replace(
            settings,
            state_dir=state_dir,
            clickhouse=dataclasses.replace(settings.clickhouse, port=port, http_port=http_port),
        )
        self.service = ClickHouseService(self.settings)

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait until the writer user gets an answer.

        Polls by pid rather than with ``process.wait_until``: right after a start its
        cmdline check has been seen to miss a live 18.16 server once, failing the start.
        """
        self.service.prepare()
        pid = start(self.service.spec)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                raise StackError(
                    f"private clickhouse exited; log:\n{log_tail(self.service.spec.log_file)}"
                )
            try:
                if self.service.healthy():
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise StackError(f"private clickhouse not healthy after {timeout:.0f}s")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (SIGKILL after ``timeout``) by pid file."""
        stop(self.service.spec, timeout=timeout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError, OSError):  # reap it if it is our dead child
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


@contextmanager
def private_server(settings: Settings, state_dir: Path) -> Iterator[PrivateServer]:
    """Start a private ClickHouse server; stop it (by its pid file) on exit."""
    server = PrivateServer(settings, state_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop(timeout=5.0)


class ChdbEngine:
    """chDB session with the same execute/query shape as clickhouse-driver's client."""

    def __init__(self, path: Path, database: str = "insurance_hub") -> None:
        from chdb import session

        self.session = session.Session(str(path))
        self.session.query(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.session.query(f"USE {database}")

    def execute(self, sql: str) -> None:
        self.session.query(sql)

    def query(self, sql: str) -> list[list[Any]]:
        """Rows as lists of JSON values (numbers, strings, lists, null)."""
        result = self.session.query(sql, "JSONCompact")
        raw = result.bytes()
        if not raw.strip():
            return []
        rows: list[list[Any]] = json.loads(raw)["data"]
        return rows

    def columns(self, sql: str) -> list[str]:
        result = self.session.query(sql, "JSONCompact")
        return [c["name"] for c in json.loads(result.bytes())["meta"]]

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert Python values (as the sink builds them) through a VALUES literal."""
        if not rows:
            return
        values = ",".join("(" + ",".join(sql_literal(v) for v in row) + ")" for row in rows)
        self.session.query(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}")

    def close(self) -> None:
        self.session.close()


def sql_literal(value: Any) -> str:
    """A ClickHouse literal of a row value: None, int, float, Decimal, str, date, list."""
    import datetime as dt
    from decimal import Decimal

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"'{value:%Y-%m-%d %H:%M:%S}'"
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return "[" + ",".join(sql_literal(v) for v in value) + "]"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


# -- Kafka side of sink tests and benchmarks ------------------------------------------------


def isolated(settings: Settings, name: str, **sink: Any) -> Settings:
    """Settings with a unique topic prefix, consumer group and metrics port for one test."""
    tag = f"{name}-{uuid.uuid4().hex[:8]}"
    (metrics_port,) = free_ports(1)
    return dataclasses.replace(
        settings,
        kafka=dataclasses.replace(settings.kafka, topic_prefix=f"{tag}."),
        sink=dataclasses.replace(settings.sink, group_id=f"{tag}-sink", **sink),
        prometheus=dataclasses.replace(settings.prometheus, sink_metrics_port=metrics_port),
    )


def create_hub_topics(settings: Settings) -> None:
    """Every hub topic under the settings' prefix."""
    from streams.ops.topics import create_topics

    create_topics(settings)


def sink_lag(settings: Settings) -> int:
    """Records on the sink's topics that its consumer group has not committed."""
    from sinks.clickhouse.routes import subscribed_topics
    from streams.kafka_admin import total_lag

    return total_lag(settings.kafka.bootstrap, settings.sink.group_id, subscribed_topics(settings))


def delete_hub_topics(settings: Settings) -> None:
    """Delete every topic under the settings' (test-unique) prefix."""
    delete_prefixed_topics(settings)


@contextmanager
def hub_topics(settings: Settings) -> Iterator[Settings]:
    """Create the hub's topics under the settings' prefix; delete them afterwards."""
    create_hub_topics(settings)
    try:
        yield settings
    finally:
        delete_hub_topics(settings)


def publish_generated(settings: Settings, config: Any) -> Any:
    """Publish a generator run (``GeneratorConfig``) to the input topics; its ground truth."""
    from schemas import Codec
    from streams.ops.publish import EventPublisher
    from streams.simulator import InsurerSimulation

    codec = Codec()
    sim = InsurerSimulation(config, codec=codec)
    with EventPublisher(settings, codec=codec, validate=False) as pub:
        for ev in sim:
            pub.publish_raw(ev.topic, ev.encode(codec), key=ev.key)
        pub.flush()
    return sim.ground_truth


def publish_events(settings: Settings, events: Sequence[Any]) -> None:
    """Publish generator events (``GeneratedEvent``) as the generator would."""
    from schemas import Codec
    from streams.ops.publish import EventPublisher

    codec = Codec()
    with EventPublisher(settings, codec=codec, validate=False) as pub:
        for ev in events:
            pub.publish_raw(ev.topic, ev.encode(codec), key=ev.key)
        pub.flush()


def publish_records(settings: Settings, topic: str, records: Sequence[Any], key: str = "k") -> None:
    """Publish records (dicts, encoded with the contract without validation, or bytes)."""
    from schemas import Codec
    from streams.ops.publish import EventPublisher

    codec = Codec()
    with EventPublisher(settings, codec=codec, validate=False) as pub:
        for rec in records:
            value = rec if isinstance(rec, bytes) else codec.encode(topic, rec, validate=False)
            rec_key = key if isinstance(rec, bytes) else str(rec.get("customer_id", key))
            pub.publish_raw(topic, value, key=rec_key)
        pub.flush()


def sink_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a `python -m sinks.cli sink` subprocess using ``settings``."""
    env = dict(os.environ)
    env.update(
        {
            "HUB_TOPIC_PREFIX": settings.kafka.topic_prefix,
            "HUB_KAFKA_HOST": settings.kafka.host,
            "HUB_KAFKA_PORT": str(settings.kafka.port),
            "HUB_CLICKHOUSE_HOST": settings.clickhouse.host,
            "HUB_CLICKHOUSE_PORT": str(settings.clickhouse.port),
            "HUB_CLICKHOUSE_DATABASE": settings.clickhouse.database,
            "HUB_SINK_GROUP_ID": settings.sink.group_id,
            "HUB_SINK_BATCH_ROWS": str(settings.sink.batch_max_rows),
            "HUB_SINK_BATCH_SECONDS": str(settings.sink.batch_max_seconds),
            "HUB_SINK_RETRY_MAX_SECONDS": str(settings.sink.retry_max_seconds),
            "HUB_SINK_METRICS_PORT": str(settings.prometheus.sink_metrics_port),
            "HUB_METRICS_HOST": settings.prometheus.metrics_host,
            "HUB_PII_KEY": settings.pii_key,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def scrape(settings: Settings) -> dict[str, float]:
    """The sink's /metrics as {'name{labels}': value} (empty if it does not answer)."""
    import urllib.request

    p = settings.prometheus
    url = f"http://{p.metrics_host}:{p.sink_metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
