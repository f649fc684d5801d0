"""The sink's Prometheus metrics and the counts one run returns."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SinkMetrics:
    """The sink's Prometheus metrics, in a registry the sink owns."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.rows_inserted = Counter(
            "hub_sink_rows_inserted", "Rows ClickHouse acknowledged, by table", ["table"],
            registry=r,
        )  # fmt: skip
        self.insert_duration = Histogram(
            "hub_sink_insert_duration_seconds",
            "Duration of one INSERT (one batch or one bisection piece), retries excluded",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_rows = Histogram(
            "hub_sink_batch_rows",
            "Rows per flushed batch",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000),
            registry=r,
        )
        self.retries = Counter(
            "hub_sink_retries", "INSERT or commit attempts repeated after a failure", registry=r
        )
        self.rows_rejected = Counter(
            "hub_sink_rows_rejected",
            "Records that could not land in their table (refused by ClickHouse, or unreadable"
            " on an output topic), sent to dead_letter instead, by table",
            ["table"],
            registry=r,
        )
        self.records_skipped = Counter(
            "hub_sink_records_skipped",
            "Invalid input records not landed (the worker dead-letters them), by reason",
            ["topic", "reason"],
            registry=r,
        )
        self.last_success = Gauge(
            "hub_sink_last_success_timestamp_seconds",
            "Unix time of the last INSERT ClickHouse acknowledged",
            registry=r,
        )
        self.commit_failures = Counter(
            "hub_sink_commit_failures",
            "Offset commits refused (rebalance) or failed; re-delivered rows are deduplicated",
            registry=r,
        )
        self.buffered_rows = Gauge(
            "hub_sink_buffered_rows", "Rows read but not yet landed", registry=r
        )
        self.clickhouse_up = Gauge(
            "hub_sink_clickhouse_up",
            "1 when the last INSERT attempt reached ClickHouse",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "hub_sink_consumer_lag",
            "Records not yet landed and committed, per topic and partition",
            ["topic", "partition"],
            registry=r,
        )


@dataclass
class SinkStats:
    """What one run did (returned by :meth:`ClickHouseSink.run`)."""

    records: int = 0
    rows_inserted: int = 0
    rows_rejected: int = 0
    records_skipped: int = 0
    commits: int = 0
