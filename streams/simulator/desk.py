"""The base of every part of the simulated insurer: the shared engine and world, bound."""

from __future__ import annotations

from .engine import Engine
from .world import World


class Desk:
    """One part of the insurer (sales, underwriting, claims, servicing, injected signals).

    It plans its lifecycles on the shared ``Engine`` and reads the shared ``World``; the
    engine's tools are bound here under short names.
    """

    def __init__(self, engine: Engine, world: World) -> None:
        self.engine = engine
        self.world = world
        self.cfg = engine.cfg
        self.rng = engine.rng
        self.at = engine.at
        self.event = engine.event
        self.next_id = engine.next_id
        self.choice = engine.choice
        self.pick = engine.pick
        self.uniform_ms = engine.uniform_ms
