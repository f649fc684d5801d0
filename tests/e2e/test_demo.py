"""`hub demo`, the README's main command, end to end; then every dashboard panel has data.

The demo starts from a clean slate: it clears the default deployment's topics, worker state
and ClickHouse database (tests use their own prefixes and private servers for anything they
keep).
"""

from __future__ import annotations

import subprocess
import sys
import time

from support.dashboard_queries import ensure_rules_loaded, panel_queries, query

from streams.ops.stack.apps import APPS, app_spec
from streams.ops.stack.process import stop
from streams.settings import REPO_ROOT, Settings


def test_demo_lands_everything_reports_and_feeds_the_dashboards(settings: Settings) -> None:
    started = time.monotonic()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "streams.ops.cli",
                "demo",
                "--customers",
                "1500",
                "--days",
                "10",
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        report = result.stdout
        assert result.returncode == 0, f"demo failed:\n{report}\n{result.stderr[-4000:]}"
        assert "PROBLEMS" not in report
        for heading in (
            "customers profiled",
            "Events landed per domain",
            "SLA attainment",
            "Claim anomalies against what the generator injected",
            "Throughput and latency",
            "Where to look next",
        ):
            assert heading in report, heading
        # The injected high-frequency claimants and provider spikes are all found.
        for line in report.splitlines():
            if line.strip().startswith(("high-frequency claimants", "provider spikes")):
                assert "recall 100.0%" in line, line
        for rule in ("inquiry_first_response", "claim_acceptance", "renewal_reminder"):
            assert rule in report

        # The worker and sink still run: Prometheus scrapes them; every panel returns series.
        ensure_rules_loaded(settings.prometheus.url)
        empty: list[str] = []
        deadline = time.monotonic() + 60
        while True:
            empty = [
                f"{board} / {title}: {expr}"
                for board, title, expr in panel_queries()
                if not query(settings.prometheus.url, expr).get("data", {}).get("result")
            ]
            if not empty or time.monotonic() > deadline:
                break
            time.sleep(5)
        assert empty == [], "panels without data after the demo:\n" + "\n".join(empty)
    finally:
        for name in APPS:
            stop(app_spec(settings, name))
    print(f"demo test took {time.monotonic() - started:.0f}s")
