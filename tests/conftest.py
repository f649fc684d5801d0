"""Session fixtures: the real local stack, brought up once (or reused when healthy).

There is no skip: if a service cannot start, every test that needs it errors loudly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.settings import Settings
from streams.stack.manager import Stack
from streams.stack.process import StackError, running_pid, stop


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
    # Stop what this session started; a stack the developer had running stays up.
    for svc in reversed(stack.services):
        if svc.name not in already:
            stop(svc.spec)
