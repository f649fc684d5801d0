"""`hub worker` under cProfile, every thread: ``python bench/profiled_worker.py OUT_DIR``.

Faust runs its Kafka consumer in a thread of its own (mode's ``ServiceThread``), so a
profiler is started in every thread (through ``threading.setprofile``) as well as in the main
one. Each profiler counts the CPU time of its own thread (``time.thread_time``), not wall
time: time a thread spends waiting (for the network, or for the GIL held by the other
thread) is not booked to whatever function it waits in. When the worker stops (SIGTERM:
Faust shuts down, then the process ends) each thread's statistics go to
``OUT_DIR/<thread>.prof``; :func:`summarise` merges and groups them.

Settings come from the environment (``HUB_*``), exactly as for ``hub worker``.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

Func = tuple[str, int, str]

HUB = "hub code"
MACHINERY = "Faust / aiokafka / asyncio machinery"
IDLE = "idle (event loop waiting in epoll)"
#: Where a function's self time is booked: first match on its file path (or C function name).
#: Functions matching none (C built-ins, stdlib helpers) are booked to their callers' groups.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (IDLE, IDLE, ("select.epoll' objects>",)),
    ("hub: streams/worker/ (agents, commit, send, event time)", HUB, ("/streams/worker/",)),
    ("hub: processor, customer state, SLA, anomalies", HUB, ("/streams/",)),
    ("hub: Avro codec (schemas/, generated encoders)", HUB, ("/schemas/", "<avro ")),
    ("hub: JSON of the customer state (json)", HUB, ("/json/", "_json.")),
    ("hub: Prometheus metrics (prometheus_client)", HUB, ("prometheus_client",)),
    ("Faust tables: RocksDB (rocksdict)", MACHINERY, ("rocksdict", "Rdict")),
    ("faust (stream, agent, table, producer glue)", MACHINERY, ("/faust/",)),
    ("mode (services, supervisors)", MACHINERY, ("/mode/",)),
    ("aiokafka (consumer fetch, producer, protocol)", MACHINERY, ("/aiokafka/",)),
    ("kafka-python (protocol structs)", MACHINERY, ("/kafka/",)),
    ("asyncio event loop (tasks, futures, callbacks)", MACHINERY, ("/asyncio/", "_asyncio")),
)
_BUCKET = {name: bucket for name, bucket, _ in GROUPS}

#: Entry points whose cumulative time per event tells where an event's time goes: (title,
#: file, function, and the synchronous function whose calls count how often it ran: cProfile
#: counts every resumption of a coroutine as a call, so coroutines cannot count themselves;
#: "self" for plain functions, None: not counted).
ENTRY_POINTS: tuple[tuple[str, str, str, tuple[str, str] | str | None], ...] = (
    (
        "whole agent step (hub code and what it calls)",
        "streams/worker/app.py",
        "_on_input",
        ("streams/events.py", "normalise"),
    ),
    ("  decode input (Avro + contract checks)", "schemas/codec.py", "decode", "self"),
    (
        "  processor.on_event (profile, SLA, anomalies)",
        "streams/domain/processor.py",
        "on_event",
        "self",
    ),
    ("  load customer state (table get + JSON)", "streams/worker/app.py", "_load", "self"),
    (
        "  commit: state write + output sends",
        "streams/worker/app.py",
        "_commit",
        ("streams/domain/customer.py", "dumps"),
    ),
    (
        "    table write (RocksDB put + changelog send)",
        "faust/tables/table.py",
        "on_key_set",
        "self",
    ),
    ("    customer state to JSON", "streams/domain/customer.py", "dumps", "self"),
    (
        "    produce one output (encoded before)",
        "streams/worker/emit.py",
        "send",
        ("schemas/codec.py", "encode"),
    ),
    ("    build the profile record", "streams/domain/customer.py", "profile_record", "self"),
    (
        "Faust: hand messages from the fetcher to the stream",
        "faust/transport/consumer.py",
        "_drain_messages",
        None,
    ),
    ("Faust: stream iteration", "faust/streams.py", "_c_aiter", None),
    ("aiokafka: producer send() calls", "aiokafka/producer/producer.py", "send", None),
    (
        "aiokafka: produce requests (one request, one response)",
        "aiokafka/producer/sender.py",
        "_send_produce_req",
        ("aiokafka/producer/sender.py", "create_request"),
    ),
    ("Faust: offset commits", "faust/transport/consumer.py", "commit", None),
)


def classify(func: Func) -> str | None:
    filename, _, name = func
    where = filename if filename != "~" else name
    for group, _bucket, needles in GROUPS:
        if any(n in where for n in needles):
            return group
    return None


def label(func: Func) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    path = filename.split("site-packages/")[-1].replace(str(REPO_ROOT) + "/", "")
    path = path.split("/lib/python3.11/")[-1]
    return f"{path}:{line}({name})"


def _attribute(raw: dict[Any, Any]) -> dict[str, float]:
    """Self time per group; unclassified functions are split among their callers' groups
    (in proportion to the time spent under each caller), recursively."""
    memo: dict[Func, dict[str, float]] = {}

    def owners(func: Func, depth: int) -> dict[str, float]:
        """Fractions of ``func``'s time that belong to each group."""
        group = classify(func)
        if group is not None:
            return {group: 1.0}
        if func in memo:
            return memo[func]
        callers: dict[Any, Any] = raw[func][4] if func in raw else {}
        weights = {c: v[3] for c, v in callers.items() if c in raw and c != func}
        total = sum(weights.values())
        if depth > 8 or not total:
            out = {"other (unattributed C built-ins, stdlib)": 1.0}
        else:
            out = defaultdict(float)
            for caller, w in weights.items():
                for g, frac in owners(caller, depth + 1).items():
                    out[g] += frac * w / total
            out = dict(out)
        memo[func] = out
        return out

    groups: dict[str, float] = defaultdict(float)
    for func, v in raw.items():
        for g, frac in owners(func, 0).items():
            groups[g] += v[2] * frac
    return groups


