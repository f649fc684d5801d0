"""The analytics schema, its views and the documented queries, on two engines.

A private ClickHouse 18.16 server (the Debian package the stack runs) and chDB (current
ClickHouse, in process) get the same migrations and the same rows, built by the sink's own
row mapping from a scenario with known answers, duplicates included. Every view must give
the expected figures on both, and every documented query (from the files and from the README
section) must run as the read-only user on 18.16 and on chDB with the same result.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
from support.clickhouse import ChdbEngine, PrivateServer, private_server

from sinks.clickhouse.columns import (
    CLAIM_ANOMALY,
    CUSTOMER_PROFILE,
    DEAD_LETTER,
    EVENTS,
    SLA_BREACH,
    SLA_OUTCOME,
    Meta,
    PiiHasher,
    Table,
)
from sinks.clickhouse.migrate import (
    DriverEngine,
    Migration,
    MigrationError,
    apply_migrations,
    load_migrations,
    migrate,
    reader_client,
    split_statements,
    writer_client,
)
from sinks.clickhouse.queries import load_queries
from sinks.clickhouse.routes import build_routes
from streams.settings import REPO_ROOT, Settings

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the newest event of the scenario
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
PII_KEY = "test-pii-key"
SECTION_TITLE = "## Querying the hub"


def _readme_section() -> str:
    """The README's "Querying the hub" section."""
    readme = (REPO_ROOT / "README.md").read_text()
    rest = readme.split(SECTION_TITLE, 1)[1]
    return SECTION_TITLE + re.split(r"\n## ", rest, maxsplit=1)[0]


# -- the scenario ----------------------------------------------------------------------------


def _meta(topic: str, offset: int, partition: int = 0) -> Meta:
    return Meta(topic, partition, offset, int(T0.timestamp() * 1000), b"key")


def _claim(
    event_id: str, etype: str, customer: str, at: dt.datetime, claim: str, **kw: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id, "event_type": etype, "customer_id": customer, "occurred_at": at,
        "source": "claims.core", "claim_id": claim, "policy_id": f"P-{customer}", **kw,
    }  # fmt: skip


def _sla(rule: str, subject: str, customer: str, status: str, start: dt.datetime,
         limit: dt.timedelta, done: dt.datetime | None) -> dict[str, Any]:  # fmt: skip
    return {
        "breach_id": f"{rule}|{subject}|{status}", "rule": rule, "segment": "standard",
        "customer_id": customer, "subject_id": subject, "started_at": start,
        "deadline_at": start + limit, "status": status,
        "detected_at": done or start + limit, "completed_at": done,
        "duration_seconds": None if done is None else int((done - start).total_seconds()),
        "limit_seconds": int(limit.total_seconds()),
    }  # fmt: skip


