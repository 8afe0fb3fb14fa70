"""The traffic generator: enterprises + seed + time range → the uploads their loggers would send.

Pure and deterministic (no I/O, no clock): the same arguments give the same messages, byte for
byte, and any instant reads the same whichever range it is generated in. Messages come in send
order: a 2011 real-time upload every ``interval_s`` (on a grid aligned to the epoch), a 2051
minute upload when each minute ends and a 2061 hour upload when each hour ends. A 2011 is
included when its instant is in [start, end); a 2051/2061 when its whole interval is.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .aggregate import Interval, hour_values, minute_values
from .episodes import Episode, EpisodeKind, EpisodeRates
from .frames import SimMessage, corrupt, upload
from .noise import key, unit
from .signals import OutletModel, Reading
from .timebase import HOUR_MS, MINUTE_MS, to_ms

__all__ = ["TrafficConfig", "generate_traffic"]

_QN_OFFSET = {"2011": 0, "2051": 200, "2061": 400}  # ms: keeps QNs of one MN unique
_SALT_QN, _SALT_JSON, _SALT_CORRUPT = key("qn"), key("json"), key("corrupt")


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    """Knobs of the traffic. Fractions are per message; episode rates per outlet per day."""

    json_fraction: float = 0.0  # uploads sent as JSON on sourcewatch/v1/{MN}/data
    corrupt_rate: float = 0.0  # messages broken on the way (note "corrupt:…")
    episodes: EpisodeRates = field(default_factory=EpisodeRates)

    def __post_init__(self) -> None:
        for name in ("json_fraction", "corrupt_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for kind in EpisodeKind:
            if self.episodes.of(kind) < 0:
                raise ValueError(f"{kind} rate must be >= 0, got {self.episodes.of(kind)}")


def _items(readings: Mapping[str, Reading]) -> dict[str, dict[str, str]]:
    items: dict[str, dict[str, str]] = {}
    for code, r in readings.items():
        fields = {"Rtd": str(r.value)}
        if r.zs is not None:
            fields["ZsRtd"] = str(r.zs)
        fields["Flag"] = r.flag
        items[code] = fields
    return items


def _note(tags: Iterable[str]) -> str:
    return ",".join(dict.fromkeys(tags))


class _Outlet:
    """An outlet with its pending hour: the minute values and notes of the current hour."""

    def __init__(self, model: OutletModel) -> None:
        self.model = model
        self.minutes: list[dict[str, Interval]] = []
        self.tags: list[str] = []


def _message(
    o: OutletModel,
    cn: str,
    data_ms: int,
    send_ms: int,
    items: Mapping[str, Mapping[str, str]],
    note: str,
    config: TrafficConfig,
) -> SimMessage:
    n = data_ms * 10_000 + int(cn)  # one counter per upload
    jitter = int(unit(o.key ^ _SALT_QN, n) * 200)
    message = upload(
        mn=o.mn,
        pw=o.password,
        st=o.st,
        cn=cn,
        data_ms=data_ms,
        qn_ms=send_ms + _QN_OFFSET[cn] + jitter,
        items=items,
        note=note,
        as_json=unit(o.key ^ _SALT_JSON, n) < config.json_fraction,
    )
    if unit(o.key ^ _SALT_CORRUPT, n) < config.corrupt_rate:
        message = corrupt(message, random.Random(o.key ^ n))
    return message


def generate_traffic(
    enterprises: Iterable[Mapping[str, Any]],
    *,
    seed: int,
    start: datetime,
    end: datetime | None = None,
    interval_s: float = 30.0,
    config: TrafficConfig | None = None,
) -> Iterator[SimMessage]:
    """Yield the uploads of every active outlet of ``enterprises`` in [start, end), in send order.

    ``enterprises`` are registry JSON dicts (``make_enterprises`` or a registry file). Naive
    datetimes are Asia/Shanghai local time. Without ``end`` the stream never ends.
    ``interval_s`` (1-60 s) is the real-time interval; every minute gets at least one value.
    """
    if not 1.0 <= interval_s <= 60.0:
        raise ValueError(f"real-time interval must be 1-60 s, got {interval_s}")
    config = config or TrafficConfig()
    rates = config.episodes
    outlets = [
        _Outlet(OutletModel(o, seed))
        for e in enterprises
        for o in e.get("outlets", [])
        if o.get("active", True)
    ]
    if not outlets:
        return
    start_ms = to_ms(start)
    end_ms = None if end is None else to_ms(end)
    step = round(interval_s * 1000)
    heap: list[tuple[int, str, int, int, SimMessage]] = []
    seq = itertools.count()

    def push(send_ms: int, index: int, message: SimMessage) -> None:
        heapq.heappush(heap, (send_ms, message.cn, index, next(seq), message))

    def within(t0: int, t1: int) -> bool:  # [t0, t1) inside [start, end)
        return t0 >= start_ms and (end_ms is None or t1 <= end_ms)

    minute = start_ms - start_ms % MINUTE_MS
    while end_ms is None or minute < end_ms:
        ticks = range(-(-minute // step) * step, minute + MINUTE_MS, step)
        for index, outlet in enumerate(outlets):
            o = outlet.model
            if minute % HOUR_MS == 0:
                outlet.minutes, outlet.tags = [], []
            episodes: list[Episode] = o.episodes(minute, rates)
            tags = [e.tag for e in episodes]
            note = _note(tags)
            silent = any(e.kind is EpisodeKind.OUTAGE for e in episodes)
            samples = [] if silent else [o.sample(t, episodes) for t in ticks]
            for t, readings in zip(ticks, samples, strict=False):
                if within(t, t + 1):
                    push(t, index, _message(o, "2011", t, t, _items(readings), note, config))
            end_of_minute = minute + MINUTE_MS
            if samples and within(minute, end_of_minute):
                values = minute_values(o.factors, o.kind, samples, interval_s)
                items = {code: v.fields() for code, v in values.items()}
                msg = _message(o, "2051", minute, end_of_minute, items, note, config)
                push(end_of_minute, index, msg)
                outlet.minutes.append(values)
                outlet.tags += tags
            hour = end_of_minute - HOUR_MS
            if end_of_minute % HOUR_MS == 0 and outlet.minutes and within(hour, end_of_minute):
                values = hour_values(o.factors, o.kind, outlet.minutes)
                items = {code: v.fields() for code, v in values.items()}
                msg = _message(o, "2061", hour, end_of_minute, items, _note(outlet.tags), config)
                push(end_of_minute, index, msg)
        minute += MINUTE_MS
        while heap and heap[0][0] < minute:
            yield heapq.heappop(heap)[-1]
    while heap:
        yield heapq.heappop(heap)[-1]
