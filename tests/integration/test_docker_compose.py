"""docker/compose.yaml as Debian's docker-compose reads it (no engine needed to validate)."""

from __future__ import annotations

import shutil
import subprocess

from streams.settings import REPO_ROOT

DOCKER = REPO_ROOT / "docker"


def test_compose_validates_when_docker_compose_is_installed() -> None:
    """Debian's docker-compose 1.29 validates the file; the test installs it in CI."""
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose (Debian package) is required by this test; `make test` installs it"
    result = subprocess.run(
        [exe, "-f", str(DOCKER / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=DOCKER,
    )
    assert result.returncode == 0, result.stderr
