"""The sink's pure parts: errors told apart, personal data kept out of reasons, inserts split
by partition (tests/integration/test_sink_landing.py runs the sink itself)."""

from __future__ import annotations

import datetime as dt
import time

from clickhouse_driver import errors

from sinks.clickhouse.columns import Column, Table, redact_reason
from sinks.clickhouse.writer import is_data_error, partition_chunks


def test_data_errors_are_told_from_unavailability() -> None:
    assert is_data_error(errors.TypeMismatchError("Column x: bad"))
    assert is_data_error(errors.ServerException("Cannot parse", code=6))
    assert not is_data_error(errors.NetworkError("Connection refused"))
    assert not is_data_error(ConnectionRefusedError())
    assert not is_data_error(errors.ServerException("Table doesn't exist", code=60))
    assert not is_data_error(errors.ServerException("Memory limit", code=241))


def test_reasons_naming_personal_fields_are_redacted() -> None:
    reason = "insurance.sales.v1: field 'phone': expected string, got int 13800138000"
    assert "13800138000" not in redact_reason(reason, "phone")
    other = "insurance.claims.v1: field 'claimed_amount': -1 is below the minimum 0"
    assert redact_reason(other, "claimed_amount") == other


def test_inserts_spanning_many_months_are_split_by_partition() -> None:
    base = int(dt.datetime(2000, 1, 15, tzinfo=dt.UTC).timestamp())
    rows = [(f"e{m}", base + m * 31 * 86_400) for m in range(250)]
    columns = tuple(Column(name, lambda r, m: None) for name in ("id", "occurred_at"))
    table = Table("t", columns, "occurred_at")
    chunks = partition_chunks(table, rows)  # type: ignore[arg-type]
    assert sum(len(c) for c in chunks) == 250 and len(chunks) == 3
    months = [{time.gmtime(r[1])[:2] for r in c} for c in chunks]
    assert all(len(m) <= 90 for m in months)
    assert partition_chunks(table, rows[:50]) == [rows[:50]]  # type: ignore[arg-type]
