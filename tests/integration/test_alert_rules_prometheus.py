"""docker/prometheus/rules: accepted and unit-tested by the real promtool, and evaluated
without error by the local stack's Prometheus."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from support.dashboard_queries import RULES, ensure_rules_loaded, rule_health, rule_test_files

from streams.ops.stack.packages import ensure_binary
from streams.ops.stack.process import StackError
from streams.settings import Settings


@pytest.fixture(scope="module")
def promtool() -> Path:
    """Debian's promtool (package prometheus, which the local stack installs too)."""
    try:
        return ensure_binary("promtool", "prometheus")
    except StackError as exc:
        pytest.fail(f"promtool is required to check the alert rules: {exc}", pytrace=False)


def _run(argv: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)


def test_promtool_check_rules(promtool: Path) -> None:
    files = sorted(RULES.glob("*.yml"))
    assert files
    result = _run([promtool, "check", "rules", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def test_promtool_test_rules(promtool: Path) -> None:
    files = rule_test_files()
    assert files
    result = _run([promtool, "test", "rules", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def test_the_real_prometheus_evaluates_every_rule(settings: Settings) -> None:
    url = settings.prometheus.url
    ensure_rules_loaded(url)
    deadline = time.monotonic() + 30  # rules are evaluated every 5 s
    health = rule_health(url)
    while "unknown" in health.values():
        assert time.monotonic() < deadline, f"rules not evaluated yet: {health}"
        time.sleep(1)
        health = rule_health(url)
    assert {name: h for name, h in health.items() if h != "ok"} == {}
