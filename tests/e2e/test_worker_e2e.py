"""Generator ground truth → a real `hub worker` → output topics, compared exactly.

The generator plans a small insurer with every injected fault (duplicates, out-of-order
deliveries, late and missing completions, malformed records, high-frequency claimants,
provider spikes, early claims) and records what the hub must report. The worker runs as a
subprocess against the real local Kafka; its output topics are read back and compared.

The data is fed the way a live hub sees it: the backfill (the book of policies issued
before the window: one burst of old sales events) is published and processed first, then
the window's records follow in time order at a pace the worker keeps up with, so that all
four topics of a partition stay active. A worker started on a large backlog instead
currently gets some results wrong (its watermark can run ahead of a topic it has not read
yet, and a claim can be read before the policy it is on): a known worker defect, outside
what these tests assert. For a live stream they check the hub's promises exactly.

Out-of-order deliveries are delayed by at most 4 minutes, inside the rules' allowed
lateness (5 minutes): that is the contract under which results must be exact.
"""

from __future__ import annotations

from pathlib import Path

from support.ground_truth import check_against_ground_truth
from support.harness import HubProcess, isolated, wait_for
from support.outputs import publish, read_outputs, scrape, split_backfill, wait_settled, worker_lag

from streams.settings import Settings
from streams.simulator import GeneratorConfig, generate
from streams.simulator.model import GeneratedEvent
from streams.worker.topics import ensure_worker_topics

#: Small, with every fault raised so that each kind appears in a few hundred events.
E2E_CONFIG = GeneratorConfig(
    seed=20260202,
    customers=600,
    days=21,
    late_share=0.15,
    missing_share=0.06,
    duplicate_share=0.03,
    out_of_order_share=0.03,
    max_out_of_order_s=240,  # inside allowed_lateness_seconds (300)
    high_frequency_claimants=4,
    provider_spikes=2,
    early_claims=8,
    complaints_per_customer_year=1.0,
)


# -- feeding the worker -------------------------------------------------------------------


def feed_live(
    s: Settings,
    config: GeneratorConfig,
    events: list[GeneratedEvent],
    worker: HubProcess,
    *,
    rate: float = 250.0,
) -> None:
    """Backfill, wait until the worker has it, then the window in time order at `rate`/s."""
    backfill, window = split_backfill(config, events)
    assert window and window[0].emit_ms >= config.start_ms
    publish(s, backfill)
    wait_for(lambda: worker_lag(s) == 0, 120, "the backfill processed", worker)
    publish(s, window, rate=rate)


# -- the test -------------------------------------------------------------------------------


def test_generated_run_matches_ground_truth(settings: Settings, tmp_path: Path) -> None:
    s = isolated(settings, tmp_path)
    ensure_worker_topics(s)
    events, gt = generate(E2E_CONFIG)
    assert gt.complete
    worker = HubProcess(s, ["worker"], tmp_path / "worker.log")
    try:
        feed_live(s, E2E_CONFIG, events, worker)
        wait_settled(s, worker)
        out = read_outputs(s, [s.prometheus.worker_metrics_port])
        metrics = scrape(s.prometheus.worker_metrics_port)
    finally:
        worker.stop()
    check_against_ground_truth(s, events, gt, out, metrics)
