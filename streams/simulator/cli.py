"""``hub generate``: publish a synthetic insurer to the input topics."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import MISSING, fields
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from streams.settings import Settings

from .config import GeneratorConfig
from .recording import record, replay
from .runner import REALTIME, SIMULATED, RunResult, run, summary

#: the config's plain defaults, read off its fields: building a GeneratorConfig here would load
#: the SLA rules whenever the ``hub`` command starts
_DEFAULTS = SimpleNamespace(
    **{f.name: f.default for f in fields(GeneratorConfig) if f.default is not MISSING}
)

#: (flag, config field, type, help) of the injection knobs
_KNOBS: list[tuple[str, str, type, str]] = [
    ("--late-share", "late_share", float, "share of SLA obligations completed late"),
    ("--missing-share", "missing_share", float, "share of SLA obligations never completed"),
    ("--duplicate-share", "duplicate_share", float, "share of events published twice"),
    ("--out-of-order-share", "out_of_order_share", float, "share of events published late"),
    ("--max-out-of-order-s", "max_out_of_order_s", int, "largest out-of-order delay (sim s)"),
    ("--high-frequency-claimants", "high_frequency_claimants", int, "customers filing many claims"),
    ("--provider-spikes", "provider_spikes", int, "providers with a one-day claim spike"),
    ("--early-claims", "early_claims", int, "claims right after policy start"),
    ("--early-claim-days", "early_claim_days", int, "what counts as right after start (days)"),
    ("--malformed-bad-bytes", "malformed_bad_bytes", int, "records that are not events at all"),
    ("--malformed-schema-invalid", "malformed_schema_invalid", int, "events breaking the schema"),
    (
        "--malformed-unknown-type",
        "malformed_unknown_type",
        int,
        "events with an unknown event_type",
    ),
    ("--json-share", "json_share", float, "share of events sent as JSON instead of Avro"),
]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "generate",
        help="publish a synthetic insurer (deterministic per seed) to the input topics",
        description="Publish a synthetic insurer's events. Creates the topics if missing. "
        "Prints a summary and what was injected; --ground-truth writes it as JSON.",
    )
    p.add_argument("--customers", type=int, default=_DEFAULTS.customers)
    p.add_argument("--days", type=float, default=_DEFAULTS.days, help="simulated days")
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    p.add_argument(
        "--start",
        default=_DEFAULTS.start.isoformat(),
        help="simulated start (ISO-8601 with offset)",
    )
    p.add_argument(
        "--clock",
        choices=(SIMULATED, REALTIME),
        default=SIMULATED,
        help="simulated: event time is simulated time; realtime: event time is now",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="realtime clock: records per second (default %(default)s)",
    )
    p.add_argument(
        "--speedup",
        type=float,
        default=0.0,
        help="simulated clock: simulated seconds per wall second "
        "(21600 = 30 days in 2 minutes; 0 = as fast as possible)",
    )
    p.add_argument("--max-records", type=int, default=None, help="stop after this many records")
    p.add_argument(
        "--no-backfill",
        action="store_true",
        help="do not publish the policies already in force before the window",
    )
    p.add_argument("--ground-truth", metavar="PATH", help="write the ground truth as JSON here")
    files = p.add_mutually_exclusive_group()
    files.add_argument(
        "--record",
        metavar="FILE",
        help="write the run's encoded records to FILE instead of publishing",
    )
    files.add_argument(
        "--replay",
        metavar="FILE",
        help="publish a recorded run (fast: for benchmarks); ignores config flags",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    knobs = p.add_argument_group("injections")
    for flag, name, kind, text in _KNOBS:
        knobs.add_argument(
            flag,
            dest=name,
            type=kind,
            default=getattr(_DEFAULTS, name),
            help=f"{text} (default %(default)s)",
        )
    p.set_defaults(func=_run)


def config_from_args(args: argparse.Namespace) -> GeneratorConfig:
    """The GeneratorConfig the parsed arguments describe."""
    names = {f.name for f in fields(GeneratorConfig)}
    knobs = {name: getattr(args, name) for _, name, _, _ in _KNOBS if name in names}
    return GeneratorConfig(
        seed=args.seed,
        customers=args.customers,
        days=args.days,
        start=datetime.fromisoformat(args.start),
        backfill=not args.no_backfill,
        **knobs,
    )


def _run(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # no per-connection chatter
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress = False if args.no_progress else None
    if (args.record or args.replay) and args.clock == REALTIME:
        print("error: --record/--replay work on the simulated clock only", file=sys.stderr)
        return 2
    if args.record:
        started = time.monotonic()
        truth = record(config, args.record)
        size = Path(args.record).stat().st_size
        result = RunResult(truth, truth.total_records, size, time.monotonic() - started)
        print(f"recorded {truth.total_records:,} records to {args.record}")
    elif args.replay:
        result = replay(args.replay, settings, speedup=args.speedup, progress=progress)
    else:
        result = run(
            config,
            settings,
            clock=args.clock,
            speedup=args.speedup,
            rate=args.rate,
            max_records=args.max_records,
            progress=progress,
        )
    summary(result)
    if args.ground_truth:
        result.ground_truth.write(args.ground_truth)
        print(f"ground truth written to {args.ground_truth}")
    else:
        print(json.dumps({"ground_truth": "use --ground-truth PATH to save it"}))
    return 0
