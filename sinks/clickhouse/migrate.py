"""`hub clickhouse migrate`: apply the versioned DDL files, idempotently, on every start.

Migrations are ``migrations/NNNN_name.sql`` files applied in order. Each applied version is
recorded in ``schema_migrations`` with the file's checksum; a file changed after it was
applied is refused (write a new migration instead), so every deployment converges on the
same schema. Every statement is itself idempotent (``IF NOT EXISTS``), so a migration
interrupted halfway is simply run again.

The runner only needs "execute one statement" and "query rows", so the same files run on the
ClickHouse server through clickhouse-driver and on chDB (current ClickHouse, in process) in
the tests.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from clickhouse_driver import Client

from streams.settings import Settings

log = logging.getLogger("insurance_hub.clickhouse")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
ORDER BY version
"""


class Engine(Protocol):
    """What the runner needs: clickhouse-driver (:class:`DriverEngine`) or chDB provide it."""

    def execute(self, sql: str) -> Any: ...

    def query(self, sql: str) -> Sequence[Sequence[Any]]: ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None: ...


class DriverEngine:
    """A clickhouse-driver client as an :class:`Engine`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def execute(self, sql: str) -> Any:
        return self.client.execute(sql)

    def query(self, sql: str) -> Sequence[Sequence[Any]]:
        rows: list[tuple[Any, ...]] = self.client.execute(sql)
        return rows

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        # Inline VALUES would make 18.16 wait for a data block: send the rows natively.
        self.client.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", list(rows))


class MigrationError(RuntimeError):
    """The database holds a schema version these files do not describe."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def statements(self) -> list[str]:
        return split_statements(self.sql)


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; refuses gaps and duplicate versions."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _FILE_RE.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path, path.read_text()))
    for expected, mig in enumerate(found, start=1):
        if mig.version != expected:
            raise MigrationError(f"{mig.path.name}: expected version {expected:04d} (no gaps)")
    return found


def split_statements(sql: str) -> list[str]:
    """Split a SQL script on ``;`` outside string literals, quoted names and comments."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch in "'\"`":
            j = i + 1
            while j < n and sql[j] != ch:
                j += 2 if sql[j] == "\\" else 1
            buf.append(sql[i : j + 1])
            i = j + 1
            continue
        if ch == ";":
            stmt = "".join(buf).strip()
            if stmt:
                statements.append(stmt)
            buf = []
        else:
            buf.append(ch)
        i += 1
    stmt = "".join(buf).strip()
    if stmt:
        statements.append(stmt)
    return statements


def apply_migrations(
    engine: Engine, migrations: Sequence[Migration] | None = None
) -> list[Migration]:
    """Apply what is not applied yet to the current database; return what was applied."""
    migrations = load_migrations() if migrations is None else migrations
    engine.execute(MIGRATIONS_TABLE)
    applied = {
        int(version): str(checksum)
        for version, checksum in engine.query(
            "SELECT version, checksum FROM schema_migrations FINAL"
        )
    }
    known = {m.version for m in migrations}
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise MigrationError(
            f"the database has schema versions {newer} that these files do not know: "
            "this build is older than the schema"
        )
    done: list[Migration] = []
    for mig in migrations:
        if mig.version in applied:
            if applied[mig.version] != mig.checksum:
                raise MigrationError(
                    f"{mig.path.name} changed after it was applied (checksum differs); "
                    "applied migrations are immutable: add a new migration instead"
                )
            continue
        for stmt in mig.statements:
            engine.execute(stmt)
        engine.insert_rows(
            "schema_migrations",
            ("version", "name", "checksum"),
            [(mig.version, mig.name, mig.checksum)],
        )
        log.info("applied migration %s", mig.path.name)
        done.append(mig)
    return done


def writer_client(settings: Settings, *, database: str | None = "", **kwargs: Any) -> Client:
    """A clickhouse-driver client as the sink's writer user (database: settings' by default)."""
    cfg = settings.clickhouse
    db = cfg.database if database == "" else database
    opts: dict[str, Any] = {"connect_timeout": 5, "send_receive_timeout": 60}
    opts.update(kwargs)
    if db:
        opts["database"] = db
    return Client(
        host=cfg.host, port=cfg.port, user=cfg.writer_user, password=cfg.writer_password, **opts
    )


def reader_client(settings: Settings, **kwargs: Any) -> Client:
    """A clickhouse-driver client as the analysts' read-only user."""
    cfg = settings.clickhouse
    opts: dict[str, Any] = {"connect_timeout": 5, "send_receive_timeout": 120}
    opts.update(kwargs)
    return Client(
        host=cfg.host,
        port=cfg.port,
        user=cfg.reader_user,
        password=cfg.reader_password,
        database=cfg.database,
        **opts,
    )


def migrate(settings: Settings) -> list[Migration]:
    """Create the database if needed and apply pending migrations on the server."""
    db = settings.clickhouse.database
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", db):
        raise MigrationError(f"database name {db!r} is not a plain identifier")
    boot = writer_client(settings, database=None)
    try:
        boot.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    finally:
        boot.disconnect()
    client = writer_client(settings)
    try:
        return apply_migrations(DriverEngine(client))
    finally:
        client.disconnect()
