"""Session fixtures: the real local stack, brought up once (or reused when healthy).

There is no skip: if a service cannot start, every test that needs it errors loudly.

The folder a test is in is its marker: tests/unit/ (no service: `pytest -m unit`),
tests/integration/ (one component against the live stack) and tests/e2e/ (the hub's
processes end to end). tests/unit/conftest.py refuses the stack fixtures below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient
from support.clickhouse import create_hub_topics, delete_hub_topics
from support.harness import SESSION_TAG

from streams.ops.stack.manager import Stack
from streams.ops.stack.process import StackError, running_pid, stop
from streams.settings import Settings

# This session's topics (support.harness.isolated): "t<tag>." prefixes, "hub-test-<tag>-" app ids.
TEST_TOPIC = re.compile(rf"^(t{SESSION_TAG}[0-9a-f]{{8}}\.|hub-test-{SESSION_TAG}[0-9a-f]{{8}}-)")

#: The folders of tests/, each the name of its marker (registered in pyproject.toml).
TIERS = ("unit", "integration", "e2e")
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder: tests/unit/... is `unit`, and so on."""
    for item in items:
        if item.path.is_relative_to(TESTS):
            tier = item.path.relative_to(TESTS).parts[0]
            if tier in TIERS:
                item.add_marker(getattr(pytest.mark, tier))


def _delete_test_topics(s: Settings) -> None:
    """This session's topics go at the end of it, so the broker does not fill up."""
    admin = KafkaAdminClient(bootstrap_servers=s.kafka.bootstrap)
    try:
        doomed = [t for t in admin.list_topics() if TEST_TOPIC.match(t)]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    s = Settings.from_env()
    stack = Stack(s)
    already = {svc.name for svc in stack.services if running_pid(svc.spec) is not None}
    try:
        rows = stack.up()
    except StackError as exc:
        pytest.fail(f"the local stack did not come up: {exc}", pytrace=False)
    bad = [r for r in rows if not r.ok]
    if bad:
        pytest.fail(f"unhealthy services: {bad}", pytrace=False)
    yield s
    _delete_test_topics(s)
    # Stop what this session started; a stack the developer had running stays up.
    for svc in reversed(stack.services):
        if svc.name not in already:
            stop(svc.spec)


@pytest.fixture
def topics() -> Iterator[Callable[[Settings], Settings]]:
    """Create a test's hub topics (under its unique prefix); delete them after the test."""
    made: list[Settings] = []

    def make(s: Settings) -> Settings:
        create_hub_topics(s)
        made.append(s)
        return s

    yield make
    for s in made:
        delete_hub_topics(s)
