"""`hub worker`: run one worker process until it is stopped."""

from __future__ import annotations

import argparse
import logging
import shutil
from collections.abc import Callable

from streams.settings import Settings
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
    if running.exists():
        # Killed last time: local RocksDB may hold writes whose changelog records and
        # outputs never reached Kafka. Rebuild the tables from the changelog instead.
        log.warning("previous run did not stop cleanly: rebuilding tables from the changelog")
        shutil.rmtree(datadir, ignore_errors=True)
    datadir.parent.mkdir(parents=True, exist_ok=True)
    running.touch()
    worker = HubWorker(settings)
    if wire is not None:
        wire(worker)
    worker.metrics.serve(settings.prometheus.metrics_host, settings.prometheus.worker_metrics_port)
    try:
        Worker(worker.app, loglevel="info", quiet=True).execute_from_commandline()
    finally:
        running.unlink(missing_ok=True)  # reached on a clean stop (SIGTERM/SIGINT), not on SIGKILL


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run the streaming worker (profiles, SLAs, anomalies)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    ensure_worker_topics(settings)
    run(settings)
    return 0
