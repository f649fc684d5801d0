"""Topic names: the prefix and the aliases (tests/integration/test_topics.py creates them)."""

from __future__ import annotations

import pytest

from schemas import ALL_TOPICS, CLAIMS, CUSTOMER_PROFILE, INPUT_TOPICS, SALES
from schemas.topics import logical_name, resolve_topic, topic_name


def test_names_prefix_and_aliases() -> None:
    assert topic_name(CLAIMS, "dev.") == "dev.insurance.claims.v1"
    assert logical_name("dev.insurance.claims.v1", "dev.") == CLAIMS
    assert resolve_topic("claims", "dev.") == (CLAIMS, "dev.insurance.claims.v1")
    assert resolve_topic("dev.insurance.sales.v1", "dev.") == (SALES, "dev.insurance.sales.v1")
    assert resolve_topic(CUSTOMER_PROFILE, "") == (CUSTOMER_PROFILE, CUSTOMER_PROFILE)
    with pytest.raises(KeyError):
        resolve_topic("insurance.pets.v1", "")
    with pytest.raises(KeyError):
        topic_name("insurance.pets.v1")
    assert set(INPUT_TOPICS) < set(ALL_TOPICS)
