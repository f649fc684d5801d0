"""Debian packages the local stack runs: found on PATH, or installed with apt-get as root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from streams.ops.stack.process import StackError


def ensure_binary(binary: str, package: str, extra_dirs: tuple[str, ...] = ("/usr/sbin",)) -> Path:
    found = _find(binary, extra_dirs)
    if found:
        return found
    if os.geteuid() != 0:
        raise StackError(
            f"{binary} is not installed. Install Debian's package first:\n"
            f"    sudo apt-get update && sudo apt-get install -y {package}"
        )
    print(f"installing Debian package {package} (apt-get) ...", file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(
                f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
    found = _find(binary, extra_dirs)
    if not found:
        raise StackError(f"apt-get installed {package} but {binary} is still not on PATH")
    return found


def _find(binary: str, extra_dirs: tuple[str, ...]) -> Path | None:
    path = shutil.which(binary)
    if path:
        return Path(path)
    for d in extra_dirs:
        candidate = Path(d) / binary
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None
