"""`hub clickhouse migrate|queries|query|lag` as a user runs them (subprocesses, shared stack)."""

from __future__ import annotations

import subprocess
import sys

from support.clickhouse import sink_env

from sinks.clickhouse.queries import load_queries
from streams.settings import Settings


def _hub(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sinks.cli", *args],
        env=sink_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_twice_then_every_documented_query_as_the_reader(settings: Settings) -> None:
    first = _hub(settings, "clickhouse", "migrate")
    assert first.returncode == 0, first.stderr
    again = _hub(settings, "clickhouse", "migrate")
    assert again.returncode == 0 and "(0 applied)" in again.stdout, again.stdout

    listing = _hub(settings, "clickhouse", "queries")
    assert [line.split()[0] for line in listing.stdout.splitlines()] == [
        q.name for q in load_queries()
    ]
    for q in load_queries():
        params = ["--param", "customer_id=C0000001"] if q.params else []
        run = _hub(settings, "clickhouse", "query", q.name, *params)
        assert run.returncode == 0, f"{q.name}: {run.stderr[-2000:]}"
        assert run.stdout.rstrip().endswith("rows)"), run.stdout


def test_query_refuses_a_missing_parameter_and_shows_sql(settings: Settings) -> None:
    missing = _hub(settings, "clickhouse", "query", "customer_360")
    assert missing.returncode == 2 and "customer_id" in missing.stdout
    shown = _hub(
        settings, "clickhouse", "query", "customer_360", "--sql", "--param", "customer_id=O'Brien"
    )
    assert shown.returncode == 0
    assert "customer_id = 'O\\'Brien'" in shown.stdout  # escaped, not injected


def test_lag_prints_a_count(settings: Settings) -> None:
    out = _hub(settings, "clickhouse", "lag")
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 0
