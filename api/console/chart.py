"""The case page's chart, drawn on the server as inline SVG (no script needed): hourly means
(measured and, where there is one, converted to the reference O₂) against the limit, invalid
hours shaded grey, the hour in progress (not ended: :mod:`schemas.core.periods`) light blue and
not as invalid, times on the x axis in Asia/Shanghai."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas.core.localtime import LOCAL_TZ

__all__ = ["Chart", "draw"]

WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 20, 40


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    measured: str = ""  # SVG polyline points
    converted: str = ""
    limit_y: float | None = None
    invalid: list[dict[str, float]] = field(default_factory=list)  # shaded hours
    in_progress: list[dict[str, float]] = field(default_factory=list)  # the running hour
    x_ticks: list[dict[str, Any]] = field(default_factory=list)
    y_ticks: list[dict[str, Any]] = field(default_factory=list)
    points: int = 0
    data: dict[str, Any] = field(default_factory=dict)  # the same means for uPlot (console.js)


def _nice_top(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    return float((int(value / step) + 1) * step)


def draw(
    rows: list[dict[str, Any]], limit: Decimal | None, start: datetime, end: datetime
) -> Chart:
    """``rows``: hourly means (``hour_start``, ``mean``, ``converted``, ``valid``,
    ``in_progress``); an hour in progress is shaded as such, whatever its ``valid`` so far."""
    chart = Chart(points=len(rows))
    values = [float(v) for r in rows for v in (r["mean"], r["converted"]) if v is not None]
    top = _nice_top(max([*values, float(limit) if limit is not None else 0.0, 1.0]) * 1.1)
    span = max((end - start).total_seconds(), 3600.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return round(LEFT + plot_w * (at - start).total_seconds() / span, 1)

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - value / top), 1)

    half = timedelta(minutes=30)  # a mean is drawn at the middle of its hour
    for key in ("mean", "converted"):
        line = " ".join(
            f"{x(r['hour_start'] + half)},{y(float(r[key]))}" for r in rows if r[key] is not None
        )
        setattr(chart, "measured" if key == "mean" else "converted", line)
    width = round(plot_w * 3600 / span, 1)
    for r in rows:
        if r["in_progress"] or not r["valid"]:
            shaded = chart.in_progress if r["in_progress"] else chart.invalid
            shaded.append({"x": x(r["hour_start"]), "w": width})
    hour = timedelta(hours=1)
    chart.data = {
        "start": start.timestamp(),
        "end": end.timestamp(),
        "limit": None if limit is None else float(limit),
        "points": [
            {  # period-ending, as the API and the portal's charts give means
                "t": (r["hour_start"] + hour).timestamp(),
                "mean": None if r["mean"] is None else float(r["mean"]),
                "converted": None if r["converted"] is None else float(r["converted"]),
                "valid": bool(r["valid"]),
                "in_progress": bool(r["in_progress"]),
            }
            for r in rows
        ],
    }
    if limit is not None:
        chart.limit_y = y(float(limit))
    chart.y_ticks = [{"y": y(top * i / 4), "label": f"{top * i / 4:g}"} for i in range(5)]
    step = max(1, int(span // 3600 // 8))
    tick = start.astimezone(LOCAL_TZ).replace(minute=0, second=0, microsecond=0)
    while tick <= end:
        if tick >= start:
            chart.x_ticks.append({"x": x(tick), "label": tick.strftime("%m-%d %H:%M")})
        tick += timedelta(hours=step)
    return chart
