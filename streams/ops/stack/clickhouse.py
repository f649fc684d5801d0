"""ClickHouse from Debian's clickhouse-server package, run with the project's own config."""

from __future__ import annotations

from pathlib import Path

from streams.ops.stack.packages import ensure_binary
from streams.ops.stack.process import ProcessSpec
from streams.settings import REPO_ROOT, Settings

SHARED_DIR = REPO_ROOT / "docker" / "clickhouse"

# Host-specific parts only; server settings and users come from docker/clickhouse/.
LOCAL_CONFIG = """<?xml version="1.0"?>
<!-- Written by `hub stack up`; server settings come from config.d/, users from {users}. -->
<yandex>
    <logger>
        <log>{logs}/clickhouse.server.log</log>
        <errorlog>{logs}/clickhouse.err.log</errorlog>
    </logger>
    <listen_host>{host}</listen_host>
    <tcp_port>{port}</tcp_port>
    <http_port>{http_port}</http_port>
    <path>{data}/</path>
    <tmp_path>{data}/tmp/</tmp_path>
    <user_files_path>{data}/user_files/</user_files_path>
    <format_schema_path>{data}/format_schemas/</format_schema_path>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <mlock_executable>false</mlock_executable>
</yandex>
"""


class ClickHouseService:
    name = "clickhouse"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = settings.clickhouse
        self.home = settings.state_dir / "clickhouse"
        self.config_file = self.home / "config.xml"
        self.binary: Path = Path("/usr/sbin/clickhouse-server")
        self.spec = self._spec()

    def _spec(self) -> ProcessSpec:
        return ProcessSpec(
            name=self.name,
            argv=[str(self.binary), f"--config-file={self.config_file}"],
            pid_file=self.settings.state_dir / "run" / "clickhouse.pid",
            log_file=self.settings.state_dir / "logs" / "clickhouse.log",
            marker=str(self.config_file),
            cwd=self.home,
        )

    @property
    def ports(self) -> list[int]:
        return [self.cfg.port, self.cfg.http_port]

    @property
    def address(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"

    def prepare(self) -> None:
        self.binary = ensure_binary("clickhouse-server", "clickhouse-server")
        self.spec = self._spec()
        data = self.home / "data"
        logs = self.settings.state_dir / "logs"
        for d in (data / "tmp", data / "user_files", data / "format_schemas", logs):
            d.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            LOCAL_CONFIG.format(
                logs=logs,
                host=self.cfg.host,
                port=self.cfg.port,
                http_port=self.cfg.http_port,
                data=data,
                users=SHARED_DIR / "users.xml",
            )
        )
        conf_d = self.home / "config.d"
        conf_d.mkdir(exist_ok=True)
        link = conf_d / "server.xml"
        if not link.is_symlink() or link.resolve() != (SHARED_DIR / "server.xml"):
            link.unlink(missing_ok=True)
            link.symlink_to(SHARED_DIR / "server.xml")

    def healthy(self) -> bool:
        from clickhouse_driver import Client

        client = Client(
            host=self.cfg.host,
            port=self.cfg.port,
            user=self.cfg.writer_user,
            password=self.cfg.writer_password,
            connect_timeout=2,
            send_receive_timeout=5,
        )
        try:
            return client.execute("SELECT 1") == [(1,)]
        finally:
            client.disconnect()
