"""The figures of issue 16 in one table: ours, the ceiling measured in the same run, the ratio,
the goal, and whether it is met. ``python -m bench`` (and ``make bench``) runs every benchmark
at its defaults, prints each one's own report as it finishes, then this table.

The writer, end-to-end and evaluator rows come from rounds in which ours and its ceiling ran
alternately (:mod:`bench.repeat`; ingest 5 rounds with ``--quick``, 7 otherwise; the evaluator
9): each side is the median of its rounds, the ratio is the medians' ratio, "rounds' ratios"
the lowest and highest of the rounds' own ratios, and "met" says in how many rounds the goal was
met too. A verdict met in 2 rounds of 5 is one that a re-run may well reverse. The API rows are
percentiles of many requests each, and the other rows single measurements. The machine's load
average is given at the start and at the end: end to end needs more of the cores than the
writer alone, and a run under load lowers its ratio in every round alike.

    python -m bench                          # everything, at each benchmark's defaults
    python -m bench --quick                  # everything, smaller (about a quarter of the time;
                                             # storage at its own size either way)
    python -m bench --only codec,storage     # some of: codec ingest alerts backfill api storage
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from alerts.settings import AlertsSettings
from bench import alerts, api, backfill, codec, ingest, storage
from bench.repeat import Runs, pair_ratios

STEPS = ("codec", "ingest", "alerts", "backfill", "api", "storage")


@dataclass(frozen=True)
class Figure:
    """One row: ``ours`` beside ``ceiling``; the goal is on the ratio, or on ``ours`` alone.
    A repeated figure (:func:`repeated`) also keeps each round's pair, so that the row shows
    how far the rounds' ratios spread and in how many of them the goal was met."""

    path: str
    ours: float | None
    ceiling: float | None
    unit: str
    ratio: str  # "percent" (ours / ceiling as %), "times" (ours / ceiling), "" (none)
    goal: str  # as the issue words it
    met: Callable[[float, float | None], bool]  # (ours, ratio) -> goal reached
    pairs: tuple[tuple[float, float], ...] = ()  # (ours, ceiling) of each round, if repeated

    def ratio_value(self) -> float | None:
        if self.ours is None or not self.ceiling or not self.ratio:
            return None
        return self.ours / self.ceiling

    def shown(self, ratio: float) -> str:
        return f"{ratio * 100:.1f} %" if self.ratio == "percent" else f"{ratio:.2f}×"

    def spread(self) -> str:
        """The lowest and highest of the rounds' ratios."""
        if not self.pairs or not self.ratio:
            return ""
        ours, ceiling = (Runs(side) for side in zip(*self.pairs, strict=True))
        ratios = pair_ratios(ours, ceiling)
        return f"{self.shown(min(ratios))} – {self.shown(max(ratios))}"

    def verdict(self) -> str:
        """Met or not by the medians; for a repeated figure, also in how many of its rounds."""
        if self.ours is None:
            return ""
        met = "yes" if self.met(self.ours, self.ratio_value()) else "no"
        if not self.pairs:
            return met
        rounds = sum(self.met(o, o / c if c and self.ratio else None) for o, c in self.pairs)
        return f"{met} ({rounds} of {len(self.pairs)})"

    def cells(self) -> list[str]:
        ratio = self.ratio_value()
        return [
            self.path,
            number(self.ours),
            number(self.ceiling),
            self.unit,
            "" if ratio is None else self.shown(ratio),
            self.spread(),
            self.goal,
            self.verdict(),
        ]


def repeated(
    path: str,
    ours: Runs,
    ceiling: Runs,
    unit: str,
    ratio: str,
    goal: str,
    met: Callable[[float, float | None], bool],
) -> Figure:
    """A figure of alternating rounds: each side its median, and the rounds' pairs."""
    pairs = tuple(zip(ours.values, ceiling.values, strict=True))
    return Figure(path, ours.median, ceiling.median, unit, ratio, goal, met, pairs)


def number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def at_least(goal: float) -> Callable[[float, float | None], bool]:
    return lambda _ours, ratio: ratio is not None and ratio >= goal


def at_most(goal: float) -> Callable[[float, float | None], bool]:
    return lambda _ours, ratio: ratio is not None and ratio <= goal


