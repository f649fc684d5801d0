"""What lands where: bad rows, personal data, batching, metrics, rebalances.

The sink runs in process (a thread) against a private ClickHouse server, each test on its
own topic prefix and consumer group of the stack's Kafka, so rows are told apart by topic.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from support.clickhouse import (
    isolated,
    private_server,
    publish_events,
    publish_records,
    scrape,
    sink_lag,
)

from schemas import (
    CLAIM_ANOMALY,
    CLAIMS,
    CUSTOMER_PROFILE,
    DEAD_LETTER,
    SALES,
    SLA_BREACH,
    SLA_OUTCOME,
)
from sinks.clickhouse.columns import REJECTED, PiiHasher
from sinks.clickhouse.metrics import SinkStats
from sinks.clickhouse.migrate import migrate, reader_client
from sinks.clickhouse.sink import ClickHouseSink
from streams.pii import PII_FIELDS
from streams.settings import Settings
from streams.simulator import GeneratorConfig, generate

NOW_MS = int(time.time() * 1000)


@pytest.fixture(scope="module")
def hub(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A private ClickHouse server (the stack's binary, config and users) with the hub's
    schema, so test rows never mix with the shared database the demo reads; Kafka is the
    stack's broker, each test on its own topic prefix."""
    with private_server(settings, tmp_path_factory.mktemp("ch-landing")) as server:
        migrate(server.settings)
        assert migrate(server.settings) == []
        yield server.settings


