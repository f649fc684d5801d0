"""ClickHouse landing: the analytics schema, the sink and the documented queries.

- ``sinks.clickhouse.migrate``: ``migrate(settings)`` applies ``migrations/*.sql``.
- ``sinks.clickhouse.sink``: ``run_sink(settings, stop, exit_when_idle=...)``,
  ``ClickHouseSink`` and ``lag(settings)``.
- ``sinks.clickhouse.rows``: record → row mapping and the keyed hashing of personal data.
- ``sinks.clickhouse.queries``: the documented queries in ``queries/*.sql``.
"""
