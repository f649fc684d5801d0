"""`hub stack up|down|status`."""

from __future__ import annotations

import argparse
import sys
import time

from streams.ops.stack.manager import ServiceStatus, Stack
from streams.ops.stack.process import StackError
from streams.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stack", help="start, stop or inspect the local Kafka, ClickHouse, Prometheus"
    )
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func=_run)


def print_status(rows: list[ServiceStatus]) -> None:
    print(f"{'service':<11} {'state':<10} {'pid':>7}  {'ports':<13} address")
    for r in rows:
        ports = ",".join(str(p) for p in r.ports)
        pid = str(r.pid) if r.pid else "-"
        print(f"{r.name:<11} {r.state:<10} {pid:>7}  {ports:<13} {r.address}")


def _run(args: argparse.Namespace, settings: Settings) -> int:
    stack = Stack(settings)
    if args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.action == "status":
        rows = stack.status()
        print_status(rows)
        return 0 if all(r.ok for r in rows) else 1
    t0 = time.monotonic()
    try:
        rows = stack.up()
    except StackError as exc:
        print(f"hub stack up failed: {exc}", file=sys.stderr)
        return 1
    print_status(rows)
    print(f"stack up in {time.monotonic() - t0:.1f}s (state in {settings.state_dir})")
    return 0 if all(r.ok for r in rows) else 1
