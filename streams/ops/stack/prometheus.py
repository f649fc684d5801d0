"""Prometheus from Debian's package, run with docker/prometheus/ (targets moved to loopback)."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import yaml

from streams.ops.stack.packages import ensure_binary
from streams.ops.stack.process import ProcessSpec
from streams.settings import REPO_ROOT, Settings

SHARED_DIR = REPO_ROOT / "docker" / "prometheus"


def local_config(settings: Settings) -> dict[str, Any]:
    """docker/prometheus/prometheus.yml with loopback targets and absolute rule paths."""
    config: dict[str, Any] = yaml.safe_load((SHARED_DIR / "prometheus.yml").read_text())
    p = settings.prometheus
    targets = {
        "prometheus": p.port,
        "insurance-hub-worker": p.worker_metrics_port,
        "insurance-hub-sink": p.sink_metrics_port,
    }
    for job in config.get("scrape_configs", []):
        port = targets.get(job["job_name"])
        if port is None:
            raise ValueError(f"no local port for scrape job {job['job_name']!r}")
        job["static_configs"] = [{"targets": [f"{p.host}:{port}"]}]
    config["rule_files"] = [str(SHARED_DIR / r) for r in config.get("rule_files", [])]
    return config


class PrometheusService:
    name = "prometheus"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = settings.prometheus
        self.home = settings.state_dir / "prometheus"
        self.config_file = self.home / "prometheus.yml"
        self.binary: Path = Path("/usr/bin/prometheus")
        self.spec = self._spec()

    def _spec(self) -> ProcessSpec:
        return ProcessSpec(
            name=self.name,
            argv=[
                str(self.binary),
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.home / 'data'}",
                "--storage.tsdb.retention.time=15d",
                f"--web.listen-address={self.cfg.host}:{self.cfg.port}",
                "--web.enable-lifecycle",
            ],
            pid_file=self.settings.state_dir / "run" / "prometheus.pid",
            log_file=self.settings.state_dir / "logs" / "prometheus.log",
            marker=str(self.config_file),
        )

    @property
    def ports(self) -> list[int]:
        return [self.cfg.port]

    @property
    def address(self) -> str:
        return self.cfg.url

    def prepare(self) -> None:
        self.binary = ensure_binary("prometheus", "prometheus")
        self.spec = self._spec()
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(local_config(self.settings), sort_keys=False))

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.cfg.url}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)

    def reload(self) -> None:
        """A running Prometheus picks up changed rule files (same as `kill -HUP`)."""
        self.prepare()
        req = urllib.request.Request(f"{self.cfg.url}/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass
