"""Trust no source: thousands of malformed records mixed into a valid run change nothing else.

The same generator run is fed to two real workers in the same way (the backfill, then the
window in time order at a pace the worker keeps up with); the second also gets
HUB_FUZZ_RECORDS (10,000 by default) malformed records interleaved at random: random bytes,
truncated Avro, wrong types, another topic's Avro, missing and extra fields, invalid UTF-8,
control and bidi characters in ids, null and mismatched keys, far-future and 1970 times,
oversized strings and records, negative amounts, empty values and tombstones. The worker must
never exit, dead-letter each malformed record exactly once with the kind it deserves, and
give the valid records the very profiles, breaches, outcomes and anomalies of the clean run.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from support.fuzz_records import Malformed, malformed_records
from support.harness import HubProcess, isolated, wait_for
from support.outputs import Outputs, publish, read_outputs, split_backfill, wait_settled, worker_lag

from schemas import Codec
from streams.settings import Settings
from streams.simulator import GeneratorConfig, generate
from streams.simulator.model import GeneratedEvent
from streams.worker.topics import ensure_worker_topics

CONFIG = GeneratorConfig(
    seed=11,
    customers=400,
    days=21,
    duplicate_share=0.03,
    out_of_order_share=0.03,
    max_out_of_order_s=240,  # inside allowed_lateness_seconds (300)
    high_frequency_claimants=3,
    provider_spikes=1,
    early_claims=4,
    complaints_per_customer_year=1.0,
    malformed_bad_bytes=0,
    malformed_schema_invalid=0,
    malformed_unknown_type=0,
)
FUZZ_RECORDS = int(os.environ.get("HUB_FUZZ_RECORDS", "10000"))
RATE = 250.0  # valid records per second in the window


def _feed(
    s: Settings, window: list[GeneratedEvent], bad: list[Malformed], seed: int
) -> dict[tuple[str, int, int], Malformed]:
    """The window at RATE, the bad records spread between its records; their coordinates."""
    rng = random.Random(seed)
    slots: dict[int, list[Malformed]] = {}
    for m in bad:
        slots.setdefault(rng.randrange(len(window) + 1), []).append(m)
    codec = Codec()
    producer = KafkaProducer(
        bootstrap_servers=s.kafka.bootstrap, linger_ms=5, max_request_size=4 * 1024 * 1024
    )
    futures: list[tuple[Any, Malformed]] = []
    t0 = time.monotonic()
    prefix = s.kafka.topic_prefix
    try:
        for i in range(len(window) + 1):
            for m in slots.get(i, ()):
                futures.append((producer.send(prefix + m.topic, key=m.key, value=m.value), m))
            if i == len(window):
                break
            ahead = t0 + i / RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            ev = window[i]
            producer.send(prefix + ev.topic, key=ev.key.encode(), value=ev.encode(codec))
        producer.flush()
    finally:
        producer.close()
    coords = {}
    for fut, m in futures:
        md = fut.get(timeout=30)
        coords[(md.topic, md.partition, md.offset)] = m
    return coords


def _run(
    settings: Settings, tmp: Path, events: list[GeneratedEvent], bad: list[Malformed]
) -> tuple[Outputs, dict[tuple[str, int, int], Malformed], bool, str]:
    s = isolated(settings, tmp)
    ensure_worker_topics(s)
    worker = HubProcess(s, ["worker"], tmp / "worker.log")
    try:
        wait_for(lambda: "recovered" in worker.log.read_text(), 120, "worker ready", worker)
        backfill, window = split_backfill(CONFIG, events)
        publish(s, backfill)
        wait_for(lambda: worker_lag(s) == 0, 120, "the backfill processed", worker)
        coords = _feed(s, window, bad, seed=5)
        wait_settled(s, worker, timeout_s=300)
        out = read_outputs(s, [s.prometheus.worker_metrics_port])
        alive = worker.alive()
    finally:
        worker.stop()
    return out, coords, alive, worker.log.read_text()


def test_malformed_records_are_dead_lettered_once_and_change_nothing_else(
    settings: Settings, tmp_path: Path
) -> None:
    events, _ = generate(CONFIG)
    bad = malformed_records(events, FUZZ_RECORDS, seed=7)
    assert len(bad) == FUZZ_RECORDS
    assert len({m.category for m in bad}) == 18

    clean, _, clean_alive, _ = _run(settings, tmp_path / "clean", events, [])
    fuzzed, coords, alive, log = _run(settings, tmp_path / "fuzzed", events, bad)

    assert clean_alive and alive, "a worker exited"
    assert clean.dead == []
    # Exactly one dead letter per malformed record, with the kind it deserves.
    seen = Counter((d["topic"], d["partition"], d["offset"]) for d in fuzzed.dead)
    assert [k for k, n in seen.items() if n > 1] == []
    assert set(seen) == set(coords)
    wrong = [
        (coords[k].category, coords[k].kind, d["error_kind"], d["reason"][:120])
        for d in fuzzed.dead
        if coords[(k := (d["topic"], d["partition"], d["offset"]))].kind != d["error_kind"]
    ]
    assert wrong == []
    assert "processing_error" not in log
    # Bounded dead letters: an oversized record keeps a prefix, its size and its hash.
    big = [d for d in fuzzed.dead if d["error_kind"] == "too_large"]
    assert big and all(len(d["value"]) <= 16_384 < d["value_size"] for d in big)
    # The valid records' results are those of the clean run.
    assert fuzzed.latest_profiles() == clean.latest_profiles()
    assert set(fuzzed.unique(fuzzed.breaches, "breach_id")) == set(
        clean.unique(clean.breaches, "breach_id")
    )
    assert set(fuzzed.unique(fuzzed.outcomes, "outcome_id")) == set(
        clean.unique(clean.outcomes, "outcome_id")
    )
    assert fuzzed.anomaly_contents() == clean.anomaly_contents()
    assert clean.breaches and clean.anomalies  # the comparison is not vacuous