def _as_outcome(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    out["outcome_id"] = out.pop("breach_id")
    return out


def _profile(
    customer: str, version: int, active: int, claims_total: int, segment: str
) -> dict[str, Any]:
    return {
        "customer_id": customer, "person_key": None, "segment": segment,
        "policies": {"active_count": active, "product_lines": ["health", "motor"][:active],
                     "total_annual_premium": Decimal("1200.50") * active,
                     "total_sum_assured": Decimal("100000.00"),
                     "next_renewal_due": dt.date(2026, 6, 1)},
        "underwriting": {"latest_decision": "standard", "rated": False, "exclusion": False,
                         "pending_applications": 0},
        "claims": {"total": claims_total, "open": 1, "paid_amount": Decimal("3000.00"),
                   "last_claim_at": T0 - 5 * DAY, "count_30d": 2, "count_90d": 3, "count_365d": 4},
        "servicing": {"open_inquiries": 1, "complaints_90d": 0, "last_nps": 9,
                      "last_contact_at": T0},
        "sla_breaches_90d": 1, "anomaly_flags": ["high_frequency_customer"],
        "first_seen_at": T0 - 400 * DAY, "last_event_at": T0 - DAY * (4 - version),
        "version": version,
    }  # fmt: skip


def _anomaly(
    aid: str, kind: str, stype: str, subject: str, score: float, at: dt.datetime
) -> dict[str, Any]:
    return {
        "anomaly_id": aid, "kind": kind, "subject_type": stype, "subject_id": subject,
        "window_start": at - 365 * DAY, "window_end": at, "observed": 6.0, "expected": 0.5,
        "score": score, "evidence_claim_ids": ["CA1", "CA2"], "detected_at": at,
    }  # fmt: skip


SALES_PII = {
    "customer_name": "Zhang Wei",
    "phone": "+8613800138000",
    "id_number": "110101199003074578",
}


def scenario() -> dict[Table, list[tuple[Any, ...]]]:
    """Rows per table, duplicates included, with the answers the tests expect."""
    pii = PiiHasher(PII_KEY)

    def readable(topic: str, value: bytes) -> dict[str, Any] | None:
        return {"customer_name": "Zhang Wei", "event_id": "x"} if value.startswith(b"{") else None

    routes = build_routes("", pii, readable)

    def row(record: dict[str, Any], meta: Meta) -> tuple[Any, ...]:
        """The row the sink builds from a record read at ``meta`` (no topic prefix)."""
        return routes[meta.topic].row(record, meta)

    claims = "insurance.claims.v1"
    health = {"product_line": "health", "claimed_amount": Decimal("1000.00")}
    events = [
        _claim("e1", "claim_reported", "C-A", T0 - 5 * DAY, "CA1", provider_id="HOSP-1", **health),
        _claim("e2", "claim_reported", "C-A", T0 - 20 * DAY, "CA2", provider_id="HOSP-1", **health),
        _claim("e3", "claim_reported", "C-A", T0 - 60 * DAY, "CA3", provider_id="GAR-1",
               product_line="motor", claimed_amount=Decimal("5000.00")),
        _claim("e4", "claim_reported", "C-A", T0 - 200 * DAY, "CA4", product_line="life"),
        _claim("e5", "claim_reported", "C-A", T0 - 400 * DAY, "CA5", product_line="life"),
        _claim("e6", "claim_reported", "C-B", T0 - 10 * DAY, "CB1", provider_id="HOSP-1", **health),
        _claim("e7", "claim_paid", "C-B", T0 - 8 * DAY, "CB1", paid_amount=Decimal("900.00")),
        _claim("e8", "claim_paid", "C-A", T0 - 4 * DAY, "CA1", paid_amount=Decimal("800.00")),
        _claim("e9", "claim_paid", "C-A", T0 - 50 * DAY, "CA3", paid_amount=Decimal("4000.00")),
    ]  # fmt: skip
    for i, customer in enumerate(("C-C", "C-D", "C-E", "C-F")):  # a provider spike
        events.append(
            _claim(
                f"s{i}",
                "claim_reported",
                customer,
                T0 - (i % 3 + 1) * DAY,
                f"CS{i}",
                provider_id="HOSP-2",
                **health,
            )
        )
    event_rows = [row(e, _meta(claims, n)) for n, e in enumerate(events)]
    event_rows.append(row(events[0], _meta(claims, 100)))  # redelivered copy
    sale = {
        "event_id": "e10", "event_type": "policy_issued", "customer_id": "C-A",
        "occurred_at": T0 - 300 * DAY, "source": "sales.policy-admin", "policy_id": "P-C-A",
        "product_line": "health", "premium": Decimal("1200.50"), "customer_segment": "affluent",
        "policy_start_date": dt.date(2025, 5, 1), **SALES_PII,
    }  # fmt: skip
    event_rows.append(row(sale, _meta("insurance.sales.v1", 0)))
    inquiry = {
        "event_id": "e11", "event_type": "inquiry_opened", "customer_id": "C-B",
        "occurred_at": T0, "source": "servicing.crm", "case_id": "CASE-9",
        "case_kind": "inquiry", "channel": "app", "category": "billing",
    }  # fmt: skip
    event_rows.append(row(inquiry, _meta("insurance.servicing.v1", 0)))
    # Landed, but the worker refused it for a reason only its state knows (its dead letter
    # below): not an accepted event.
    too_late = {
        "event_id": "e12", "event_type": "survey_answered", "customer_id": "C-F",
        "occurred_at": T0 - 90 * DAY, "source": "servicing.crm", "case_id": "CASE-12",
        "case_kind": "survey", "nps_score": 3,
    }  # fmt: skip
    event_rows.append(row(too_late, _meta("insurance.servicing.v1", 1)))

    acc, inq = "claim_acceptance", "inquiry_first_response"
    outcomes = [
        _sla(acc, "CA1", "C-A", "met", T0 - 5 * DAY, 3 * DAY, T0 - 5 * DAY + HOUR),
        _sla(acc, "CB1", "C-B", "completed_late", T0 - 10 * DAY, 3 * DAY, T0 - 6 * DAY),
        _sla(inq, "CASE-1", "C-B", "met", T0 - DAY, 12 * HOUR, T0 - DAY + 2 * HOUR),
    ]
    breaches = [
        _sla(acc, "CB1", "C-B", "breached", T0 - 10 * DAY, 3 * DAY, None),
        _sla(acc, "CB1", "C-B", "completed_late", T0 - 10 * DAY, 3 * DAY, T0 - 6 * DAY),
        _sla(acc, "CA2", "C-A", "breached", T0 - 20 * DAY, 3 * DAY, None),
    ]
    sla_breach = [row(b, _meta("insurance.sla-breach.v1", n)) for n, b in enumerate(breaches)]
    sla_breach.append(row(breaches[0], _meta("insurance.sla-breach.v1", 50)))
    sla_outcome = [
        row(_as_outcome(o), _meta("insurance.sla-outcome.v1", n)) for n, o in enumerate(outcomes)
    ]

    profiles = [_profile("C-A", v, 2, 5, "affluent") for v in (1, 2, 3)] + [
        _profile("C-A", 2, 2, 5, "affluent"),
        _profile("C-B", 1, 1, 1, "standard"),
    ]
    profile_rows = [
        row(p, _meta("insurance.customer-profile.v1", n)) for n, p in enumerate(profiles)
    ]

    anomalies = [
        _anomaly("A1", "high_frequency_customer", "customer", "C-A", 5.0, T0 - 5 * DAY),
        _anomaly("A1", "high_frequency_customer", "customer", "C-A", 7.0, T0 - 3 * DAY),
        _anomaly("A2", "early_claim", "customer", "C-B", 0.8, T0 - 10 * DAY),
        _anomaly("A3", "provider_spike", "provider", "HOSP-2", 9.0, T0 - DAY),
    ]
    anomaly_rows = [row(a, _meta("insurance.claim-anomaly.v1", n)) for n, a in enumerate(anomalies)]

    recent = dt.datetime.now(UTC) - HOUR
    dls = [
        {"value": b"\x00garbage", "key": b"C-A", "topic": "insurance.sales.v1", "partition": 0,
         "offset": 5, "reason": "neither Avro nor JSON", "error_kind": "malformed", "field": None,
         "received_at": recent},
        {"value": b'{"customer_name": "Zhang Wei"}', "key": b"C-B", "topic": "insurance.claims.v1",
         "partition": 1, "offset": 7, "reason": "field 'claimed_amount': below minimum 0",
         "error_kind": "schema_invalid", "field": "claimed_amount", "received_at": recent},
        {"value": b"\xc3\x01survey", "key": b"C-F", "topic": "insurance.servicing.v1",
         "partition": 0, "offset": 1, "reason": "older than the dedup horizon",
         "error_kind": "too_late", "field": "occurred_at", "received_at": recent,
         "value_size": 4000, "value_sha256": "ab" * 32},
    ]  # fmt: skip

    dl_rows = [row(d, _meta("insurance.dead-letter.v1", n)) for n, d in enumerate(dls)]
    dl_rows.append(row(dls[0], _meta("insurance.dead-letter.v1", 9)))
    return {
        EVENTS: event_rows,
        SLA_BREACH: sla_breach,
        SLA_OUTCOME: sla_outcome,
        CUSTOMER_PROFILE: profile_rows,
        CLAIM_ANOMALY: anomaly_rows,
        DEAD_LETTER: dl_rows,
    }


# -- engines ---------------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """One comparable form for values from clickhouse-driver and from chDB's JSON."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | Decimal):
        return round(float(value), 6)
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?(e[+-]?\d+)?", value):
        return round(float(value), 6)
    return value


class Engines:
    """The same database on 18.16 (as the read-only user) and on chDB."""

    def __init__(self, server: PrivateServer, chdb: ChdbEngine) -> None:
        self.server = server
        self.chdb = chdb
        self.reader: Client = reader_client(server.settings)

    def both(self, sql: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        old = [tuple(_norm(v) for v in row) for row in self.reader.execute(sql)]
        new = [tuple(_norm(v) for v in row) for row in self.chdb.query(sql)]
        return old, new

    def same(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` after checking both engines return them (order-insensitive)."""
        old, new = self.both(sql)
        assert sorted(old, key=repr) == sorted(new, key=repr), f"engines differ on:\n{sql}"
        return old


@pytest.fixture(scope="module")
def engines(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    with private_server(settings, tmp_path_factory.mktemp("ch-schema")) as server:
        assert [m.version for m in migrate(server.settings)] == [1, 2, 3]
        chdb = ChdbEngine(tmp_path_factory.mktemp("chdb"))
        assert [m.version for m in apply_migrations(chdb)] == [1, 2, 3]
        writer = writer_client(server.settings)
        for table, rows in scenario().items():
            columns = [list(c) for c in zip(*rows, strict=True)]
            writer.execute(
                f"INSERT INTO {table.name} ({', '.join(table.names)}) VALUES",
                columns, columnar=True, types_check=True,
            )  # fmt: skip
            chdb.insert_rows(table.name, table.names, rows)
        writer.disconnect()
        e = Engines(server, chdb)
        yield e
        e.reader.disconnect()
        chdb.close()


def _ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


# -- migrations ------------------------------------------------------------------------------


def test_split_statements_ignores_semicolons_in_comments_and_strings() -> None:
    sql = "-- a; comment\nSELECT 'x;y' AS a; /* b; */ SELECT `c;d`;\n\nSELECT 1 -- tail;"
    assert split_statements(sql) == ["SELECT 'x;y' AS a", "SELECT `c;d`", "SELECT 1"]


def test_migrate_is_idempotent_versioned_and_refuses_edited_files(engines: Engines) -> None:
    srv = engines.server.settings
    assert migrate(srv) == []  # a second run applies nothing
    client = writer_client(srv)
    try:
        versions = client.execute(
            "SELECT version, name FROM schema_migrations FINAL ORDER BY version"
        )
        assert versions == [(1, "tables"), (2, "views"), (3, "one_verdict")]
        engine = DriverEngine(client)
        edited = [
            Migration(m.version, m.name, m.path, m.sql + "\n-- edited") for m in load_migrations()
        ]
        with pytest.raises(MigrationError, match="changed after it was applied"):
            apply_migrations(engine, edited)
        with pytest.raises(MigrationError, match=r"do not know"):
            apply_migrations(engine, load_migrations()[:1])
    finally:
        client.disconnect()
    assert apply_migrations(engines.chdb) == []


def test_tables_are_replacing_merge_trees_partitioned_by_month(engines: Engines) -> None:
    # 18.16's system.tables has no partition_key column: the engine is checked on both,
    # the partition keys on the current engine (the DDL is the same text).
    engine_sql = (
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree' AND name != 'schema_migrations'"
    )
    tables = engines.same(engine_sql)
    assert sorted(tables) == [
        (name, "ReplacingMergeTree")
        for name in sorted(
            [
                "events",
                "customer_profile",
                "sla_breach",
                "sla_outcome",
                "claim_anomaly",
                "dead_letter",
            ]
        )
    ]
    keys = dict(
        engines.chdb.query(
            "SELECT name, partition_key FROM system.tables WHERE database = currentDatabase()"
        )
    )
    assert keys["events"] == "toYYYYMM(occurred_at)"
    assert keys["sla_breach"] == keys["sla_outcome"] == "toYYYYMM(started_at)"
    assert keys["customer_profile"] == ""  # all versions of a customer stay in one partition


# -- the views -------------------------------------------------------------------------------


def test_events_and_profiles_count_each_record_once(engines: Engines) -> None:
    assert engines.same("SELECT count() FROM events_unique") == [(15.0,)]
    # 18.16 keeps the redelivered copy until a merge (current ClickHouse may drop it on insert)
    assert engines.reader.execute("SELECT count() FROM events") == [(17,)]
    assert engines.same(
        "SELECT customer_id, version, segment, active_policies FROM customer_profile_current"
    ) == [("C-A", 3.0, "affluent", 2.0), ("C-B", 1.0, "standard", 1.0)]


def test_hub_clock_is_the_newest_event(engines: Engines) -> None:
    assert engines.same("SELECT as_of FROM hub_clock") == [(_ts(T0),)]


def test_claim_frequency_over_30_90_365_days(engines: Engines) -> None:
    rows = engines.same(
        "SELECT customer_id, claims_30d, claims_90d, claims_365d FROM claim_frequency "
        "WHERE customer_id IN ('C-A', 'C-B')"
    )
    assert sorted(rows) == [("C-A", 2.0, 3.0, 4.0), ("C-B", 1.0, 1.0, 1.0)]


def test_provider_claim_volume_per_day(engines: Engines) -> None:
    rows = engines.same(
        "SELECT provider_id, count() AS days, sum(claims), sum(claimed_amount) "
        "FROM provider_claim_volume_daily GROUP BY provider_id"
    )
    assert sorted(rows) == [
        ("GAR-1", 1.0, 1.0, 5000.0),
        ("HOSP-1", 3.0, 3.0, 3000.0),  # e1's redelivered copy is not counted twice
        ("HOSP-2", 3.0, 4.0, 4000.0),
    ]


def test_sla_obligations_attainment_and_open_breaches(engines: Engines) -> None:
    obligations = engines.same("SELECT rule, subject_id, status FROM sla_obligations")
    assert sorted(obligations) == [
        ("claim_acceptance", "CA1", "met"),
        ("claim_acceptance", "CA2", "breached"),
        ("claim_acceptance", "CB1", "completed_late"),
        ("inquiry_first_response", "CASE-1", "met"),
    ]
    daily = engines.same(
        "SELECT rule, day, obligations, met, breaches, share_met, p50_seconds "
        "FROM sla_attainment_daily"
    )
    assert sorted(daily) == [
        # still open: breached on its deadline day, no completion time yet
        ("claim_acceptance", (T0 - 17 * DAY).date().isoformat(), 1.0, 0.0, 1.0, 0.0, 0.0),
        ("claim_acceptance", (T0 - 7 * DAY).date().isoformat(), 1.0, 0.0, 1.0, 0.0, 345600.0),
        ("claim_acceptance", (T0 - 5 * DAY).date().isoformat(), 1.0, 1.0, 0.0, 1.0, 3600.0),
        ("inquiry_first_response", (T0 - DAY).date().isoformat(), 1.0, 1.0, 0.0, 1.0, 7200.0),
    ]
    totals = engines.same(
        "SELECT rule, sum(obligations), sum(met), sum(breaches) "
        "FROM sla_attainment_daily GROUP BY rule"
    )
    assert sorted(totals) == [
        ("claim_acceptance", 3.0, 1.0, 2.0),
        ("inquiry_first_response", 1.0, 1.0, 0.0),
    ]
    open_now = engines.same(
        "SELECT rule, subject_id, customer_id, overdue_seconds FROM sla_open_breaches"
    )
    assert open_now == [("claim_acceptance", "CA2", "C-A", float(17 * 86400))]


def test_anomalies_latest_version_and_top_customers(engines: Engines) -> None:
    assert engines.same("SELECT count() FROM claim_anomaly_latest") == [(3.0,)]
    top = engines.same(
        "SELECT customer_id, max_score, anomalies, kinds FROM top_anomalous_customers"
    )
    assert top == [
        ("C-A", 7.0, 1.0, ("high_frequency_customer",)),
        ("C-B", 0.8, 1.0, ("early_claim",)),
    ]


def test_dead_letters_once_per_record_without_personal_data(engines: Engines) -> None:
    rows = engines.same("SELECT topic, source_offset, error_kind, value FROM dead_letter_unique")
    assert sorted(r[:3] for r in rows) == [
        ("insurance.claims.v1", 7.0, "schema_invalid"),
        ("insurance.sales.v1", 5.0, "malformed"),
        ("insurance.servicing.v1", 1.0, "too_late"),
    ]
    # A value kept as a prefix reports the whole record's size and hash.
    assert engines.same(
        "SELECT value_size, value_sha256 FROM dead_letter_unique WHERE error_kind = 'too_late'"
    ) == [(4000.0, "ab" * 32)]
    assert all("Zhang" not in r[3] for r in rows)
    assert any("customer_name_hmac" in r[3] for r in rows)


def test_personal_data_is_hashed_in_events(engines: Engines) -> None:
    pii = PiiHasher(PII_KEY)
    rows = engines.same(
        "SELECT person_key, name_hmac, phone_hmac, payload "
        "FROM events_unique WHERE event_id = 'e10'"
    )
    assert len(rows) == 1
    person_key, name_h, phone_h, payload = rows[0]
    assert person_key == pii.hash(SALES_PII["id_number"])
    assert (name_h, phone_h) == (pii.hash(SALES_PII["customer_name"]), pii.hash(SALES_PII["phone"]))
    for clear in SALES_PII.values():
        assert clear not in payload
    assert f'"id_number_hmac":"{person_key}"' in payload


# -- documented queries ----------------------------------------------------------------------


def _readme_queries() -> list[str]:
    text = _readme_section()
    return [block.strip().rstrip(";") for block in re.findall(r"```sql\n(.*?)```", text, re.S)]


def test_readme_shows_every_documented_query_verbatim() -> None:
    blocks = _readme_queries()
    queries = load_queries()
    assert 6 <= len(queries) <= 10
    for q in queries:
        assert q.sql in blocks, f"README section lacks the SQL of {q.path.name}"
        assert q.title in _readme_section()


@pytest.mark.parametrize("query", load_queries(), ids=lambda q: q.name)
def test_documented_query_runs_on_18_16_and_current_clickhouse(
    engines: Engines, query: Any
) -> None:
    sql = query.render({"customer_id": "C-A"})
    rows = engines.same(sql)
    assert rows, f"{query.name} returned nothing on the scenario"


def test_documented_query_answers(engines: Engines) -> None:
    by_name = {q.name: q for q in load_queries()}

    def run(name: str) -> list[tuple[Any, ...]]:
        return engines.same(by_name[name].render({"customer_id": "C-A"}))

    (c360,) = run("customer_360")
    assert c360[0] == "C-A" and c360[-4:-1] == (8.0, 1.0, 1.0)  # events, open, breaches
    assert [r[0] for r in run("frequent_claimants")] == ["C-A"]
    assert [(r[0], r[1]) for r in run("provider_claim_spikes")] == [("HOSP-2", 4.0)]
    assert run("open_breaches")[0][:3] == ("claim_acceptance", "CA2", "C-A")
    assert [r[0] for r in run("top_anomalous_customers")] == ["C-A", "C-B"]
    settle = run("claim_settlement_times")
    assert settle == [("health", 2.0, 2.0, 2.0), ("motor", 1.0, 10.0, 10.0)]
    assert sorted((r[2], r[4]) for r in run("dead_letters")) == [
        ("malformed", 1.0),
        ("schema_invalid", 1.0),
        ("too_late", 1.0),
    ]


def test_readme_query_blocks_run_on_both_engines(engines: Engines) -> None:
    for sql in _readme_queries():
        if "%(customer_id)s" in sql:
            sql = sql.replace("%(customer_id)s", "'C-A'")
        engines.same(sql)


# -- access ----------------------------------------------------------------------------------


def test_reader_cannot_write_and_writer_cannot_leave_its_database(engines: Engines) -> None:
    reader = engines.reader
    for stmt in (
        "INSERT INTO events (event_id) VALUES",
        "CREATE TABLE x (a UInt8) ENGINE = Memory",
        "DROP TABLE events",
    ):
        with pytest.raises(ServerException) as info:
            if stmt.endswith("VALUES"):
                reader.execute(stmt, [("x",)])
            else:
                reader.execute(stmt)
        assert info.value.code in (164, 497), info.value  # READONLY / ACCESS_DENIED
    writer = writer_client(engines.server.settings, database=None)
    try:
        with pytest.raises(ServerException):
            writer.execute("CREATE DATABASE not_the_hub")
    finally:
        writer.disconnect()
