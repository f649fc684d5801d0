"""docker/grafana: provisioned dashboards, well formed, reading only series that exist.

Grafana cannot run here; its provisioning files are checked for shape here, and every
panel's PromQL runs against the local stack's Prometheus in
tests/integration/test_dashboards_prometheus.py.
"""

from __future__ import annotations

import yaml
from support.dashboard_queries import (
    DASHBOARDS,
    DOCKER,
    dashboards,
    hub_names,
    known_metrics,
    panel_queries,
    panels,
    recorded_names,
)

GRAFANA = DOCKER / "grafana"
CONTAINER_PATH = "/var/lib/grafana/dashboards"
EXPECTED = {"overview", "service-levels", "risk", "sink-health"}
PANEL_TYPES = {"row", "timeseries", "stat", "bargauge", "gauge", "table"}


def _datasource_uids() -> set[str]:
    path = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
    return {ds["uid"] for ds in yaml.safe_load(path.read_text())["datasources"]}


def test_grafana_provisions_the_dashboards_folder() -> None:
    path = GRAFANA / "provisioning" / "dashboards" / "insurance-hub.yml"
    config = yaml.safe_load(path.read_text())
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == CONTAINER_PATH


def test_compose_mounts_provisioning_and_dashboards() -> None:
    grafana = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["grafana"]
    volumes = grafana["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert f"./grafana/dashboards:{CONTAINER_PATH}:ro" in volumes
    assert (DOCKER / "grafana" / "dashboards").resolve() == DASHBOARDS.resolve()


def test_the_four_dashboards_are_well_formed() -> None:
    boards = dashboards()
    assert set(boards) == EXPECTED
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids)
    datasources = _datasource_uids()
    for name, board in boards.items():
        assert board["title"] and board["schemaVersion"] == 39 and board["id"] is None, name
        assert len(board["uid"]) <= 40, name
        ids = [p["id"] for p in panels(board)]
        assert len(set(ids)) == len(ids), f"{name}: duplicate panel ids"
        cells: set[tuple[int, int]] = set()
        for panel in panels(board):
            where = f"{name}/{panel['title']}"
            assert panel["type"] in PANEL_TYPES, where
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, where
            mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                    for y in range(pos["y"], pos["y"] + pos["h"])}  # fmt: skip
            assert not cells & mine, f"{where} overlaps another panel"
            cells |= mine
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] in datasources, where
            assert panel["targets"], f"{where} has no query"
            refs = [t["refId"] for t in panel["targets"]]
            assert len(set(refs)) == len(refs), where
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
                assert target["expr"].strip(), where


def test_dashboards_read_only_series_that_exist() -> None:
    known = known_metrics() | recorded_names()
    for dashboard, title, expr in panel_queries():
        unknown = hub_names(expr) - known
        assert not unknown, f"{dashboard}/{title} reads {unknown}"


def test_every_dashboard_shows_the_alerting_side_too() -> None:
    """Service levels plots each SLA against its target; overview covers all three aspects."""
    exprs = {d: " ".join(e for dd, _, e in panel_queries() if dd == d) for d in EXPECTED}
    assert "hub:sla_attainment:ratio" in exprs["service-levels"]
    assert "hub:sla_target:ratio" in exprs["service-levels"]
    for series in ("hub_worker_events_consumed_total", "hub:consumer_lag:sum", "_bucket"):
        assert series in exprs["overview"]
    assert "hub_worker_anomalies_total" in exprs["risk"]
    assert "hub_sink_insert_duration_seconds_bucket" in exprs["sink-health"]
