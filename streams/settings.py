"""One typed settings object, read from ``HUB_*`` environment variables.

Every default works on a developer machine: services on loopback, state under ``.hub/``
in the working directory. Docker hosts override the addresses through the same variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The rules files shipped in the package: the defaults of :class:`RulesSettings`.
SLA_RULES_FILE = Path(__file__).resolve().parent / "domain" / "sla" / "rules.yml"
ANOMALY_RULES_FILE = Path(__file__).resolve().parent / "domain" / "anomaly" / "rules.yml"


def _env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return default if raw is None or raw == "" else Path(raw)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class KafkaSettings:
    host: str = "127.0.0.1"
    port: int = 19092
    controller_port: int = 19093
    version: str = "4.4.0"
    heap: str = "768m"
    topic_prefix: str = ""
    input_partitions: int = 6
    replication_factor: int = 1

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ClickHouseSettings:
    host: str = "127.0.0.1"
    port: int = 19000
    http_port: int = 18123
    database: str = "insurance_hub"
    writer_user: str = "hub_writer"
    writer_password: str = "hub-writer-local"
    reader_user: str = "hub_reader"
    reader_password: str = "hub-reader-local"


@dataclass(frozen=True)
class PrometheusSettings:
    host: str = "127.0.0.1"
    port: int = 19090
    metrics_host: str = "127.0.0.1"  # where worker and sink serve /metrics; 0.0.0.0 in containers
    worker_metrics_port: int = 19100
    sink_metrics_port: int = 19101

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class WorkerSettings:
    app_id: str = "insurance-hub-worker"
    worker_id: str = "w1"  # names this process's RocksDB directory; unique per machine
    tick_interval_s: float = 1.0
    # Kafka Streams' default too: fewer, larger produce requests for ~60 ms more latency.
    producer_linger_ms: int = 100
    # Customer states kept as objects between events (least recently used leave first):
    # what bounds the worker's memory, RocksDB holds the rest.
    state_cache_customers: int = 20_000
    # Changed customers' profiles leave together at most this long after the change.
    profile_flush_s: float = 0.25
    # How long the broker waits for a silent worker before giving its partitions to the
    # others, and what a worker restarted after a crash waits to rejoin (Kafka Streams'
    # long-time default; Faust's 60 s made a restart wait a minute). Heartbeats every third.
    session_timeout_s: float = 10.0


@dataclass(frozen=True)
class SinkSettings:
    group_id: str = "insurance-hub-sink"
    # Catching up, ClickHouse spends ~2.5x less CPU per row on 20,000-row INSERTs than on
    # 5,000 (fewer parts to write and merge); at live rates the 1 s timer closes batches.
    batch_max_rows: int = 20_000
    batch_max_seconds: float = 1.0
    retry_max_seconds: float = 30.0  # backoff ceiling while ClickHouse is unreachable


@dataclass(frozen=True)
class RulesSettings:
    """The YAML files of the business rules (streams/domain/)."""

    sla: Path = SLA_RULES_FILE  # SLA rules, lateness and calendar
    anomaly: Path = ANOMALY_RULES_FILE  # claim-anomaly thresholds


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(default_factory=lambda: Path(".hub").resolve())
    cache_dir: Path = field(default_factory=lambda: Path("~/.cache/insurance-hub").expanduser())
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = field(default_factory=ClickHouseSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    sink: SinkSettings = field(default_factory=SinkSettings)
    rules: RulesSettings = field(default_factory=RulesSettings)
    # HMAC key for hashing personal data (person_key, masked PII); set a secret in production.
    pii_key: str = "insurance-hub-local-pii-key"

    @classmethod
    def from_env(cls) -> Settings:
        k, c, p = KafkaSettings(), ClickHouseSettings(), PrometheusSettings()
        w, sk, r = WorkerSettings(), SinkSettings(), RulesSettings()
        return cls(
            state_dir=Path(_env_str("HUB_STATE_DIR", ".hub")).resolve(),
            cache_dir=Path(_env_str("HUB_CACHE_DIR", "~/.cache/insurance-hub")).expanduser(),
            kafka=KafkaSettings(
                host=_env_str("HUB_KAFKA_HOST", k.host),
                port=_env_int("HUB_KAFKA_PORT", k.port),
                controller_port=_env_int("HUB_KAFKA_CONTROLLER_PORT", k.controller_port),
                version=_env_str("HUB_KAFKA_VERSION", k.version),
                heap=_env_str("HUB_KAFKA_HEAP", k.heap),
                topic_prefix=_env_str("HUB_TOPIC_PREFIX", k.topic_prefix),
                input_partitions=_env_int("HUB_INPUT_PARTITIONS", k.input_partitions),
                replication_factor=_env_int("HUB_REPLICATION_FACTOR", k.replication_factor),
            ),
            clickhouse=ClickHouseSettings(
                host=_env_str("HUB_CLICKHOUSE_HOST", c.host),
                port=_env_int("HUB_CLICKHOUSE_PORT", c.port),
                http_port=_env_int("HUB_CLICKHOUSE_HTTP_PORT", c.http_port),
                database=_env_str("HUB_CLICKHOUSE_DATABASE", c.database),
                writer_user=_env_str("HUB_CLICKHOUSE_WRITER_USER", c.writer_user),
                writer_password=_env_str("HUB_CLICKHOUSE_WRITER_PASSWORD", c.writer_password),
                reader_user=_env_str("HUB_CLICKHOUSE_READER_USER", c.reader_user),
                reader_password=_env_str("HUB_CLICKHOUSE_READER_PASSWORD", c.reader_password),
            ),
            prometheus=PrometheusSettings(
                host=_env_str("HUB_PROMETHEUS_HOST", p.host),
                port=_env_int("HUB_PROMETHEUS_PORT", p.port),
                metrics_host=_env_str("HUB_METRICS_HOST", p.metrics_host),
                worker_metrics_port=_env_int("HUB_WORKER_METRICS_PORT", p.worker_metrics_port),
                sink_metrics_port=_env_int("HUB_SINK_METRICS_PORT", p.sink_metrics_port),
            ),
            worker=WorkerSettings(
                app_id=_env_str("HUB_WORKER_APP_ID", w.app_id),
                worker_id=_env_str("HUB_WORKER_ID", w.worker_id),
                tick_interval_s=_env_float("HUB_WORKER_TICK_SECONDS", w.tick_interval_s),
                producer_linger_ms=_env_int("HUB_WORKER_LINGER_MS", w.producer_linger_ms),
                state_cache_customers=_env_int("HUB_WORKER_STATE_CACHE", w.state_cache_customers),
                profile_flush_s=_env_float("HUB_WORKER_PROFILE_FLUSH_SECONDS", w.profile_flush_s),
                session_timeout_s=_env_float(
                    "HUB_WORKER_SESSION_TIMEOUT_SECONDS", w.session_timeout_s
                ),
            ),
            sink=SinkSettings(
                group_id=_env_str("HUB_SINK_GROUP_ID", sk.group_id),
                batch_max_rows=_env_int("HUB_SINK_BATCH_ROWS", sk.batch_max_rows),
                batch_max_seconds=_env_float("HUB_SINK_BATCH_SECONDS", sk.batch_max_seconds),
                retry_max_seconds=_env_float("HUB_SINK_RETRY_MAX_SECONDS", sk.retry_max_seconds),
            ),
            rules=RulesSettings(
                sla=_env_path("HUB_SLA_RULES", r.sla),
                anomaly=_env_path("HUB_ANOMALY_RULES", r.anomaly),
            ),
            pii_key=_env_str("HUB_PII_KEY", "insurance-hub-local-pii-key"),
        )
