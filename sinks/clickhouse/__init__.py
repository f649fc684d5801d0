"""ClickHouse landing: the analytics schema, the sink and the documented queries.

- ``sinks.clickhouse.migrate``: ``migrate(settings)`` applies ``migrations/*.sql``.
- ``sinks.clickhouse.sink``: ``ClickHouseSink`` and ``run_sink(settings, stop, ...)``, tying
  together ``consumer`` (Kafka: poll, rebalances, commits), ``batching`` (per-table buffers),
  ``writer`` (INSERTs, retries, bisection, dead letters) and ``metrics``.
- ``sinks.clickhouse.routes``: topic → table, from the topic registry; ``subscribed_topics``.
- ``sinks.clickhouse.columns``: each table's columns with their extractors, and the keyed
  hashing of personal data.
- ``sinks.clickhouse.queries``: the documented queries in ``queries/*.sql``.
"""