def ours_at_least(goal: float) -> Callable[[float, float | None], bool]:
    return lambda ours, _ratio: ours >= goal


def ours_at_most(goal: float) -> Callable[[float, float | None], bool]:
    return lambda ours, _ratio: ours <= goal


# --- Each benchmark's rows ---------------------------------------------------------------------


def codec_rows(f: codec.CodecFigures) -> list[Figure]:
    return [
        Figure(
            "codec, typical 9-value frames, one core",
            f.typical_per_s,
            None,
            "frames/s",
            "",
            "≥ 30,000",
            ours_at_least(30_000),
        )
    ]


def ingest_rows(f: ingest.IngestFigures) -> list[Figure]:
    copy, writer = f.runs_of("ceiling"), f.runs_of("writer alone")
    off, on = (
        f.runs_of("writer, completeness record off"),
        f.runs_of("writer, completeness record on"),
    )
    if copy is None or writer is None or off is None or on is None:
        return []
    rows = [
        repeated(
            "writer alone (COPY + merge)",
            writer,
            copy,
            "values/s",
            "percent",
            "≥ 50 % of COPY",
            at_least(0.5),
        ),
        repeated(
            "writer with the completeness record",
            on,
            off,
            "values/s",
            "percent",
            "≥ 90 % of it off",
            at_least(0.9),
        ),
    ]
    for what, runs in f.runs.items():
        if what.startswith("end to end"):
            broker = what.removeprefix("end to end: ").split(" ")[0]
            rows.append(
                repeated(
                    f"ingest end to end ({broker})",
                    runs,
                    copy,
                    "values/s",
                    "percent",
                    "≥ 25 % of COPY",
                    at_least(0.25),
                )
            )
            rows.append(
                repeated(
                    f"  … beside the writer alone ({broker})",
                    runs,
                    writer,
                    "values/s",
                    "percent",
                    "≥ 50 % of writer",
                    at_least(0.5),
                )
            )
    return rows


def evaluation_rows(path: str, e: alerts.Evaluation) -> list[Figure]:
    """The evaluator as deployed (its number of processes), then one process alone, beside
    the same ceiling measured in the same rounds; then, where the backends' CPU can be read,
    the same per CPU second of each side (its processes' and their backends'), a figure that
    other work on the machine moves far less than the wall rates (bench/README.md,
    nineteenth round), though one that does not count the deployed side's parallelism."""
    goal = "≥ 20 % of GROUP BY"
    rows = [
        repeated(what, runs, e.baseline, "outlet-hours/s", "percent", goal, at_least(0.2))
        for what, runs in (
            (f"{path}, {e.processes} processes", e.evaluators),
            ("  … one evaluator process", e.evaluator),
        )
    ]
    ceiling = e.per_cpu_s("GROUP BY")
    for what, side in ((f"{e.processes} processes", "evaluators"), ("one process", "evaluator")):
        ours = e.per_cpu_s(side)
        if ours is not None and ceiling is not None:
            rows.append(
                repeated(
                    f"  … per CPU second, {what}",
                    ours,
                    ceiling,
                    "outlet-hours/CPU s",
                    "percent",
                    goal,
                    at_least(0.2),
                )
            )
    return rows


def alerts_rows(f: alerts.AlertsFigures) -> list[Figure]:
    return evaluation_rows(f"evaluator ({f.evaluation.outlet_hours:,} outlet-hours)", f.evaluation)


def backfill_rows(f: backfill.BackfillFigures) -> list[Figure]:
    return evaluation_rows(f"evaluator backfill ({f.outlets} outlets × {f.days} d)", f.evaluation)


