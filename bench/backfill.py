"""Backfill benchmark: minute data of many outlet-days judged from scratch by the evaluator,
beside the ceiling (a SQL GROUP BY computing the same hourly averages), and what the issue's
size - 30 days of minute data for 100 outlets, 72,000 outlet-hours - takes at those rates.

    python -m bench.backfill                       # 10 outlets × 3 days (720 outlet-hours)
    python -m bench.backfill --outlets 100 --days 30   # the issue's size (long today)

The minutes (SO₂ and O₂ of ultra-low-emission coal boilers) are written by the real writer
(``bench.alerts.load_minutes``), which queues every outlet-hour for evaluation, into a fresh
database; the evaluator then drains the queue as it would after a logger's backlog or a recall.
Settings: SOURCEWATCH_BENCH_DSN (admin DSN; a fresh database is created and dropped).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from bench.alerts import bench_evaluation
from bench.ingest import fresh_database

ISSUE_OUTLETS, ISSUE_DAYS = 100, 30


@dataclass(frozen=True)
class BackfillFigures:
    outlets: int
    days: int
    outlet_hours: int
    baseline_s: float
    evaluator_s: float

    @property
    def evaluator_per_s(self) -> float:
        return self.outlet_hours / self.evaluator_s

    @property
    def baseline_per_s(self) -> float:
        return self.outlet_hours / self.baseline_s


def measure(outlets: int = 10, days: int = 3) -> BackfillFigures:
    admin = os.environ.get("SOURCEWATCH_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    with fresh_database(admin, outlets=outlets) as url:
        baseline, ours, outlet_hours = bench_evaluation(url, outlets, days * 24)
    return BackfillFigures(outlets, days, outlet_hours, baseline, ours)


def report(figures: BackfillFigures) -> None:
    f = figures
    issue_hours = ISSUE_OUTLETS * ISSUE_DAYS * 24
    print(  # noqa: T201
        f"backfill: {f.outlets} outlets × {f.days} days of minute data "
        f"({f.outlet_hours:,} outlet-hours) judged from scratch:"
    )
    for what, seconds, rate in (
        ("ceiling: SQL GROUP BY of the same minutes", f.baseline_s, f.baseline_per_s),
        ("evaluator: means, coverage, limits, cases", f.evaluator_s, f.evaluator_per_s),
    ):
        print(  # noqa: T201
            f"  {what:<44} {seconds:8.2f} s {rate:10,.0f} outlet-hours/s"
            f"   → {ISSUE_OUTLETS} outlets × {ISSUE_DAYS} days: {issue_hours / rate / 60:7.1f} min"
        )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outlets", type=int, default=10)
    parser.add_argument("--days", type=int, default=3)
    return parser


def main() -> None:
    args = parser().parse_args()
    report(measure(args.outlets, args.days))


if __name__ == "__main__":
    main()
