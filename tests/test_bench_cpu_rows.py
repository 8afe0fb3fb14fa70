"""The evaluator benchmarks' figures per CPU second (``bench.alerts.Evaluation.per_cpu_s``)
and their rows in the summary, beside the wall rates; no database."""

from __future__ import annotations

import pytest

from bench.alerts import Evaluation
from bench.repeat import Runs
from bench.summary import evaluation_rows


def _evaluation(group_by_backend: float | None) -> Evaluation:
    return Evaluation(
        outlet_hours=100,
        baseline=Runs((2000.0, 1000.0)),
        evaluator=Runs((200.0, 250.0)),
        prewarmed=True,
        ceiling_outlet_hours=200,
        processes=2,
        evaluators=Runs((400.0, 300.0)),
        cpu={
            "GROUP BY": [(0.001, 0.009), (0.002, group_by_backend)],
            "evaluator": [(0.3, 0.2), (0.25, 0.25)],
            "evaluators": [(0.4, 0.1), (0.2, 0.3)],
        },
    )


def test_per_cpu_second_counts_the_processes_and_their_backends() -> None:
    e = _evaluation(0.018)
    group_by = e.per_cpu_s("GROUP BY")
    assert group_by is not None
    assert group_by.values == pytest.approx((20_000.0, 10_000.0))  # of its 200 outlet-hours
    evaluator = e.per_cpu_s("evaluator")
    assert evaluator is not None
    assert evaluator.values == pytest.approx((200.0, 200.0))  # 100 outlet-hours, 0.5 CPU s


def test_a_side_whose_backend_cannot_be_read_has_no_cpu_figure() -> None:
    assert _evaluation(None).per_cpu_s("GROUP BY") is None
    assert len(evaluation_rows("evaluator", _evaluation(None))) == 2  # the wall rows alone


def test_the_summary_shows_the_cpu_rows_after_the_wall_ones() -> None:
    rows = evaluation_rows("evaluator", _evaluation(0.018))
    assert [r.path for r in rows] == [
        "evaluator, 2 processes",
        "  … one evaluator process",
        "  … per CPU second, 2 processes",
        "  … per CPU second, one process",
    ]
    cpu_two = rows[2]
    assert cpu_two.unit == "outlet-hours/CPU s"
    assert [v for pair in cpu_two.pairs for v in pair] == pytest.approx([200, 20_000, 200, 10_000])
    assert cpu_two.spread() == "1.0 % – 2.0 %"
    assert cpu_two.verdict() == "no (0 of 2)"
