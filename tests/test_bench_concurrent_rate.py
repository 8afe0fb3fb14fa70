"""bench.api's 4-client rate: a request in flight when the first client is done counts for the
part of it done by then, not for nothing (bench/README.md, twenty-third round)."""

from __future__ import annotations

import pytest

from bench.api import _done_by


def test_ended_requests_count_whole() -> None:
    assert _done_by([0.0, 1.0, 2.0], 2.0) == 2
    assert _done_by([0.0, 1.0, 2.0], 5.0) == 2


def test_the_request_in_flight_counts_for_its_elapsed_part() -> None:
    # one download each, begun at 0: the one ending at 4 is three quarters done at 3
    assert _done_by([0.0, 4.0], 3.0) == pytest.approx(0.75)
    # from the end of the one before, not from the start
    assert _done_by([0.0, 1.0, 3.0], 2.0) == pytest.approx(1.5)
    assert _done_by([0.0, 1.0, 3.0], 0.5) == pytest.approx(0.5)
