"""The worker's own topics, next to the hub's public ones (schemas/topics.py).

All co-partitioned with the inputs: ticks, claims forwarded to the provider agent, and the
changelog of each table in WORKER_TABLES, compacted, named and configured as Faust would
(``<app id>-<table>-changelog``: Faust puts no topic prefix in front); also Faust's
one-partition leader topic.
"""

from __future__ import annotations

from streams.ops.topics import TopicSpec, create_topics, ensure_topics
from streams.settings import Settings

#: The worker's Faust tables, each with its changelog topic.
WORKER_TABLES = ("customers", "clocks", "providers")


def tick_topic(settings: Settings) -> str:
    return f"{settings.kafka.topic_prefix}{settings.worker.app_id}-ticks"


def provider_topic(settings: Settings) -> str:
    return f"{settings.kafka.topic_prefix}{settings.worker.app_id}-provider-claims"


def ensure_worker_topics(settings: Settings) -> None:
    """The hub's topics plus every topic of the worker's own, before it joins its group.

    Faust would create what is missing itself, but on a fresh broker the group leader's
    metadata may then lack a changelog, and every write to its table raises
    PartitionsMismatch until a metadata refresh minutes later.
    """
    create_topics(settings)
    k = settings.kafka
    app_id = settings.worker.app_id
    own: list[tuple[str, int, dict[str, str]]] = [
        (tick_topic(settings), k.input_partitions, {}),
        (provider_topic(settings), k.input_partitions, {}),
        *(
            (f"{app_id}-{table}-changelog", k.input_partitions, {"cleanup.policy": "compact"})
            for table in WORKER_TABLES
        ),
        (f"{app_id}-__assignor-__leader", 1, {}),
    ]
    ensure_topics(
        settings,
        [TopicSpec(name, name, n, k.replication_factor, configs) for name, n, configs in own],
    )
