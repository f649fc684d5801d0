"""`hub worker`: run one worker process until it is stopped."""

from __future__ import annotations

import argparse
import gc
import logging
from collections.abc import Callable

from streams.kafka_admin import committed_offsets
from streams.settings import Settings
from streams.worker import local_state
from streams.worker.app import HubWorker, worker_datadir
from streams.worker.topics import ensure_worker_topics

log = logging.getLogger("insurance_hub.worker")


def run(settings: Settings, wire: Callable[[HubWorker], None] | None = None) -> None:
    """Run one worker until it is stopped (SIGTERM/SIGINT).

    ``wire``: called with the worker before it starts, to add to it (commit hooks, say).
    """
    import mode.loop
    from faust.worker import Worker

    # uvloop: Faust's per-message cost is mostly event-loop callbacks (measured in bench/).
    mode.loop.use("uvloop")
    datadir = worker_datadir(settings)
    running = datadir.parent / f"{settings.worker.worker_id}.running"
    unclean = running.exists()
    if unclean:
        log.warning("previous run did not stop cleanly: checking its RocksDB against Kafka")
    datadir.parent.mkdir(parents=True, exist_ok=True)
    worker = HubWorker(settings)
    local_state.prepare(
        (worker.customers, worker.clock_table),
        (worker.providers,),
        settings.kafka.input_partitions,
        worker.input_topics,
        unclean,
        lambda: _committed(settings),
    )
    running.touch()
    if wire is not None:
        wire(worker)
    worker.metrics.serve(settings.prometheus.metrics_host, settings.prometheus.worker_metrics_port)
    # A full collection walks every tracked object: what exists now (modules, the app)
    # lives as long as the process, so out of the collector's sight; and a batch allocates
    # thousands of short-lived objects, so the young generations are collected less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        Worker(worker.app, loglevel="info", quiet=True).execute_from_commandline()
    finally:
        running.unlink(missing_ok=True)  # reached on a clean stop (SIGTERM/SIGINT), not on SIGKILL


def _committed(settings: Settings) -> local_state.Committed:
    found = committed_offsets(settings.kafka.bootstrap, settings.worker.app_id)
    return {(tp.topic, tp.partition): offset for tp, offset in found.items()}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run the streaming worker (profiles, SLAs, anomalies)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    ensure_worker_topics(settings)
    run(settings)
    return 0
