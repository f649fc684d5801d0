"""Apache Kafka from the official jars (Maven Central), one KRaft node on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from streams.ops.stack.process import ProcessSpec, StackError
from streams.settings import REPO_ROOT, Settings

HERE = Path(__file__).resolve().parent
SHARED_CONFIG = REPO_ROOT / "docker" / "kafka" / "server.properties"
HEALTH_TOPIC = "_hub_health"


class KafkaService:
    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = settings.kafka
        self.home = settings.state_dir / "kafka"
        self.config_file = self.home / "server.properties"
        self.data_dir = self.home / "data"
        self.libs = settings.cache_dir / f"kafka-{self.cfg.version}" / "libs"
        self.spec = ProcessSpec(
            name=self.name,
            argv=self._argv(),
            pid_file=settings.state_dir / "run" / "kafka.pid",
            log_file=settings.state_dir / "logs" / "kafka.log",
            marker=str(self.config_file),
        )

    @property
    def ports(self) -> list[int]:
        return [self.cfg.port, self.cfg.controller_port]

    @property
    def address(self) -> str:
        return self.cfg.bootstrap

    def _argv(self) -> list[str]:
        java = shutil.which("java") or "java"
        return [
            java,
            "-Xms256m",
            f"-Xmx{self.cfg.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.config_file),
        ]

    def prepare(self) -> None:
        self._fetch_jars()
        self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            self._format()

    def _fetch_jars(self) -> None:
        done = self.libs / ".complete"
        if done.exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "Maven (mvn) is needed once to fetch the Kafka jars; install Debian's maven"
            )
        print(
            f"fetching Apache Kafka {self.cfg.version} from Maven Central ...",
            file=sys.stderr,
            flush=True,
        )
        self.libs.mkdir(parents=True, exist_ok=True)
        argv = [
            mvn, "-q", "-B", "-f", str(HERE / "kafka-pom.xml"),
            "dependency:copy-dependencies",
            f"-Dkafka.version={self.cfg.version}",
            f"-DoutputDirectory={self.libs}",
            "-DincludeScope=runtime",
        ]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(
                f"mvn could not fetch Kafka {self.cfg.version}:\n{result.stdout[-3000:]}"
            )
        done.write_text(f"{self.cfg.version}\n")

    def _write_config(self) -> None:
        # Java Properties keep the last value of a key: the shared file first, then what is local.
        c = self.cfg
        local = [
            "",
            "# --- local stack (written by `hub stack up`) ---",
            f"listeners=PLAINTEXT://{c.host}:{c.port},CONTROLLER://{c.host}:{c.controller_port}",
            f"advertised.listeners=PLAINTEXT://{c.host}:{c.port}",
            f"controller.quorum.voters=1@{c.host}:{c.controller_port}",
            f"log.dirs={self.data_dir}",
        ]
        self.home.mkdir(parents=True, exist_ok=True)
        text = SHARED_CONFIG.read_text() + "\n".join(local) + "\n"
        self.config_file.write_text(text)

    def _format(self) -> None:
        java = self.spec.argv[0]
        cp = f"{self.libs}/*"
        cluster_id = _kafka_uuid()
        result = subprocess.run(
            [java, "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id,
             "-c", str(self.config_file)],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"kafka storage format failed:\n{result.stdout}{result.stderr}")

    def healthy(self) -> bool:
        """A client created the health topic and round-tripped a message through it."""
        return round_trip(self.cfg.bootstrap)


def _kafka_uuid() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def round_trip(bootstrap: str, timeout_s: float = 10.0) -> bool:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from streams.kafka_admin import admin_client

    fast = {"reconnect_backoff_max_ms": 500, "request_timeout_ms": 5000}
    with admin_client(bootstrap, "hub-health", **fast) as admin:
        if HEALTH_TOPIC not in admin.list_topics():
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(HEALTH_TOPIC, 1, 1)])
    token = f"{os.getpid()}-{time.time_ns()}".encode()
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=5000, **fast)
    try:
        meta = producer.send(HEALTH_TOPIC, value=token).get(timeout=timeout_s)
    finally:
        producer.close(timeout=2)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, reconnect_backoff_max_ms=500
    )
    try:
        tp = TopicPartition(HEALTH_TOPIC, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                if any(r.value == token for r in records):
                    return True
        return False
    finally:
        consumer.close()