def summarise(files: Iterable[Path], events: int, top: int = 15) -> dict[str, Any]:
    """Busy time by group and bucket (hub vs machinery); per-event cost of entry points."""
    files = list(files)
    per_thread: dict[str, float] = {}
    merged: pstats.Stats | None = None
    for f in files:
        st = pstats.Stats(str(f))
        per_thread[f.stem] = round(float(st.total_tt), 2)  # type: ignore[attr-defined]
        if merged is None:
            merged = st
        else:
            merged.add(st)
    if merged is None:
        return {"error": "no profile written"}
    raw: dict[Any, Any] = merged.stats  # type: ignore[attr-defined]
    groups = _attribute(raw)
    idle = groups.pop(IDLE, 0.0)
    busy = sum(groups.values())
    buckets: dict[str, float] = defaultdict(float)
    for g, t in groups.items():
        buckets[_BUCKET.get(g, "other")] += t

    def find(path: str, name: str) -> list[Any]:
        return [v for f, v in raw.items() if f[0].endswith(path) and f[2] == name]

    per_event: dict[str, dict[str, float | None]] = {}
    for title, path, name, counter in ENTRY_POINTS:
        matches = find(path, name)
        if not matches:
            continue
        best = max(matches, key=lambda v: v[3])
        counted = None
        if counter == "self":
            counted = best
        elif isinstance(counter, tuple):
            counted = max(find(*counter), key=lambda v: v[1], default=None)
        per_event[title] = {
            "us": round(best[3] / events * 1e6, 1),
            "calls": round(counted[1] / events, 2) if counted is not None else None,
        }
    top_self = [
        {"function": label(f), "self_s": round(v[2], 2), "calls": v[1]}
        for f, v in sorted(raw.items(), key=lambda kv: -kv[1][2])
        if classify(f) != IDLE
    ][:top]
    return {
        "events": events,
        "busy_seconds_all_threads": round(busy, 2),
        "idle_seconds_in_epoll": round(idle, 2),
        "seconds_per_thread": per_thread,
        "busy_us_per_event": round(busy / events * 1e6, 1),
        "share_of_busy_pct": {
            b: round(100 * t / busy, 1) for b, t in sorted(buckets.items(), key=lambda kv: -kv[1])
        },
        "busy_by_group_pct": {
            g: round(100 * t / busy, 1) for g, t in sorted(groups.items(), key=lambda kv: -kv[1])
        },
        "per_event": per_event,
        "top_self_time": top_self,
    }


def _main(out_dir: Path) -> int:
    sys.path.insert(0, str(REPO_ROOT))
    out_dir.mkdir(parents=True, exist_ok=True)
    profiles: list[tuple[threading.Thread, cProfile.Profile]] = []

    def start_in_thread(frame: FrameType, event: str, arg: Any) -> None:
        """First profile event of a new thread: replace this hook by a cProfile profiler."""
        sys.setprofile(None)
        prof = cProfile.Profile(time.thread_time)
        profiles.append((threading.current_thread(), prof))
        prof.enable()

    threading.setprofile(start_in_thread)
    from streams.ops.cli import main

    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    try:
        return int(main(["worker"]))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        prof.disable()
        prof.dump_stats(str(out_dir / "main.prof"))
        for i, (thread, p) in enumerate(profiles):
            # A thread still running (the metrics HTTP server) is skipped: its profiler is
            # still active and cannot be read safely from here. It only serves scrapes.
            thread.join(timeout=5)
            if not thread.is_alive():
                safe = "".join(c if c.isalnum() else "_" for c in thread.name)[:40]
                p.dump_stats(str(out_dir / f"thread{i}-{safe}.prof"))


if __name__ == "__main__":
    raise SystemExit(_main(Path(sys.argv[1])))
