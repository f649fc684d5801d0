"""docker/ cannot run here (no engine); check what can be checked without one.

Debian's docker-compose validates the compose file in tests/integration/test_docker_compose.py.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from streams.settings import REPO_ROOT

DOCKER = REPO_ROOT / "docker"


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_every_image_is_pinned() -> None:
    services = _compose()["services"]
    built = {svc["image"] for svc in services.values() if "build" in svc}
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        if image in built:
            continue  # the hub's own image, built from docker/Dockerfile
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and any(ch.isdigit() for ch in tag), name


def test_every_mounted_file_exists_and_is_the_local_stacks() -> None:
    mounted: set[Path] = set()
    for svc in _compose()["services"].values():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                path = (DOCKER / source).resolve()
                assert path.exists(), f"{source} is mounted but missing"
                mounted.add(path)
    # The local stack reads the same files (no copies).
    for shared in (
        DOCKER / "kafka" / "server.properties",
        DOCKER / "clickhouse" / "users.xml",
        DOCKER / "clickhouse" / "server.xml",
        DOCKER / "prometheus" / "prometheus.yml",
        DOCKER / "prometheus" / "rules",
    ):
        assert shared.resolve() in mounted


def test_dockerfile_and_build_context() -> None:
    compose = _compose()
    build = compose["services"]["worker"]["build"]
    context = (DOCKER / build["context"]).resolve()
    assert (context / build["dockerfile"]).is_file()
    for line in (context / build["dockerfile"]).read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (context / src).exists(), src
