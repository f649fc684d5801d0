"""Provisioning of the hub's topics (``hub topics create``), as schemas/topics.py declares them.

The four input topics must be co-partitioned (same partition count): the per-customer join
reads partition N of each, and only works if a customer's records land on partition N
everywhere; this refuses existing topics that are not.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kafka import TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, OffsetSpec
from kafka.errors import KafkaError

from schemas.topics import BY_LOGICAL, DEAD_LETTER_TOPIC, PROFILE_TOPIC, TOPICS, topic_names
from streams.kafka_admin import admin_client
from streams.settings import Settings
from streams.units import DAY_MS

DEFAULT_RETENTION_MS = 7 * DAY_MS
_TOPIC_ALREADY_EXISTS = 36

T = TypeVar("T")


def _admin(settings: Settings) -> AbstractContextManager[KafkaAdminClient]:
    return admin_client(settings.kafka.bootstrap, "hub-topics", request_timeout_ms=30000)


class TopicConfigError(RuntimeError):
    """Existing topics contradict what the hub needs (partition counts, compaction)."""


@dataclass(frozen=True)
class TopicSpec:
    """How one topic is created."""

    logical: str
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


def topic_specs(
    settings: Settings,
    *,
    retention_ms: int = DEFAULT_RETENTION_MS,
    dead_letter_retention_ms: int | None = None,
    output_partitions: int | None = None,
) -> list[TopicSpec]:
    """Partitions, replication and configs of every hub topic, from the registry.

    Inputs (and co-partitioned outputs) get ``settings.kafka.input_partitions``; the other
    outputs the same unless ``output_partitions`` says otherwise. A compacted topic keeps the
    latest record per key forever; the others are deleted after their retention. Input
    records carry the broker's append time: the "now" an event's occurred_at is checked
    against (streams/ingest.py), whatever the source's clock.
    """
    k = settings.kafka
    out_parts = output_partitions if output_partitions is not None else k.input_partitions
    specs = []
    for t in TOPICS:
        configs: dict[str, str] = {"cleanup.policy": t.cleanup}
        if t.cleanup == "delete":
            if t.retention_days is None:
                ms = retention_ms
            elif dead_letter_retention_ms is not None:
                ms = dead_letter_retention_ms
            else:
                ms = int(t.retention_days * DAY_MS)
            configs["retention.ms"] = str(ms)
        if t.is_input:
            configs["message.timestamp.type"] = "LogAppendTime"
        parts = k.input_partitions if t.copartitioned else out_parts
        specs.append(TopicSpec(t.logical, t.name(settings), parts, k.replication_factor, configs))
    return specs


def check_copartitioning(existing: Mapping[str, int], expected: int) -> None:
    """Refuse existing input topics whose partition counts differ from each other or config.

    ``existing`` maps Kafka names of the input topics that exist to their partition count.
    """
    if not existing:
        return
    counts = set(existing.values())
    listing = ", ".join(f"{name}={n}" for name, n in sorted(existing.items()))
    if len(counts) > 1:
        raise TopicConfigError(
            f"input topics are not co-partitioned: {listing}. The per-customer join needs "
            "the same partition count on every input topic; recreate the odd ones (or add "
            "partitions to match) before starting the hub."
        )
    (count,) = counts
    if count != expected:
        raise TopicConfigError(
            f"existing input topics have {count} partitions ({listing}) but "
            f"HUB_INPUT_PARTITIONS is {expected}: new input topics would not be "
            f"co-partitioned with them. Set HUB_INPUT_PARTITIONS={count} or recreate the topics."
        )


def _retrying(action: Callable[[], T], attempts: int = 5, delay_s: float = 2.0) -> T:
    """Run an idempotent admin action, retrying while the broker restarts."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except KafkaError:
            if attempt == attempts:
                raise
            time.sleep(delay_s)
    raise AssertionError("unreachable")


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    present = set(admin.list_topics())
    wanted = [n for n in names if n in present]
    if not wanted:
        return {}
    return {
        t["name"]: len(t["partitions"])
        for t in admin.describe_topics(wanted)
        if t.get("error_code", 0) == 0
    }


def describe_topics(settings: Settings) -> dict[str, int]:
    """Partition count of every hub topic that exists, by Kafka name."""

    def run() -> dict[str, int]:
        with _admin(settings) as admin:
            return _partition_counts(admin, list(topic_names(settings).values()))

    return _retrying(run)


def _cleanup_policy(admin: KafkaAdminClient, name: str) -> str:
    resource = ConfigResource(ConfigResourceType.TOPIC, name, ["cleanup.policy"])
    result: Any = admin.describe_configs([resource], config_filter="all")
    entry = result.get("topic", {}).get(name, {}).get("cleanup.policy")
    if isinstance(entry, dict):
        return str(entry.get("value", ""))
    return str(entry or "")


