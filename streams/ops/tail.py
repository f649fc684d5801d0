"""``hub tail TOPIC``: a quick look at any input or output topic, one JSON line per record.

Each line carries the Kafka coordinates and the decoded value::

    {"topic": "insurance.claims.v1", "partition": 3, "offset": 41, "timestamp": "...Z",
     "key": "C0000042", "value": {...}}

A record the contract refuses is printed with ``error`` (kind, field, problem) and its raw
bytes in base64 instead of ``value``, so bad input is as visible as good input.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
from typing import TextIO

from schemas import Codec, to_jsonable
from schemas.topics import resolve_topic
from streams.ops.publish import DecodedRecord, consume
from streams.settings import Settings
from streams.simulator.truth import iso


def record_json(rec: DecodedRecord, physical: str) -> str:
    """The JSON line of one consumed record."""
    line: dict[str, object] = {
        "topic": physical,
        "partition": rec.partition,
        "offset": rec.offset,
        "timestamp": iso(rec.timestamp_ms),
        "key": rec.key,
    }
    if rec.error is not None:
        line["error"] = {
            "kind": rec.error.kind,
            "field": rec.error.field,
            "problem": rec.error.problem,
        }
        line["raw_base64"] = base64.b64encode(rec.raw).decode() if rec.raw is not None else None
    else:
        line["value"] = to_jsonable(rec.value)
    return json.dumps(line, ensure_ascii=False)


def tail(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = False,
    max_records: int | None = None,
    timeout_s: float | None = None,
    out: TextIO | None = None,
    codec: Codec | None = None,
) -> int:
    """Print records of ``topic`` (logical name, alias or Kafka name); return how many.

    Follows the topic until ``max_records`` were printed or ``timeout_s`` passed without a
    new record (None: until interrupted).
    """
    stream = out if out is not None else sys.stdout
    logical, physical = resolve_topic(topic, settings)
    printed = 0
    for rec in consume(
        settings,
        [logical],
        codec=codec,
        from_beginning=from_beginning,
        until_end=False,
        max_records=max_records,
        idle_timeout_s=timeout_s if timeout_s is not None else float("inf"),
    ):
        stream.write(record_json(rec, physical) + "\n")
        stream.flush()
        printed += 1
    return printed


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tail",
        help="print a topic's records decoded as JSON lines (with key, partition, offset)",
        description="TOPIC is a logical name (insurance.claims.v1), a short name (claims, "
        "sales, underwriting, servicing, profile, sla-breach, claim-anomaly, dead-letter) or "
        "the Kafka topic name.",
    )
    p.add_argument("topic")
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the oldest record instead of new ones",
    )
    p.add_argument("--max", type=int, default=None, dest="max_records", help="stop after N records")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        dest="timeout_s",
        help="stop after S seconds without a new record (default: follow)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # no per-connection chatter
    try:
        tail(
            settings,
            args.topic,
            from_beginning=args.from_beginning,
            max_records=args.max_records,
            timeout_s=args.timeout_s,
        )
    except KeyError as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
