"""Unit tests use no services: the stack's fixtures, and whatever starts a service or a hub
process, fail here instead of quietly bringing the stack up (tests/conftest.py would)."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest
from support.clickhouse import PrivateServer
from support.harness import HubProcess

from streams.ops.stack.manager import Stack


def _no_services(*_: Any, **__: Any) -> NoReturn:
    pytest.fail(
        "unit tests use no services: a test that needs the stack, a ClickHouse server or a hub "
        "process belongs in tests/integration/ or tests/e2e/",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def settings() -> NoReturn:
    """Overrides tests/conftest.py's, which brings the local stack up."""
    _no_services()


@pytest.fixture
def topics() -> NoReturn:
    _no_services()


@pytest.fixture(autouse=True)
def _services_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the stack, a private ClickHouse server or a hub process fails too."""
    monkeypatch.setattr(Stack, "up", _no_services)
    monkeypatch.setattr(PrivateServer, "start", _no_services)
    monkeypatch.setattr(HubProcess, "__init__", _no_services)
