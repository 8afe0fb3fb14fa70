"""The repeated measurements of the benchmarks (``bench.repeat``) and how the summary table
shows them (``bench.summary``): pure functions, no timing."""

from __future__ import annotations

import pytest

from bench.repeat import Runs, pair_ratios, round_order, rounds
from bench.summary import Figure, at_least, ours_at_least, repeated, table


def test_rounds_alternate_the_order_of_the_sides() -> None:
    assert list(rounds(["copy", "writer", "e2e"], 3)) == [
        (0, "copy"),
        (0, "writer"),
        (0, "e2e"),
        (1, "e2e"),
        (1, "writer"),
        (1, "copy"),
        (2, "copy"),
        (2, "writer"),
        (2, "e2e"),
    ]
    assert round_order(("GROUP BY", "evaluator"), 1) == ["evaluator", "GROUP BY"]


def test_every_side_runs_once_a_round_and_first_as_often_as_last() -> None:
    sides = ["a", "b"]
    order = list(rounds(sides, 4))
    assert [side for _, side in order].count("a") == 4
    firsts = [round_order(sides, i)[0] for i in range(4)]
    assert firsts.count("a") == firsts.count("b") == 2


def test_runs_give_median_spread_and_the_median_round() -> None:
    runs = Runs((5.0, 1.0, 9.0, 3.0, 7.0))
    assert (runs.median, runs.low, runs.high, len(runs)) == (5.0, 1.0, 9.0, 5)
    assert runs.median_index() == 0
    even = Runs((4.0, 1.0, 3.0, 2.0))
    assert even.median == 2.5
    assert even.values[even.median_index()] == 2.0  # the lower middle one


def test_runs_are_described_with_their_count_and_range() -> None:
    assert Runs((1200.0, 1000.0, 1100.0)).describe(lambda v: f"{v:,.0f}") == (
        "median 1,100 (3 runs: 1,000–1,200)"
    )
    assert Runs((7.0,)).describe(str) == "7.0"


def test_pair_ratios_are_taken_round_by_round() -> None:
    assert pair_ratios(Runs((1.0, 3.0)), Runs((10.0, 20.0))) == (0.1, 0.15)
    with pytest.raises(ValueError, match="2 runs of ours against 1"):
        pair_ratios(Runs((1.0, 3.0)), Runs((10.0,)))


def test_a_repeated_figure_shows_medians_the_rounds_ratios_and_rounds_met() -> None:
    figure = repeated(
        "evaluator",
        Runs((150.0, 250.0, 180.0)),
        Runs((1000.0, 1000.0, 1000.0)),
        "outlet-hours/s",
        "percent",
        "≥ 20 % of GROUP BY",
        at_least(0.2),
    )
    assert (figure.ours, figure.ceiling) == (180.0, 1000.0)
    assert figure.cells() == [
        "evaluator",
        "180",
        "1,000",
        "outlet-hours/s",
        "18.0 %",
        "15.0 % – 25.0 %",
        "≥ 20 % of GROUP BY",
        "no (1 of 3)",
    ]


def test_a_single_figure_has_no_rounds_to_show() -> None:
    figure = Figure("codec", 50_000.0, None, "frames/s", "", "≥ 30,000", ours_at_least(30_000))
    assert figure.cells()[4:] == ["", "", "≥ 30,000", "yes"]


def test_the_table_has_a_column_for_the_rounds() -> None:
    figure = repeated(
        "writer",
        Runs((60.0, 70.0)),
        Runs((100.0, 100.0)),
        "values/s",
        "times",
        "≥ 0.5×",
        at_least(0.5),
    )
    head, _rule, row = table([figure]).splitlines()
    assert "rounds' ratios" in head and "met (rounds)" in head
    assert "0.60× – 0.70×" in row and row.endswith("yes (2 of 2)")