def create_topics(
    settings: Settings,
    *,
    retention_ms: int = DEFAULT_RETENTION_MS,
    dead_letter_retention_ms: int | None = None,
    output_partitions: int | None = None,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create every missing hub topic; return the Kafka names it created (idempotent).

    Raises TopicConfigError, before creating anything, when existing input topics are not
    co-partitioned with each other or with the configured count, or when an existing profile
    topic is not compacted.
    """
    specs = topic_specs(
        settings,
        retention_ms=retention_ms,
        dead_letter_retention_ms=dead_letter_retention_ms,
        output_partitions=output_partitions,
    )

    def run() -> list[str]:
        with _admin(settings) as admin:
            existing = _partition_counts(admin, [s.name for s in specs])
            check_copartitioning(
                {
                    s.name: existing[s.name]
                    for s in specs
                    if BY_LOGICAL[s.logical].is_input and s.name in existing
                },
                settings.kafka.input_partitions,
            )
            profile = PROFILE_TOPIC.name(settings)
            if profile in existing:
                policy = _cleanup_policy(admin, profile)
                if "compact" not in policy:
                    raise TopicConfigError(
                        f"{profile} exists with cleanup.policy={policy or '?'}; the profile "
                        "topic must be compacted (cleanup.policy=compact)."
                    )
            return _create_missing(admin, [s for s in specs if s.name not in existing], timeout_s)

    return _retrying(run)


def ensure_topics(
    settings: Settings, specs: Sequence[TopicSpec], *, timeout_s: float = 30.0
) -> list[str]:
    """Create those of ``specs`` that do not exist (any topics, not only the hub's public
    ones); return the names created. Existing topics are left as they are (idempotent)."""

    def run() -> list[str]:
        with _admin(settings) as admin:
            present = set(admin.list_topics())
            return _create_missing(admin, [s for s in specs if s.name not in present], timeout_s)

    return _retrying(run)


def _create_missing(
    admin: KafkaAdminClient, missing: Sequence[TopicSpec], timeout_s: float
) -> list[str]:
    """Create ``missing`` and wait until every partition of them serves requests."""
    if not missing:
        return []
    response = admin.create_topics(
        {
            s.name: {
                "num_partitions": s.partitions,
                "replication_factor": s.replication_factor,
                "configs": dict(s.configs),
            }
            for s in missing
        },
        timeout_ms=int(timeout_s * 1000),
        raise_errors=False,
    )
    created = []
    for result in response.get("topics", []):
        code = result.get("error_code", 0)
        if code == 0:
            created.append(result["name"])
        elif code != _TOPIC_ALREADY_EXISTS:  # lost a race with another creator: fine
            raise TopicConfigError(
                f"creating {result['name']} failed: error {code} "
                f"{result.get('error_message') or ''}".rstrip()
            )
    admin.wait_for_topics([s.name for s in missing], timeout_ms=int(timeout_s * 1000))
    # Metadata can show a leader before the partition serves requests (producers then
    # log NotLeaderForPartition retries): ListOffsets retries until every one does.
    admin.list_partition_offsets(
        {
            TopicPartition(s.name, p): OffsetSpec.LATEST
            for s in missing
            for p in range(s.partitions)
        },
        timeout_ms=int(timeout_s * 1000),
    )
    return sorted(created)


# -- CLI --------------------------------------------------------------------------------


def delete_prefixed_topics(settings: Settings) -> list[str]:
    """Delete every topic under the settings' prefix (tests and benchmarks clean up with it).

    Refuses an empty prefix: that would be every topic on the broker.
    """
    prefix = settings.kafka.topic_prefix
    if not prefix:
        raise ValueError("refusing to delete topics without a prefix")
    with _admin(settings) as admin:
        mine = sorted(t for t in admin.list_topics() if t.startswith(prefix))
        if mine:
            admin.delete_topics(mine)
        return mine


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``hub topics create`` and ``hub topics list``."""
    p = sub.add_parser("topics", help="create or list the hub's Kafka topics")
    actions = p.add_subparsers(dest="topics_action", required=True)
    create = actions.add_parser(
        "create", help="create every missing topic (idempotent); checks co-partitioning"
    )
    create.add_argument(
        "--retention-days",
        type=float,
        default=DEFAULT_RETENTION_MS / DAY_MS,
        help="retention of input and output topics (default %(default)s)",
    )
    create.add_argument(
        "--dead-letter-retention-days",
        type=float,
        default=DEAD_LETTER_TOPIC.retention_days,
        help="retention of the dead-letter topic (default %(default)s)",
    )
    create.add_argument(
        "--output-partitions",
        type=int,
        default=None,
        help="partitions of output topics (default: HUB_INPUT_PARTITIONS)",
    )
    actions.add_parser("list", help="print each hub topic with its partition count")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.topics_action == "list":
        counts = describe_topics(settings)
        for name in topic_names(settings).values():
            parts = counts.get(name)
            print(f"{name}\t{parts if parts is not None else 'missing'}")
        return 0 if len(counts) == len(TOPICS) else 1
    try:
        created = create_topics(
            settings,
            retention_ms=int(args.retention_days * DAY_MS),
            dead_letter_retention_ms=int(args.dead_letter_retention_days * DAY_MS),
            output_partitions=args.output_partitions,
        )
    except TopicConfigError as exc:
        print(f"error: {exc}")
        return 2
    for name in created:
        print(f"created {name}")
    print(f"{len(TOPICS) - len(created)} topics already existed, {len(created)} created")
    return 0
