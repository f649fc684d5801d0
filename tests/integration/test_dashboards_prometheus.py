"""docker/grafana: every panel's PromQL (Grafana's variables replaced) runs on the local stack's
Prometheus (Grafana cannot run here)."""

from __future__ import annotations

import pytest
from support.dashboard_queries import ensure_rules_loaded, panel_queries, query

from streams.settings import Settings


@pytest.fixture(scope="module")
def prometheus(settings: Settings) -> str:
    ensure_rules_loaded(settings.prometheus.url)  # the recorded series the panels read
    return settings.prometheus.url


@pytest.mark.parametrize(
    "dashboard,title,expr",
    panel_queries(),
    ids=[f"{d}/{t}#{i}" for i, (d, t, _) in enumerate(panel_queries())],
)
def test_every_panel_query_runs_on_the_real_prometheus(
    prometheus: str, dashboard: str, title: str, expr: str
) -> None:
    answer = query(prometheus, expr)
    assert answer["status"] == "success", f"{dashboard}/{title}: {expr}\n{answer}"
