"""The worker's Prometheus metrics, owned by one object (no module-level registry state)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.events = Counter(
            "hub_worker_events_consumed_total", "Input events accepted, by topic and event type",
            ["topic", "event_type"], registry=r,
        )  # fmt: skip
        self.duplicates = Counter(
            "hub_worker_duplicate_events_total", "Events ignored because their event_id was seen",
            ["topic"], registry=r,
        )  # fmt: skip
        self.dead_letters = Counter(
            "hub_worker_dead_letters_total", "Input records sent to the dead-letter topic",
            ["topic", "reason"], registry=r,
        )  # fmt: skip
        self.send_failures = Counter(
            "hub_worker_send_failures_total",
            "Dead letters that could not be produced (logged with the input's coordinates)",
            registry=r,
        )
        self.state_pruned = Counter(
            "hub_worker_state_pruned_total",
            "Oldest entries dropped from customer states over their caps, by part",
            ["part"], registry=r,
        )  # fmt: skip
        self.breaches = Counter(
            "hub_worker_sla_breaches_total", "SLA obligations breached at their deadline",
            ["rule", "segment"], registry=r,
        )  # fmt: skip
        self.outcomes = Counter(
            "hub_worker_sla_obligations_closed_total", "SLA obligations closed, met or late",
            ["rule", "segment", "outcome"], registry=r,
        )  # fmt: skip
        self.attainment = Gauge(
            "hub_worker_sla_attainment_ratio",
            "Share of obligations closed within the limit (since this worker started)",
            ["rule"], registry=r,
        )  # fmt: skip
        self.open_obligations = Gauge(
            "hub_worker_sla_open_obligations",
            "Deadline checks pending in this worker's partitions (closed ones leave lazily)",
            registry=r,
        )  # fmt: skip
        self.anomalies = Counter(
            "hub_worker_anomalies_total", "Claim anomalies detected", ["kind"], registry=r
        )
        self.outbox_resent = Counter(
            "hub_worker_outbox_resent_total",
            "Output records re-sent from the state after taking partitions over (a crash or "
            "a rebalance), in case their previous owner had not delivered them",
            registry=r,
        )  # fmt: skip
        self.profiles = Gauge(
            "hub_worker_profiles", "Customer profiles held by this worker", registry=r
        )
        self.event_lag = Histogram(
            "hub_worker_event_time_lag_seconds",
            "Wall time at processing minus the event's occurred_at",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.processing = Histogram(
            "hub_worker_processing_seconds", "Time from record ingest (broker timestamp) to output",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.watermark = Gauge(
            "hub_worker_watermark_timestamp_seconds", "Event-time watermark per partition",
            ["partition"], registry=r,
        )  # fmt: skip
        self.consumer_lag = Gauge(
            "hub_worker_consumer_lag", "Input records not yet processed, per topic and partition",
            ["topic", "partition"], registry=r,
        )  # fmt: skip
        self._met: dict[str, list[int]] = {}
        self._events: dict[tuple[str, str], Any] = {}  # the counter's children, looked up once

    def event(self, topic: str, event_type: str) -> None:
        """Count an applied event (per event: the labelled child is looked up once)."""
        child = self._events.get((topic, event_type))
        if child is None:
            child = self._events[(topic, event_type)] = self.events.labels(topic, event_type)
        child.inc()

    def outcome(self, kind: str, rule: str, segment: str) -> None:
        """Count a breach or a closed obligation; attainment counts each obligation once."""
        if kind == "breached":
            self.breaches.labels(rule, segment).inc()
        else:
            self.outcomes.labels(rule, segment, kind).inc()
        if kind in ("breached", "met"):
            counts = self._met.setdefault(rule, [0, 0])
            counts[0] += int(kind == "met")
            counts[1] += 1
            self.attainment.labels(rule).set(counts[0] / counts[1])

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)
