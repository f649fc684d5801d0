"""The outbox's bookkeeping: what a change keeps, and what a worker taking partitions over
re-sends (tests/e2e/test_outbox_takeover.py runs a real takeover)."""

from __future__ import annotations

import json

from streams.worker import outbox

A_BREACH = ("sla-breach", "C1", {"breach_id": "b1"})
AN_OUTCOME = ("sla-outcome", "C1", {"outcome_id": "o1"})


def stored(box: list[list[object]]) -> list[list[object]]:
    """As it comes back from the table: through JSON, so tuples are lists."""
    return json.loads(json.dumps(box))


def test_an_input_with_no_outputs_leaves_no_entry() -> None:
    box: list[list[object]] = []
    outbox.record(box, ("claims", 3, 17), [])
    assert box == []


def test_entries_at_or_after_the_committed_offset_are_kept() -> None:
    box: list[list[object]] = []
    outbox.record(box, ("claims", 3, 16), [A_BREACH])
    outbox.record(box, ("claims", 3, 17), [AN_OUTCOME])
    outbox.record(box, ("ticks", 3, 5), [A_BREACH])
    kept = outbox.uncommitted(stored(box), {("claims", 3): 17, ("ticks", 3): 9})
    assert [e[:3] for e in kept] == [["claims", 3, 17]]
    # A partition with no commit yet keeps everything.
    assert len(outbox.uncommitted(stored(box), {})) == 3


def test_a_change_keeps_the_uncommitted_entries_and_adds_its_own() -> None:
    box: list[list[object]] = []
    outbox.record(box, ("claims", 3, 16), [A_BREACH])
    outbox.record(box, ("claims", 3, 17), [AN_OUTCOME])
    after = outbox.after_change(stored(box), {("claims", 3): 17}, ("sales", 3, 40), [A_BREACH])
    assert [e[:3] for e in after] == [["claims", 3, 17], ["sales", 3, 40]]


def test_only_partitions_taken_over_are_resent_from_their_committed_offset() -> None:
    box: list[list[object]] = []
    outbox.record(box, ("claims", 3, 16), [A_BREACH])
    outbox.record(box, ("claims", 3, 17), [A_BREACH, AN_OUTCOME])
    outbox.record(box, ("sales", 3, 40), [AN_OUTCOME])
    committed = {("claims", 3): 17, ("sales", 3): 40}
    resent = list(outbox.to_resend(stored(box), committed, {("claims", 3), ("sales", 3)}))
    assert [tuple(o) for o in resent] == [A_BREACH, AN_OUTCOME, AN_OUTCOME]
    # Partitions this process already owned: its own producer delivers their outputs.
    assert list(outbox.to_resend(stored(box), committed, {("underwriting", 3)})) == []
