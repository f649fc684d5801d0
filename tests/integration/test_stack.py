"""The local stack: real Kafka, ClickHouse and Prometheus, started by the project itself."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from streams.ops.stack.manager import Stack
from streams.ops.stack.process import StackError, running_pid
from streams.settings import Settings


def test_status_reports_three_healthy_services(settings: Settings) -> None:
    rows = {r.name: r for r in Stack(settings).status()}
    assert set(rows) == {"kafka", "clickhouse", "prometheus"}
    for r in rows.values():
        assert r.state == "healthy", r
        assert r.pid and Path(f"/proc/{r.pid}").exists()
    assert rows["kafka"].ports == [settings.kafka.port, settings.kafka.controller_port]


def test_second_up_starts_nothing(settings: Settings) -> None:
    before = {r.name: r.pid for r in Stack(settings).status()}
    after = {r.name: r.pid for r in Stack(settings).up()}
    assert before == after


def test_kafka_round_trip_with_project_settings(settings: Settings) -> None:
    topic = f"test-roundtrip-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    meta = producer.send(topic, key=b"C1", value=b"payload").get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap)
    tp = TopicPartition(topic, meta.partition)
    consumer.assign([tp])
    consumer.seek(tp, meta.offset)
    got = []
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        got = [r for recs in consumer.poll(timeout_ms=500).values() for r in recs]
    consumer.close()
    assert [(r.key, r.value) for r in got] == [(b"C1", b"payload")]


def _client(settings: Settings, user: str, password: str) -> Client:
    c = settings.clickhouse
    return Client(host=c.host, port=c.port, user=user, password=password)


def test_clickhouse_round_trip_and_users(settings: Settings) -> None:
    c = settings.clickhouse
    writer = _client(settings, c.writer_user, c.writer_password)
    writer.execute(f"CREATE DATABASE IF NOT EXISTS {c.database}")
    table = f"{c.database}.test_roundtrip_{uuid.uuid4().hex[:8]}"
    writer.execute(f"CREATE TABLE {table} (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
    try:
        writer.execute(f"INSERT INTO {table} (id, name) VALUES", [(1, "a"), (2, "b")])
        reader = _client(settings, c.reader_user, c.reader_password)
        assert reader.execute(f"SELECT id, name FROM {table} ORDER BY id") == [(1, "a"), (2, "b")]
        with pytest.raises(ServerException) as refused:
            reader.execute(f"INSERT INTO {table} (id, name) VALUES", [(3, "c")])
        assert "readonly" in str(refused.value).lower()
        with pytest.raises(ServerException):
            _client(settings, c.writer_user, "wrong-password").execute("SELECT 1")
    finally:
        writer.execute(f"DROP TABLE IF EXISTS {table}")


def test_prometheus_loaded_project_config(settings: Settings) -> None:
    url = f"{settings.prometheus.url}/api/v1/status/config"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = resp.read().decode()
    assert "insurance-hub-worker" in body
    assert f"127.0.0.1:{settings.prometheus.worker_metrics_port}" in body
    with urllib.request.urlopen(f"{settings.prometheus.url}/api/v1/rules", timeout=5) as resp:
        assert "HubServiceDown" in resp.read().decode()


def test_kill_9_kafka_status_down_then_up_restarts_with_data(settings: Settings) -> None:
    topic = f"test-durable-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
    for i in range(50):
        producer.send(topic, value=f"m{i}".encode())
    producer.flush()
    producer.close()

    stack = Stack(settings)
    kafka = next(s for s in stack.services if s.name == "kafka")
    pid = running_pid(kafka.spec)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while running_pid(kafka.spec) is not None and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    rows = {r.name: r for r in stack.status()}
    assert rows["kafka"].state == "stopped"
    assert rows["clickhouse"].state == "healthy"

    rows = {r.name: r for r in stack.up()}
    assert rows["kafka"].state == "healthy"
    assert rows["kafka"].pid != pid

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    values = [r.value.decode() for r in consumer]
    consumer.close()
    assert values == [f"m{i}" for i in range(50)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_taken_port_fails_fast_naming_it_and_leaves_nothing_running(
    settings: Settings, tmp_path: Path
) -> None:
    """The last service's port is taken: the two started before it must be stopped again."""
    isolated = dataclasses.replace(
        settings,
        state_dir=tmp_path / "state",
        kafka=dataclasses.replace(settings.kafka, port=_free_port(), controller_port=_free_port()),
        clickhouse=dataclasses.replace(
            settings.clickhouse, port=_free_port(), http_port=_free_port()
        ),
    )
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    isolated = dataclasses.replace(
        isolated, prometheus=dataclasses.replace(settings.prometheus, port=taken)
    )
    stack = Stack(isolated)
    t0 = time.monotonic()
    try:
        with pytest.raises(StackError, match=f"port {taken}"):
            stack.up()
    finally:
        blocker.close()
    assert time.monotonic() - t0 < 30
    assert all(running_pid(s.spec) is None for s in stack.services)
    ours = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if str(isolated.state_dir).encode() in cmd:
                ours.append(proc.name)
    assert ours == []
