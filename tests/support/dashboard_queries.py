"""The PromQL of the Grafana dashboards and rules in docker/, and the real Prometheus to run it.

Grafana cannot run here, so tests run every panel query against the local stack's Prometheus
(2.42) instead: `panel_queries()` lists them with Grafana's variables replaced.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from streams.settings import REPO_ROOT

DOCKER = REPO_ROOT / "docker"
DASHBOARDS = DOCKER / "grafana" / "dashboards"
RULES = DOCKER / "prometheus" / "rules"
RULE_TESTS = DOCKER / "prometheus" / "tests"

# Grafana's built-in variables, as a query over the last hour at a 5 s scrape would see them.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$__range_s": "3600",
}


def dashboards() -> dict[str, dict[str, Any]]:
    """docker/grafana/dashboards/NAME.json by NAME."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' children (collapsed rows hold them) included."""
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def promql(expr: str) -> str:
    """A panel's expression with Grafana's variables replaced (longest names first)."""
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable in {expr!r}")
    return expr


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL ready for /api/v1/query) for every panel target."""
    return [
        (name, panel["title"], promql(target["expr"]))
        for name, board in dashboards().items()
        for panel in panels(board)
        for target in panel.get("targets", [])
    ]


def rule_groups() -> list[dict[str, Any]]:
    """The rule groups of docker/prometheus/rules/*.yml, each with its file name."""
    groups = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            groups.append({**group, "file": path.name})
    return groups


def recorded_names() -> set[str]:
    return {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}


def known_metrics() -> set[str]:
    """Series names the worker and the sink export (read from their registries)."""
    from sinks.clickhouse.metrics import SinkMetrics
    from streams.worker.metrics import WorkerMetrics

    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    names: set[str] = set()
    for registry in (WorkerMetrics().registry, SinkMetrics().registry):
        for family in registry.collect():
            for suffix in suffixes.get(family.type, [""]):
                names.add(family.name + suffix)
    return names


def hub_names(expr: str) -> set[str]:
    """The hub's metric and recorded series names an expression reads."""
    return set(re.findall(r"\bhub[_:][a-z0-9_:]*[a-z0-9_]", expr))


def query(prometheus_url: str, expr: str) -> dict[str, Any]:
    """/api/v1/query's answer, errors included (Prometheus answers 400 with a JSON body)."""
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return dict(json.load(resp))
    except urllib.error.HTTPError as exc:
        return dict(json.load(exc))


def ensure_rules_loaded(prometheus_url: str, timeout_s: float = 15.0) -> None:
    """Reload Prometheus if it does not run the rules of docker/prometheus/rules/ yet.

    A running local stack is reused by the tests: one started before a rule file was added or
    changed holds the old rules until its configuration is reloaded (--web.enable-lifecycle),
    so reload when the loaded rules differ or a rule file is newer than the last reload.
    """
    want = {(g["name"], r.get("record") or r["alert"]) for g in rule_groups() for r in g["rules"]}

    def loaded() -> set[tuple[str, str]]:
        with urllib.request.urlopen(f"{prometheus_url}/api/v1/rules", timeout=10) as resp:
            groups = json.load(resp)["data"]["groups"]
        return {(g["name"], r["name"]) for g in groups for r in g["rules"]}

    with urllib.request.urlopen(f"{prometheus_url}/api/v1/status/runtimeinfo", timeout=10) as r:
        last_config = json.load(r)["data"]["lastConfigTime"]  # RFC 3339, UTC
    changed = max(p.stat().st_mtime for p in RULES.glob("*.yml"))
    if loaded() == want and _epoch(last_config) >= changed:
        return
    request = urllib.request.Request(f"{prometheus_url}/-/reload", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    deadline = time.monotonic() + timeout_s
    while (have := loaded()) != want:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"Prometheus at {prometheus_url} does not run docker/prometheus/rules after a "
                f"reload: missing {sorted(want - have)}, unexpected {sorted(have - want)}"
            )
        time.sleep(0.5)


def _epoch(rfc3339: str) -> float:
    """Prometheus's timestamps (nanoseconds, "Z") as seconds since the epoch."""
    day, _, clock = rfc3339.rstrip("Z").partition("T")
    whole, _, fraction = clock.partition(".")
    seconds = datetime.fromisoformat(f"{day}T{whole}+00:00").timestamp()
    return seconds + float(f"0.{fraction or 0}")


def rule_health(prometheus_url: str) -> dict[str, str]:
    """Each loaded rule ("group/name#index") to its health: ok, unknown (not evaluated yet)
    or err with the evaluation error."""
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/rules", timeout=10) as resp:
        groups = json.load(resp)["data"]["groups"]
    health = {}
    for g in groups:
        for i, r in enumerate(g["rules"]):
            error = r.get("lastError")
            health[f"{g['name']}/{r['name']}#{i}"] = (
                f"{r['health']}: {error}" if error else r["health"]
            )
    return health


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS.glob("*.yml"))
