"""Every hub topic, declared once: its name, direction, key, cleanup and ClickHouse table.

The worker's outputs, topic creation, the sink's routes, the CLI's short names, the demo and
the tests all derive from :data:`TOPICS`; nothing else spells a topic name. Logical names
(``insurance.claims.v1``) are public contract; a deployment may put a prefix in front of
them (``HUB_TOPIC_PREFIX``), and :meth:`Topic.name` is the only place that does.

Adding an output topic with its own table: a schema (``schemas/<name>.avsc``), an entry
here, a migration creating the table, and its columns in ``sinks/clickhouse/columns.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Direction = Literal["input", "output"]
Cleanup = Literal["delete", "compact"]


class _Kafka(Protocol):
    @property
    def topic_prefix(self) -> str: ...


class Deployment(Protocol):
    """Anything with ``.kafka.topic_prefix`` (the hub's Settings), so callers pass either."""

    @property
    def kafka(self) -> _Kafka: ...


Prefix = str | Deployment


def prefix_of(prefix: Prefix) -> str:
    return prefix if isinstance(prefix, str) else prefix.kafka.topic_prefix


@dataclass(frozen=True)
class Topic:
    """One topic of the hub's contract."""

    logical: str  # the contract name; its Avro schema is schemas/<logical>.avsc
    alias: str  # short name for the command line (``hub tail claims``)
    direction: Direction
    key: str  # the record field that is the Kafka key (same field, same partition)
    table: str  # the ClickHouse table it lands in
    cleanup: Cleanup = "delete"
    #: Kept longer than the default retention (audit evidence), in days; None: the default.
    retention_days: float | None = None
    #: Source-system domain of an input topic (its events' ``domain``); None for outputs.
    domain: str | None = None
    #: Partitioned like the inputs whatever ``--output-partitions`` says (read or written by
    #: the worker per input partition).
    copartitioned: bool = False
    aliases: tuple[str, ...] = ()  # further short names

    def name(self, prefix: Prefix = "") -> str:
        """The Kafka topic name under a deployment prefix."""
        return prefix_of(prefix) + self.logical

    @property
    def is_input(self) -> bool:
        return self.direction == "input"


def _input(domain: str) -> Topic:
    """Source-system topics: keyed by customer_id and co-partitioned (the per-customer join
    reads partition N of each), stamped with the broker's append time (streams/ingest.py)."""
    return Topic(
        f"insurance.{domain}.v1",
        domain,
        "input",
        "customer_id",
        "events",
        domain=domain,
        copartitioned=True,
    )


SALES_TOPIC = _input("sales")
UNDERWRITING_TOPIC = _input("underwriting")
CLAIMS_TOPIC = _input("claims")
SERVICING_TOPIC = _input("servicing")
PROFILE_TOPIC = Topic(
    "insurance.customer-profile.v1",
    "customer-profile",
    "output",
    "customer_id",
    "customer_profile",
    cleanup="compact",  # the latest profile per customer, kept forever
    aliases=("profile",),
)
BREACH_TOPIC = Topic("insurance.sla-breach.v1", "sla-breach", "output", "customer_id", "sla_breach")
OUTCOME_TOPIC = Topic(
    "insurance.sla-outcome.v1", "sla-outcome", "output", "customer_id", "sla_outcome"
)
ANOMALY_TOPIC = Topic(
    "insurance.claim-anomaly.v1", "claim-anomaly", "output", "subject_id", "claim_anomaly"
)
DEAD_LETTER_TOPIC = Topic(
    "insurance.dead-letter.v1",
    "dead-letter",
    "output",
    "key",  # the refused record's own key
    "dead_letter",
    retention_days=30,  # evidence of what the hub refused: kept longer
)

TOPICS: tuple[Topic, ...] = (
    SALES_TOPIC,
    UNDERWRITING_TOPIC,
    CLAIMS_TOPIC,
    SERVICING_TOPIC,
    PROFILE_TOPIC,
    BREACH_TOPIC,
    OUTCOME_TOPIC,
    ANOMALY_TOPIC,
    DEAD_LETTER_TOPIC,
)
INPUTS: tuple[Topic, ...] = tuple(t for t in TOPICS if t.is_input)
OUTPUTS: tuple[Topic, ...] = tuple(t for t in TOPICS if not t.is_input)
BY_LOGICAL: dict[str, Topic] = {t.logical: t for t in TOPICS}
BY_DOMAIN: dict[str, Topic] = {t.domain: t for t in INPUTS if t.domain}
DOMAINS: tuple[str, ...] = tuple(BY_DOMAIN)
#: Short names accepted on the command line, each mapped to its topic.
ALIASES: dict[str, Topic] = {a: t for t in TOPICS for a in (t.alias, *t.aliases)}


def topic(logical: str) -> Topic:
    """The topic of a logical name (KeyError naming the known ones)."""
    try:
        return BY_LOGICAL[logical]
    except KeyError:
        raise KeyError(f"unknown topic {logical!r} (known: {', '.join(BY_LOGICAL)})") from None


def topic_name(logical: str, prefix: Prefix = "") -> str:
    """The Kafka topic name of a logical topic under a deployment prefix."""
    return topic(logical).name(prefix)


def topic_names(prefix: Prefix = "") -> dict[str, str]:
    """Every logical topic mapped to its Kafka topic name."""
    return {t.logical: t.name(prefix) for t in TOPICS}


def of_name(physical: str, prefix: Prefix = "") -> Topic:
    """The topic of a Kafka topic name (KeyError when it is not a hub topic)."""
    prefix = prefix_of(prefix)
    if physical.startswith(prefix) and physical[len(prefix) :] in BY_LOGICAL:
        return BY_LOGICAL[physical[len(prefix) :]]
    raise KeyError(f"{physical!r} is not a hub topic under prefix {prefix!r}")


def logical_name(physical: str, prefix: Prefix = "") -> str:
    """The logical topic of a Kafka topic name (KeyError when it is not a hub topic)."""
    return of_name(physical, prefix).logical


def resolve_topic(name: str, prefix: Prefix = "") -> tuple[str, str]:
    """(logical, physical) for a logical name, an alias (``claims``) or a Kafka name."""
    found = ALIASES.get(name) or BY_LOGICAL.get(name) or of_name(name, prefix)
    return found.logical, found.name(prefix)
