"""`hub sink` and `hub clickhouse migrate|query|queries`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from streams.settings import Settings

if TYPE_CHECKING:
    from sinks.clickhouse.batching import Buffer

log = logging.getLogger("insurance_hub.sink")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sink`` and ``clickhouse`` subcommands."""
    p = sub.add_parser(
        "sink",
        help="land the hub's topics in ClickHouse (batched; offsets committed after insert)",
    )
    p.add_argument(
        "--exit-when-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit once nothing arrived for SECONDS and everything read has landed and "
        "been committed (tests, demo); default: run until SIGTERM/SIGINT",
    )
    p.add_argument(
        "--instance-id",
        default=None,
        help="static consumer-group member id (one per sink process): a restarted sink "
        "resumes at once instead of after the dead member's session timeout",
    )
    p.add_argument(
        "--no-migrate", action="store_true", help="do not apply pending migrations on start"
    )
    p.add_argument(
        "--no-metrics", action="store_true", help="do not serve /metrics (HUB_SINK_METRICS_PORT)"
    )
    p.set_defaults(func=run_sink)

    p = sub.add_parser("clickhouse", help="ClickHouse schema and the documented queries")
    actions = p.add_subparsers(dest="clickhouse_action", required=True)
    actions.add_parser("migrate", help="apply pending schema migrations (idempotent)")
    q = actions.add_parser("query", help="run a documented query as the read-only user")
    q.add_argument("name", help="query name, e.g. open_breaches (see `hub clickhouse queries`)")
    q.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a query parameter, e.g. --param customer_id=C-000042",
    )
    q.add_argument("--sql", action="store_true", help="print the SQL instead of running it")
    actions.add_parser("queries", help="list the documented queries")
    actions.add_parser("lag", help="records the sink has not committed yet")
    p.set_defaults(func=_run_ch)


def run_sink(
    args: argparse.Namespace,
    settings: Settings,
    *,
    after_insert: Callable[[Buffer], None] | None = None,
) -> int:
    """``hub sink``: run until SIGTERM/SIGINT (or idle); ``after_insert`` goes to the sink."""
    from sinks.clickhouse.sink import ClickHouseSink

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: flushing, committing and stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sink = ClickHouseSink(
        settings,
        serve_metrics=not args.no_metrics,
        migrate_on_start=not args.no_migrate,
        instance_id=args.instance_id,
        after_insert=after_insert,
    )
    stats = sink.run(stop, exit_when_idle=args.exit_when_idle)
    log.info(
        "sink done: %d records read, %d rows landed, %d rejected to dead_letter, "
        "%d invalid input records skipped",
        stats.records, stats.rows_inserted, stats.rows_rejected, stats.records_skipped,
    )  # fmt: skip
    return 0


def _run_ch(args: argparse.Namespace, settings: Settings) -> int:
    from sinks.clickhouse.migrate import migrate, reader_client
    from sinks.clickhouse.queries import format_table, get_query, load_queries

    if args.clickhouse_action == "migrate":
        applied = migrate(settings)
        for m in applied:
            print(f"applied {m.path.name}")
        print(f"schema of {settings.clickhouse.database} is current ({len(applied)} applied)")
        return 0
    if args.clickhouse_action == "queries":
        for dq in load_queries():
            params = f"  (params: {', '.join(dq.params)})" if dq.params else ""
            print(f"{dq.name:<28} [{dq.team}] {dq.title}{params}")
        return 0
    if args.clickhouse_action == "lag":
        from sinks.clickhouse.routes import subscribed_topics
        from streams.kafka_admin import total_lag

        print(
            total_lag(settings.kafka.bootstrap, settings.sink.group_id, subscribed_topics(settings))
        )
        return 0
    dq = get_query(args.name)
    values = dict(kv.split("=", 1) for kv in args.param)
    try:
        sql = dq.render(values)
    except KeyError as exc:
        print(f"error: {exc.args[0]}")
        return 2
    if args.sql:
        print(sql)
        return 0
    client = reader_client(settings)
    try:
        rows, types = client.execute(sql, with_column_types=True)
    finally:
        client.disconnect()
    print(format_table([name for name, _ in types], rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m sinks.cli sink|clickhouse ...``: these commands without the rest of `hub`."""
    args = parse(argv)
    return int(args.func(args, Settings.from_env()))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments of ``python -m sinks.cli``, with its logging set up."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m sinks.cli")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
