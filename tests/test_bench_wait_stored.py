"""How often the end-to-end benchmark counts the committed frames: a run ends at the first count
that sees its last frame, so the counts come close together where the last commit is due."""

from __future__ import annotations

from bench.ingest import FINE_POLL_S, POLL_S, poll_after_s


def test_far_from_the_end_it_counts_every_poll_s() -> None:
    assert poll_after_s(0.0, 0, 5000) == POLL_S  # nothing stored yet: no rate to go by
    assert poll_after_s(0.1, 500, 20_000) == POLL_S  # 3.9 s left at this rate


def test_near_the_end_it_counts_sooner() -> None:
    # 4,500 of 5,000 in 0.6 s: the last 500 due in ~0.067 s, counted again after an eighth of it
    assert poll_after_s(0.6, 4500, 5000) < 0.01
    assert poll_after_s(0.6, 4500, 5000) >= FINE_POLL_S


def test_once_the_last_commit_is_due_it_counts_every_fine_poll_s() -> None:
    assert poll_after_s(0.7, 4999, 5000) == FINE_POLL_S
    assert poll_after_s(0.7, 5000, 5000) == FINE_POLL_S
