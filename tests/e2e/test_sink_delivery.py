"""Delivery guarantee, with real processes: `python -m sinks.cli sink` as a subprocess.

Each test has a private ClickHouse server (the stack's binary, config and users) and its own
topic prefix on the stack's Kafka.

1. A sink SIGKILLed after ClickHouse acknowledged an INSERT and before it committed the
   offsets: the next sink re-reads and re-inserts those rows, and the views still count every
   event exactly once.
2. A private ClickHouse server stopped and restarted while the sink runs and events keep
   coming: the sink waits and retries without taking in more records (bounded buffers),
   commits nothing meanwhile, and ends with every event counted exactly once.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support import sink_failpoint
from support.clickhouse import (
    PrivateServer,
    isolated,
    private_server,
    publish_generated,
    scrape,
    sink_env,
    sink_lag,
)

from sinks.clickhouse.migrate import migrate, reader_client
from streams.settings import Settings
from streams.simulator import GeneratorConfig

SINK = [sys.executable, "-m", "sinks.cli", "sink"]
#: The same sink, SIGKILLed after its first acknowledged INSERT and before the commit.
KILLED_SINK = [sys.executable, sink_failpoint.__file__]


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _landed(settings: Settings) -> dict[tuple[str, str], int]:
    """Unique events per (domain, event_type) landed from this test's topics."""
    client = reader_client(settings)
    try:
        rows = client.execute(
            "SELECT domain, event_type, count() FROM events_unique "
            "WHERE startsWith(topic, %(p)s) GROUP BY domain, event_type",
            {"p": settings.kafka.topic_prefix},
        )
    finally:
        client.disconnect()
    return {(d, t): n for d, t, n in rows}


def _expected(*truths: Any) -> dict[tuple[str, str], int]:
    """Distinct valid events per (domain, event_type) across generator runs."""
    out: dict[tuple[str, str], int] = {}
    for truth in truths:
        for topic, types in truth.counts.items():
            domain = topic.split(".")[1]
            for etype, n in types.items():
                out[(domain, etype)] = out.get((domain, etype), 0) + n
    return out


def _raw_rows(settings: Settings) -> int:
    client = reader_client(settings)
    try:
        ((n,),) = client.execute(
            "SELECT count() FROM events WHERE startsWith(topic, %(p)s)",
            {"p": settings.kafka.topic_prefix},
        )
    finally:
        client.disconnect()
    return int(n)


def test_sigkill_between_insert_and_commit_counts_every_event_once(
    topics: Callable[[Settings], Settings], settings: Settings, tmp_path: Path
) -> None:
    server = PrivateServer(settings, tmp_path / "ch")
    server.start()
    try:
        _sigkill_then_resume(topics, server.settings, tmp_path)
    finally:
        server.stop(timeout=5)


def _sigkill_then_resume(
    topics: Callable[[Settings], Settings], settings: Settings, tmp_path: Path
) -> None:
    s = isolated(settings, "sigkill", batch_max_rows=400, batch_max_seconds=0.5)
    topics(s)
    migrate(s)
    truth = publish_generated(s, GeneratorConfig(seed=11, customers=250, days=10))
    records = truth.total_records
    assert sink_lag(s) == records

    log1 = tmp_path / "sink1.log"
    with log1.open("wb") as out:
        first = subprocess.run(
            [*KILLED_SINK, "--exit-when-idle", "5", "--no-metrics", "--instance-id", "sink-1"],
            env=sink_env(s),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert first.returncode == -signal.SIGKILL, log1.read_text()
    landed_before_commit = _raw_rows(s)
    assert landed_before_commit > 0  # ClickHouse acknowledged a batch ...
    assert sink_lag(s) == records  # ... and not one offset was committed

    second = subprocess.run(
        [*SINK, "--exit-when-idle", "3", "--no-metrics", "--instance-id", "sink-1"],
        env=sink_env(s),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    done = re.search(r"sink done: (\d+) records read, (\d+) rows landed", second.stderr)
    assert done, second.stderr
    # The second sink started from the last commit (none): it re-read every record and
    # re-inserted the rows the killed one had already landed.
    assert int(done.group(1)) == records
    assert sink_lag(s) == 0
    assert _landed(s) == _expected(truth)
    assert sum(_landed(s).values()) == truth.total_events


def test_clickhouse_restart_while_sink_runs_loses_and_duplicates_nothing(
    topics: Callable[[Settings], Settings], settings: Settings, tmp_path: Path
) -> None:
    batch_rows = 500
    with private_server(settings, tmp_path / "ch") as server:
        s = isolated(
            server.settings,
            "chrestart",
            batch_max_rows=batch_rows,
            batch_max_seconds=0.3,
            retry_max_seconds=1.0,
        )
        topics(s)
        log = (tmp_path / "sink.log").open("wb")
        sink = subprocess.Popen(SINK, env=sink_env(s), stdout=log, stderr=subprocess.STDOUT)
        try:
            before = publish_generated(s, GeneratorConfig(seed=21, customers=200, days=10))
            _wait_for(lambda: sink_lag(s) == 0, 60, "the first wave to land")

            server.stop(timeout=10)  # ClickHouse goes away mid-stream
            during = publish_generated(s, GeneratorConfig(seed=22, customers=1200, days=10))
            assert during.total_records > 4 * batch_rows
            _wait_for(lambda: scrape(s).get("hub_sink_retries_total", 0) >= 3, 30, "insert retries")
            buffered = []
            for _ in range(8):  # the sink waits: no more records taken in, nothing committed
                buffered.append(scrape(s)["hub_sink_buffered_rows"])
                time.sleep(0.25)
            assert 0 < max(buffered) < 2 * batch_rows, buffered
            assert scrape(s)["hub_sink_clickhouse_up"] == 0
            assert sink_lag(s) >= during.total_records - 2 * batch_rows

            server.start()
            _wait_for(lambda: sink_lag(s) == 0, 90, "the backlog to land after the restart")
            after = publish_generated(s, GeneratorConfig(seed=23, customers=150, days=10))
            _wait_for(lambda: sink_lag(s) == 0, 60, "the last wave to land")
            assert scrape(s)["hub_sink_clickhouse_up"] == 1
        finally:
            sink.send_signal(signal.SIGTERM)
            code = sink.wait(timeout=30)
            log.close()
        assert code == 0, (tmp_path / "sink.log").read_text()[-3000:]
        assert _landed(s) == _expected(before, during, after)
