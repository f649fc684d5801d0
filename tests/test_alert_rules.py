"""docker/prometheus/rules: accepted and unit-tested by the real promtool, complete, consistent."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml
from dashboard_queries import (
    RULES,
    ensure_rules_loaded,
    hub_names,
    known_metrics,
    recorded_names,
    rule_groups,
    rule_health,
    rule_test_files,
)

from streams.ops.stack.packages import ensure_binary
from streams.ops.stack.process import StackError
from streams.ops.stack.prometheus import local_config
from streams.settings import REPO_ROOT, Settings

SEVERITIES = {"page", "ticket"}


@pytest.fixture(scope="module")
def promtool() -> Path:
    """Debian's promtool (package prometheus, which the local stack installs too)."""
    try:
        return ensure_binary("promtool", "prometheus")
    except StackError as exc:
        pytest.fail(f"promtool is required to check the alert rules: {exc}", pytrace=False)


def _run(argv: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)


def _alerts() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


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


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_does_not() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in rule_test_files():
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {a["alert"] for a in _alerts()}
    assert names - fires == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"


def test_every_alert_waits_has_a_severity_and_a_runbook() -> None:
    alerts = _alerts()
    assert {a["alert"] for a in alerts} >= {
        "HubServiceDown",
        "HubSlaAttainmentBelowTarget",
        "HubSlaBreachSurge",
        "HubAnomalySurge",
        "HubDeadLetterRateHigh",
        "HubConsumerLagHigh",
        "HubSinkFailing",
    }
    for alert in alerts:
        name = alert["alert"]
        assert alert.get("for") not in (None, "0s", "0m"), f"{name} has no `for:`"
        assert alert["labels"]["severity"] in SEVERITIES, name
        annotations = alert["annotations"]
        assert annotations.get("summary"), name
        assert "Runbook:" in annotations.get("description", ""), name


def test_sla_targets_are_those_of_the_sla_rules() -> None:
    recorded = {
        r["labels"]["rule"]: float(r["expr"].removeprefix("vector(").removesuffix(")"))
        for g in rule_groups()
        for r in g["rules"]
        if r.get("record") == "hub:sla_target:ratio"
    }
    rules_file = REPO_ROOT / "streams" / "domain" / "sla" / "rules.yml"
    sla = yaml.safe_load(rules_file.read_text())["rules"]
    assert recorded == {name: float(rule["target"]) for name, rule in sla.items()}
    # DOMAIN.md: first response for at least 90 % of inquiries, acceptance for 85 % of claims.
    assert recorded["inquiry_first_response"] == 0.90
    assert recorded["claim_acceptance"] == 0.85


def test_rules_read_only_series_that_exist() -> None:
    known = known_metrics() | recorded_names()
    for group in rule_groups():
        for rule in group["rules"]:
            unknown = hub_names(rule["expr"]) - known
            assert not unknown, f"{rule.get('record') or rule['alert']} reads {unknown}"


def test_the_local_stack_and_docker_load_the_same_rule_files() -> None:
    config = local_config(Settings.from_env())
    assert config["rule_files"] == [str(RULES / "*.yml")]


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