def api_rows(f: api.ApiFigures) -> list[Figure]:
    (page, page_sql), (csv, csv_sql), _search = f.results
    return [
        Figure(
            "hourly series, JSON page of 1,000, p50",
            page.p50_ms,
            page_sql.p50_ms,
            "ms",
            "times",
            "≤ 1.5× the SQL",
            at_most(1.5),
        ),
        Figure(
            f"hourly series, CSV of {min(f.args.days, 366) * 24:,} points, p50",
            csv.p50_ms,
            csv_sql.p50_ms,
            "ms",
            "times",
            "≤ 1.5× the SQL",
            at_most(1.5),
        ),
        Figure(
            f"JSON page, {f.args.concurrency} concurrent clients vs 1",
            page.concurrent_per_s,
            page.per_s,
            "req/s",
            "times",
            "≥ 1.6× on 2 cores",
            at_least(1.6),
        ),
        *(
            []
            if f.memory is None
            else [
                Figure(
                    f"API peak RSS, {f.memory.raw_days} days of raw values vs 1",
                    f.memory.peak_all_kib / 1024,
                    f.memory.peak_day_kib / 1024,
                    "MiB",
                    "times",
                    "flat (≤ 1.1× a day's)",
                    at_most(1.1),
                )
            ]
        ),
    ]


def storage_rows(f: storage.StorageFigures) -> list[Figure]:
    plain = f.per_row(f.plain)
    ours = None if f.timescaledb is None else f.per_row(f.timescaledb)
    return [
        Figure(
            f"storage, TimescaleDB compressed, all-in ({f.outlets} outlets × {f.days} d)",
            ours,
            plain,
            "bytes/row",
            "percent",
            "≤ 8 bytes per row",
            ours_at_most(8),
        )
    ]


Runner = tuple[Callable[[bool], Any], Callable[[Any], None], Callable[[Any], list[Figure]]]
QUICK_API = ["--outlets", "100", "--requests", "50", "--csv-requests", "5"]
QUICK_INGEST_REPEATS = 5  # ingest's rounds are the long ones (the evaluator's: a second)
RUNS: dict[str, Runner] = {
    "codec": (lambda q: codec.measure(5_000 if q else 20_000), codec.report, codec_rows),
    "ingest": (
        lambda q: ingest.measure(
            5_000 if q else 20_000, repeats=QUICK_INGEST_REPEATS if q else ingest.REPEATS
        ),
        ingest.report,
        ingest_rows,
    ),
    "alerts": (
        lambda q: alerts.measure(*(alerts.QUICK if q else (40, 50, 24))),
        alerts.report,
        alerts_rows,
    ),
    "backfill": (
        lambda q: backfill.measure(*(backfill.QUICK if q else (10, 3))),
        backfill.report,
        backfill_rows,
    ),
    "api": (
        lambda q: api.measure(api.parser().parse_args(QUICK_API if q else [])),
        api.report,
        api_rows,
    ),
    "storage": (  # its defaults either way: at 2 outlets × 1 day the fixed size of each
        # chunk's relations was a third of the figure (bench/README.md, fifteenth round)
        lambda q: storage.measure(),
        storage.report,
        storage_rows,
    ),
}


# --- The table ---------------------------------------------------------------------------------


def machine(load_at_start: float) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            names = [
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    admin = os.environ.get("SOURCEWATCH_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        with psycopg.connect(admin) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        server = f"PostgreSQL {row[0] if row else '?'}"
    except psycopg.Error:
        server = "PostgreSQL unreachable"
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {server}, "
        f"{AlertsSettings().evaluator_count()} evaluator processes (as `sourcewatch alerts` "
        "runs here), "
        f"load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )


def table(figures: list[Figure]) -> str:
    head = [
        "path",
        "sourcewatch",
        "ceiling, same run",
        "unit",
        "ratio",
        "rounds' ratios",
        "goal",
        "met (rounds)",
    ]
    rows = [head, *(f.cells() for f in figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = {1, 2, 4, 5}
    lines = []
    for k, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(" │ ".join(cells).rstrip())
        if k == 0:
            lines.append("─┼─".join("─" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(STEPS), help="comma-separated steps")
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes (storage: its own size either way)"
    )
    args = parser.parse_args()
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    started, load = datetime.now(UTC), os.getloadavg()[0]
    figures: list[Figure] = []
    for step in steps:
        measure, report, rows = RUNS[step]
        print(f"\n== {step}", flush=True)  # noqa: T201
        result = measure(args.quick)
        report(result)
        figures += rows(result)
    size = "quick sizes" if args.quick else "default sizes"
    print(f"\n== summary, {started:%Y-%m-%d %H:%M} UTC, {size}, {machine(load)}")  # noqa: T201
    print(table(figures))  # noqa: T201
