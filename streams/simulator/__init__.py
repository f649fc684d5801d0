"""The synthetic insurer: ``generate_events`` (pure, deterministic) and ``run`` (to Kafka)."""

from __future__ import annotations

from .config import SLA_RULES, GeneratorConfig, SlaFigures
from .model import GeneratedEvent, InsurerSimulation, generate, generate_events
from .truth import GroundTruth, SlaObligation

__all__ = [
    "SLA_RULES",
    "GeneratedEvent",
    "GeneratorConfig",
    "GroundTruth",
    "InsurerSimulation",
    "SlaFigures",
    "SlaObligation",
    "generate",
    "generate_events",
]
