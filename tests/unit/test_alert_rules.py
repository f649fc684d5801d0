"""docker/prometheus/rules: complete and consistent with the SLA rules and the exported series.

promtool and the real Prometheus check them in tests/integration/test_alert_rules_prometheus.py.
"""

from __future__ import annotations

import yaml
from support.dashboard_queries import (
    RULES,
    hub_names,
    known_metrics,
    recorded_names,
    rule_groups,
    rule_test_files,
)

from streams.ops.stack.prometheus import local_config
from streams.settings import REPO_ROOT, Settings

SEVERITIES = {"page", "ticket"}


def _alerts() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


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
