"""Backfill benchmark: minute data of many outlet-days judged from scratch by the evaluator,
beside the ceiling (a SQL GROUP BY computing such hourly averages, per outlet-hour, see
bench.alerts), and what the issue's size - 30 days of minute data for 100 outlets, 72,000
outlet-hours - takes at those rates.

    python -m bench.backfill                       # 10 outlets × 3 days (720 outlet-hours)
    python -m bench.backfill --outlets 100 --days 30   # the issue's size (long today)

The minutes (SO₂ and O₂ of ultra-low-emission coal boilers, shaped as loggers send them:
``bench.alerts.minute_values``) are written by the real writer
(``bench.alerts.load_minutes``), which queues every outlet-hour for evaluation, into a fresh
database, vacuumed and analysed; the evaluator (in as many processes as deployed, and in
one) then drains the queue as it would after a logger's backlog or a recall, ``--repeats``
times, each time on a fresh copy of that database, alternating with the ceiling
(``bench.alerts.bench_evaluation``, on a connection that has drained other outlets' minutes
first, as the product's long-lived one has); medians are reported, with their spread.
Settings: SOURCEWATCH_BENCH_DSN (admin DSN; a fresh database is created and dropped).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from bench.alerts import (
    REPEATS,
    WARM_OUTLETS,
    Evaluation,
    bench_evaluation,
    report_evaluation,
)
from bench.ingest import fresh_database

ISSUE_OUTLETS, ISSUE_DAYS = 100, 30


@dataclass(frozen=True)
class BackfillFigures:
    outlets: int
    days: int
    evaluation: Evaluation


def measure(outlets: int = 10, days: int = 3, repeats: int = REPEATS) -> BackfillFigures:
    admin = os.environ.get("SOURCEWATCH_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    with fresh_database(admin, outlets=outlets + WARM_OUTLETS) as url:
        evaluation = bench_evaluation(admin, url, outlets, days * 24, repeats)
    return BackfillFigures(outlets, days, evaluation)


def report(figures: BackfillFigures) -> None:
    f, e = figures, figures.evaluation
    issue_hours = ISSUE_OUTLETS * ISSUE_DAYS * 24
    report_evaluation(
        e,
        f"backfill: {f.outlets} outlets × {f.days} days of minute data "
        f"({e.outlet_hours:,} outlet-hours) judged from scratch",
        lambda rate: (
            f"   → {ISSUE_OUTLETS} outlets × {ISSUE_DAYS} days: {issue_hours / rate / 60:.1f} min"
        ),
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outlets", type=int, default=10)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help="rounds of the evaluator and its ceiling"
    )
    parser.add_argument(
        "--quick", action="store_true", help="the summary's quick size: 5 outlets × 2 days"
    )
    return parser


QUICK = (5, 2)  # outlets, days of ``python -m bench --quick``


def main() -> None:
    args = parser().parse_args()
    outlets, days = QUICK if args.quick else (args.outlets, args.days)
    report(measure(outlets, days, args.repeats))


if __name__ == "__main__":
    main()