def _query(settings: Settings, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    client = reader_client(settings)
    try:
        rows: list[tuple[Any, ...]] = client.execute(sql, params or None)
        return rows
    finally:
        client.disconnect()


def _claim(n: int, occurred_ms: int, customer: str = "C-BAD") -> dict[str, Any]:
    return {
        "event_id": f"bad-rows-{n}-{NOW_MS}",
        "event_type": "claim_reported",
        "customer_id": customer,
        "occurred_at": occurred_ms,
        "source": "claims.core",
        "claim_id": f"CL-{n}",
        "policy_id": "P-1",
        "product_line": "health",
        "claim_type": "outpatient",
        "incident_date": dt.date(2026, 11, 1),
        "claimed_amount": Decimal("120.50"),
        "provider_id": "HOSP-9",
    }


def _profile(customer: str, renewal: dt.date) -> dict[str, Any]:
    return {
        "customer_id": customer,
        "person_key": None,
        "segment": "standard",
        "policies": {
            "active_count": 1,
            "product_lines": ["health"],
            "total_annual_premium": Decimal("800.00"),
            "total_sum_assured": Decimal("50000.00"),
            "next_renewal_due": renewal,
        },
        "underwriting": {
            "latest_decision": None,
            "rated": False,
            "exclusion": False,
            "pending_applications": 0,
        },
        "claims": {
            "total": 0,
            "open": 0,
            "paid_amount": Decimal("0.00"),
            "last_claim_at": None,
            "count_30d": 0,
            "count_90d": 0,
            "count_365d": 0,
        },
        "servicing": {
            "open_inquiries": 0,
            "complaints_90d": 0,
            "last_nps": None,
            "last_contact_at": None,
        },
        "sla_breaches_90d": 0,
        "anomaly_flags": [],
        "first_seen_at": NOW_MS - 86_400_000,
        "last_event_at": NOW_MS,
        "version": 1,
    }


@contextmanager
def running_sink(settings: Settings, **kw: Any) -> Iterator[tuple[ClickHouseSink, threading.Event]]:
    """A sink consuming in a thread until the block ends (then flushed and committed)."""
    sink = ClickHouseSink(settings, migrate_on_start=False, **kw)
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield sink, stop
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive()


def _drain(settings: Settings, **kw: Any) -> tuple[ClickHouseSink, SinkStats]:
    sink = ClickHouseSink(settings, migrate_on_start=False, serve_metrics=False, **kw)
    stats = sink.run(exit_when_idle=1.0)
    assert sink_lag(settings) == 0
    return sink, stats


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


# -- bad input -------------------------------------------------------------------------------


def test_rows_clickhouse_refuses_go_to_dead_letter_and_the_rest_lands(
    topics: Callable[[Settings], Settings], hub: Settings
) -> None:
    s = isolated(hub, "badrows")
    topics(s)
    year_2150 = int(dt.datetime(2150, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    year_1969 = int(dt.datetime(1969, 12, 31, tzinfo=dt.UTC).timestamp() * 1000)
    good = [_claim(n, NOW_MS - n * 60_000) for n in range(6)]
    # Outside ClickHouse's DateTime range, and refused by the worker's own acceptance test
    # (future_timestamp, implausible_timestamp) before ClickHouse would see them.
    refused = [_claim(100, year_2150), _claim(101, year_1969)]
    publish_records(s, CLAIMS, good[:3] + refused + good[3:])
    publish_records(s, CLAIMS, [b"\x00\x01 not an event"])  # invalid input: skipped
    publish_records(
        s,
        CUSTOMER_PROFILE,
        [
            _profile("C-OK", dt.date(2027, 1, 1)),
            _profile("C-FAR", dt.date(2200, 1, 1)),  # beyond ClickHouse's Date range
            b"not a profile",
        ],
    )
    sales_json = json.dumps(
        {"event_id": "x", "customer_id": "C-DL", "customer_name": "Li Na", "phone": 13800138000}
    ).encode()
    publish_records(
        s,
        DEAD_LETTER,
        [
            {
                "value": sales_json,
                "key": b"C-DL",
                "topic": s.kafka.topic_prefix + SALES,
                "partition": 3,
                "offset": 42,
                "reason": "insurance.sales.v1: field 'phone': expected string, got int 13800138000",
                "error_kind": "schema_invalid",
                "field": "phone",
                "received_at": NOW_MS,
            }
        ],
        key="C-DL",
    )

    sink, stats = _drain(s)
    assert stats.records_skipped == 3  # the two claims out of time bounds, the bad bytes
    assert stats.rows_rejected == 2  # the far renewal, the unreadable profile
    reg = sink.metrics.registry
    assert reg.get_sample_value("hub_sink_rows_rejected_total", {"table": "events"}) is None
    for reason in ("malformed", "future_timestamp", "implausible_timestamp"):
        skipped = {"topic": CLAIMS, "reason": reason}
        assert reg.get_sample_value("hub_sink_records_skipped_total", skipped) == 1

    prefix = s.kafka.topic_prefix
    landed = _query(
        s,
        "SELECT event_id FROM events_unique WHERE startsWith(topic, %(p)s) ORDER BY event_id",
        p=prefix,
    )
    assert [r[0] for r in landed] == sorted(e["event_id"] for e in good)
    profiles = _query(
        s, "SELECT customer_id FROM customer_profile WHERE startsWith(topic, %(p)s)", p=prefix
    )
    assert profiles == [("C-OK",)]

    dead = _query(
        s,
        "SELECT topic, origin, error_kind, field, reason, value FROM dead_letter_unique "
        "WHERE startsWith(topic, %(p)s) ORDER BY topic, source_offset",
        p=prefix,
    )
    by_kind: dict[tuple[str, str, str], list[tuple[Any, ...]]] = {}
    for row in dead:
        by_kind.setdefault((row[0][len(prefix) :], row[1], row[2]), []).append(row)
    assert (CLAIMS, "sink", REJECTED) not in by_kind  # the worker's to dead-letter
    (far,) = by_kind[(CUSTOMER_PROFILE, "sink", REJECTED)]
    assert far[3] == "next_renewal_due" and "2200-01-01" in far[4]
    (unreadable,) = by_kind[(CUSTOMER_PROFILE, "sink", "malformed")]
    assert unreadable[5] == ""
    (worker,) = by_kind[(SALES, "worker", "schema_invalid")]
    assert "13800138000" not in worker[4] and "Li Na" not in worker[5]
    assert json.loads(worker[5])["phone_hmac"] == PiiHasher(s.pii_key).hash(13800138000)


def test_every_output_topic_lands_in_its_table(
    topics: Callable[[Settings], Settings], hub: Settings
) -> None:
    s = isolated(hub, "outputs")
    topics(s)
    start = NOW_MS - 5 * 86_400_000
    cl_o, cl_p = f"{s.kafka.topic_prefix}CL-O", f"{s.kafka.topic_prefix}CL-P"
    obligation = {
        "rule": "claim_acceptance", "segment": "standard", "customer_id": "C-O",
        "subject_id": cl_o, "started_at": start, "deadline_at": start + 259_200_000,
        "detected_at": start + 3_600_000, "completed_at": start + 3_600_000,
        "duration_seconds": 3600, "limit_seconds": 259_200,
    }  # fmt: skip
    publish_records(s, SLA_OUTCOME, [{**obligation, "outcome_id": "o-1", "status": "met"}])
    publish_records(
        s,
        SLA_BREACH,
        [{**obligation, "breach_id": "b-1", "status": "breached", "completed_at": None,
          "duration_seconds": None, "subject_id": cl_p}],
    )  # fmt: skip
    publish_records(
        s,
        CLAIM_ANOMALY,
        [
            {
                "anomaly_id": "a-1", "kind": "early_claim", "subject_type": "customer",
                "subject_id": "C-O", "window_start": start, "window_end": NOW_MS,
                "observed": 2.5, "expected": 30.0, "score": 0.9,
                "evidence_claim_ids": ["CL-O"], "detected_at": NOW_MS,
            }
        ],
    )  # fmt: skip
    publish_records(s, CUSTOMER_PROFILE, [_profile("C-O", dt.date(2027, 2, 1))])
    _, stats = _drain(s)
    assert stats.rows_inserted == 4 and stats.rows_rejected == 0
    prefix = s.kafka.topic_prefix
    for table, key in (
        ("sla_outcome", "outcome_id"),
        ("sla_breach", "breach_id"),
        ("claim_anomaly", "anomaly_id"),
        ("customer_profile", "customer_id"),
    ):
        rows = _query(s, f"SELECT {key} FROM {table} WHERE startsWith(topic, %(p)s)", p=prefix)
        assert len(rows) == 1, table
    obligations = _query(
        s,
        "SELECT subject_id, status FROM sla_obligations "
        "WHERE subject_id IN (%(o)s, %(p)s) ORDER BY subject_id",
        o=cl_o,
        p=cl_p,
    )
    assert obligations == [(cl_o, "met"), (cl_p, "breached")]


# -- personal data ---------------------------------------------------------------------------


def test_landed_tables_hold_none_of_the_generators_personal_data(
    topics: Callable[[Settings], Settings], hub: Settings
) -> None:
    s = isolated(hub, "pii")
    topics(s)
    events, truth = generate(GeneratorConfig(seed=5, customers=150, days=7))
    publish_events(s, events)
    # What the worker would dead-letter: the generator's malformed records, whole.
    bad = [ev for ev in events if ev.injection in ("bad_bytes", "schema_invalid")]
    assert bad
    from schemas import Codec

    codec = Codec()
    publish_records(
        s,
        DEAD_LETTER,
        [
            {
                "value": ev.encode(codec),
                "key": ev.key.encode(),
                "topic": s.kafka.topic_prefix + ev.topic,
                "partition": 0,
                # Coordinates no landed event has: events_unique leaves out the event a
                # worker dead letter names (see 0003_one_verdict.sql).
                "offset": 1_000_000 + i,
                "reason": f"{ev.topic}: field 'x': rejected",
                "error_kind": "schema_invalid",
                "field": None,
                "received_at": NOW_MS,
            }
            for i, ev in enumerate(bad)
        ],
    )
    _drain(s)

    personal: set[str] = set()
    for ev in events:
        for field in PII_FIELDS:
            value = (ev.value or {}).get(field)
            if value:
                personal.add(str(value))
                personal.add("".join(ch for ch in str(value) if ch.isdigit()) or str(value))
    assert len(personal) > 100
    id_numbers = {
        str(ev.value["id_number"]) for ev in events if ev.value and ev.value.get("id_number")
    }

    # Every String and Array(String) column of every table the hub lands in, every row this
    # test landed (the module's server also holds the other tests' rows).
    columns = _query(
        s,
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
        "AND table IN ('events', 'customer_profile', 'sla_breach', 'sla_outcome', "
        "'claim_anomaly', 'dead_letter') AND (type = 'String' OR type = 'Array(String)')",
    )
    assert len(columns) > 30
    per_table = _query(
        s,
        "SELECT count() FROM events WHERE startsWith(topic, %(p)s) AND name_hmac != ''",
        p=s.kafka.topic_prefix,
    )
    assert per_table[0][0] > 100  # the scan below covers rows that carried personal data
    needles = sorted(personal)
    for table, name, ctype in columns:
        test = "position(col, v) > 0"
        if ctype.startswith("Array"):
            test = "arrayExists(x -> position(x, v) > 0, col)"
        # (18.16 lambdas only capture columns of a subquery)
        sql = (
            f"SELECT count() FROM (SELECT {name} AS col FROM {table} "
            f"WHERE startsWith(topic, %(p)s)) WHERE arrayExists(v -> {test}, %(n)s)"
        )
        ((hits,),) = _query(s, sql, n=needles, p=s.kafka.topic_prefix)
        assert hits == 0, f"personal data in clear in {table}.{name}"

    # The links survive as keyed hashes: person_key is HMAC(id_number), as in the profile.
    pii = PiiHasher(s.pii_key)
    keys = _query(
        s,
        "SELECT DISTINCT person_key FROM events_unique "
        "WHERE startsWith(topic, %(p)s) AND person_key != ''",
        p=s.kafka.topic_prefix,
    )
    assert {k for (k,) in keys} == {pii.hash(v) for v in id_numbers}
    assert truth.total_events > 0


# -- batching --------------------------------------------------------------------------------


def test_batches_close_on_size(topics: Callable[[Settings], Settings], hub: Settings) -> None:
    s = isolated(hub, "size", batch_max_rows=100, batch_max_seconds=60.0)
    topics(s)
    publish_records(s, CLAIMS, [_claim(n, NOW_MS - n * 1000, f"C-{n % 7}") for n in range(1000)])
    sink, stats = _drain(s)
    assert stats.rows_inserted == 1000
    reg = sink.metrics.registry
    # Ten batches of exactly 100 rows: each closed the moment it was full (the 60 s timer
    # never fired), even when one poll brought more records than a batch holds.
    assert reg.get_sample_value("hub_sink_batch_rows_count") == 10
    assert reg.get_sample_value("hub_sink_batch_rows_sum") == 1000
    assert reg.get_sample_value("hub_sink_batch_rows_bucket", {"le": "10.0"}) == 0


def test_batches_close_on_time(topics: Callable[[Settings], Settings], hub: Settings) -> None:
    s = isolated(hub, "time", batch_max_rows=1_000_000, batch_max_seconds=0.3)
    topics(s)
    prefix = s.kafka.topic_prefix

    def landed() -> int:
        ((n,),) = _query(
            s, "SELECT count() FROM events_unique WHERE startsWith(topic, %(p)s)", p=prefix
        )
        return int(n)

    with running_sink(s, serve_metrics=False) as (sink, _):
        _wait_for(lambda: bool(sink.assigned), 30, "partitions")
        publish_records(s, CLAIMS, [_claim(n, NOW_MS - n, "C-T") for n in range(50)])
        started = time.monotonic()
        _wait_for(lambda: landed() == 50, 10, "a batch far below the size limit")
        took = time.monotonic() - started
        assert sink.consumer.kafka is not None  # still running: the timer closed the batch
    assert took < 5.0
    assert sink.stats.rows_inserted == 50


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_are_served_with_prometheus_names(
    topics: Callable[[Settings], Settings], hub: Settings
) -> None:
    s = isolated(hub, "metrics", batch_max_seconds=0.2)
    topics(s)
    with running_sink(s, serve_metrics=True) as (sink, _):
        publish_records(s, CLAIMS, [_claim(n, NOW_MS - n, "C-M") for n in range(20)])
        publish_records(s, CLAIMS, [b"garbage"])
        _wait_for(
            lambda: scrape(s).get('hub_sink_rows_inserted_total{table="events"}', 0) == 20,
            30,
            "metrics",
        )
        text = scrape(s)
    for name in (
        'hub_sink_rows_inserted_total{table="events"}',
        "hub_sink_insert_duration_seconds_count",
        'hub_sink_batch_rows_bucket{le="100.0"}',
        "hub_sink_retries_total",
        f'hub_sink_records_skipped_total{{reason="malformed",topic="{CLAIMS}"}}',
        "hub_sink_last_success_timestamp_seconds",
        "hub_sink_buffered_rows",
        "hub_sink_clickhouse_up",
    ):
        assert name in text, name
    assert text["hub_sink_last_success_timestamp_seconds"] > time.time() - 60
    assert sink.stats.records_skipped == 1


# -- rebalance -------------------------------------------------------------------------------


def test_two_sinks_in_one_group_survive_rebalances_exactly_once(
    topics: Callable[[Settings], Settings], hub: Settings
) -> None:
    s = isolated(hub, "rebalance", batch_max_rows=200, batch_max_seconds=0.2)
    topics(s)
    events, truth = generate(GeneratorConfig(seed=9, customers=300, days=10))
    publish_events(s, events[: len(events) // 2])
    with running_sink(s, serve_metrics=False, client_id="sink-a") as (a, stop_a):
        _wait_for(lambda: a.stats.rows_inserted > 0, 30, "sink A to land rows")
        with running_sink(s, serve_metrics=False, client_id="sink-b") as (b, _):
            _wait_for(lambda: bool(b.assigned), 30, "sink B to join the group")
            publish_events(s, events[len(events) // 2 :])
            time.sleep(0.5)
            stop_a.set()  # A leaves: its partitions move to B
            everything = 9 * s.kafka.input_partitions
            _wait_for(lambda: len(b.assigned) == everything, 30, "B to take A's partitions")
            _wait_for(lambda: sink_lag(s) == 0, 60, "everything to land")
    landed = _query(
        s,
        "SELECT count() FROM events_unique WHERE startsWith(topic, %(p)s)",
        p=s.kafka.topic_prefix,
    )
    assert landed == [(truth.total_events,)]
    assert a.stats.records + b.stats.records >= truth.total_records
