"""Turns one MQTT message into what ingest stores: accepted frames with their rows, or
rejections for the dead-letter table. Pure: the outlet lookup is passed in.

Topics (docs/architecture.md#mqtt-topics):
- ``hj212/{MN}/up``: one or more raw HJ 212 frames (CR LF optional);
- ``sourcewatch/v1/{MN}/data``: the same content as JSON (``schemas/codes/uplink.schema.json``).

What is refused or set aside (issue 15, docs/protocol.md#real-device-pitfalls):

- a frame whose ``DataTime`` is more than ``future_tolerance`` ahead of its arrival is a dead
  letter with reason ``future``: one frame dated 9999 would otherwise stay the outlet's latest
  data for good;
- a value flag that is not a code of ``data_flags`` (``schemas/codes/data/flags.csv``, any
  standard, any case) and an ``EFlag`` that is not 1–8 letters or digits are not stored as
  flags: the value is stored without a flag (never valid), the text as sent kept in ``extra``
  under ``Flag``/``EFlag``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, cast

from pydantic import ValidationError

from ingest.hj212 import (
    CPShape,
    Frame,
    FrameError,
    HJ212Error,
    iter_packets,
    parse_data_time,
    parse_number,
    parse_packet,
    plain_numbers,
    reply_9013,
    reply_9014,
)
from ingest.hj212.cp import SHAPE_MAX_KEYS
from ingest.outlets import FindOutlet, Outlet
from ingest.records import (
    Accepted,
    AcceptedDraft,
    MeasurementRow,
    MeasurementRowDraft,
    Rejected,
    digest,
)
from schemas.codes.pollutants import Medium, legacy_codes, load_flags
from schemas.codes.uplink import JsonUpload

__all__ = [
    "DATA_KINDS",
    "FUTURE_TOLERANCE",
    "JSON_TOPIC",
    "RAW_TOPIC",
    "accept_frame",
    "decode_message",
    "topic_mn",
]

RAW_TOPIC = "hj212/+/up"
JSON_TOPIC = "sourcewatch/v1/+/data"

# HJ 212-2017 Table 9: the upload commands that carry pollutant values, and what they hold.
DATA_KINDS: Mapping[str, str] = {"2011": "rtd", "2051": "min", "2061": "hour", "2031": "day"}

# How far a DataTime may be ahead of the arrival (logger clocks drift); the default of
# SOURCEWATCH_FUTURE_TOLERANCE_S.
FUTURE_TOLERANCE = timedelta(minutes=15)

_EFLAG = re.compile(r"[A-Za-z0-9]{1,8}")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_COLUMNS = {
    "min": "min",
    "max": "max",
    "cou": "cou",
    "zsmin": "zs_min",
    "zsmax": "zs_max",
    "flag": "flag",
    "eflag": "eflag",
}


def topic_mn(topic: str) -> tuple[str, str] | None:
    """``(transport, MN)`` of an uplink topic, or None when the topic is not ours."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == "hj212" and parts[2] == "up" and parts[1]:
        return "mqtt", parts[1]
    if len(parts) == 4 and parts[:2] == ["sourcewatch", "v1"] and parts[3] == "data" and parts[2]:
        return "mqtt-json", parts[2]
    return None


@cache
def _flag_codes() -> frozenset[str]:
    """Every data flag code of ``data_flags`` (any standard), upper case."""
    return frozenset(code.upper() for _, code in load_flags())


def decode_message(
    topic: str,
    payload: bytes,
    received_at: datetime,
    find_outlet: FindOutlet,
    *,
    future_tolerance: timedelta = FUTURE_TOLERANCE,
) -> list[Accepted | Rejected]:
    found = topic_mn(topic)
    if found is None:
        return [Rejected("mqtt", topic, received_at, payload, "format", "not an uplink topic")]
    transport, mn = found
    outlet = find_outlet(mn)
    if outlet is None:
        return [
            Rejected(
                transport,
                topic,
                received_at,
                payload,
                "unknown-mn",
                f"MN {mn!r} is not registered",
                mn,
            )
        ]
    if transport == "mqtt-json":
        return [_decode_json(topic, payload, received_at, outlet, future_tolerance)]
    out: list[Accepted | Rejected] = []
    unframed: FrameError | None = None  # the first bytes outside any packet
    unframed_count = 0
    for packet in iter_packets(payload):
        if isinstance(packet, FrameError):
            unframed = unframed or packet
            unframed_count += 1
            continue
        try:
            frame = parse_packet(packet, crc_policy=outlet.crc_policy)
        except HJ212Error as exc:
            out.append(_reject_error(transport, topic, received_at, packet, exc, mn))
            continue
        out.append(
            accept_frame(
                transport, topic, received_at, frame, outlet, future_tolerance=future_tolerance
            )
        )
    if unframed is not None:
        # The bytes outside any packet make ONE dead letter that keeps the whole message: one
        # per chunk would hash the whole message once per chunk (a message of many short
        # garbage runs cost seconds of CPU, issue 15's fuzzing found).
        more = f" (and {unframed_count - 1} more unframed chunks)" if unframed_count > 1 else ""
        detail = f"{unframed}{more}"
        out.append(Rejected(transport, topic, received_at, payload, unframed.kind, detail, mn))
    return out


def _reject_error(
    transport: str, topic: str, at: datetime, raw: bytes, exc: HJ212Error, mn: str
) -> Rejected:
    return Rejected(transport, topic, at, raw, exc.kind, str(exc), mn)


def accept_frame(
    transport: str,
    topic: str,
    at: datetime,
    frame: Frame,
    outlet: Outlet,
    *,
    future_tolerance: timedelta = FUTURE_TOLERANCE,
) -> Accepted | Rejected:
    raw = frame.packet
    if refused := _identity(transport, topic, at, raw, frame.mn, frame.pw, outlet, "frame"):
        return refused
    local = frame.data_time
    data_time = local.replace(tzinfo=outlet.timezone) if local else None
    if data_time and (late := _future(data_time, at, future_tolerance)):
        return Rejected(transport, topic, at, raw, "future", late, outlet.mn)
    rows = _frame_rows(frame.cn, frame, data_time, outlet)
    if isinstance(rows, str):
        return Rejected(transport, topic, at, raw, "no-time", rows, outlet.mn)
    reply = None
    if frame.flag.ack:
        reply = reply_9013(frame) if frame.cn == "1013" else reply_9014(frame)
    crc = frame.crc
    # Accepted(...) by its fields, without the frozen dataclass __init__ (see AcceptedDraft)
    accepted: Any = object.__new__(AcceptedDraft)
    accepted.transport = transport
    accepted.topic = topic
    accepted.received_at = at
    accepted.raw = raw
    accepted.outlet_id = outlet.id
    accepted.mn = outlet.mn
    accepted.st = frame.st
    accepted.cn = frame.cn
    accepted.qn = frame.qn
    accepted.data_time = data_time
    accepted.crc_received = crc.received
    accepted.crc_computed = crc.computed
    accepted.crc_algorithm = crc.algorithm
    accepted.crc_ok = crc.ok
    accepted.length_ok = frame.length_ok
    accepted.rows = rows
    accepted.reply = reply
    accepted.digest = digest(raw)
    accepted.__class__ = Accepted
    return cast(Accepted, accepted)


def _identity(
    transport: str,
    topic: str,
    at: datetime,
    raw: bytes,
    mn: str | None,
    pw: str | None,
    outlet: Outlet,
    what: str,
) -> Rejected | None:
    """The MN must be the topic's (a logger publishes only for itself) and the PW the one
    registered for the outlet."""
    if mn != outlet.mn:
        detail = f"{what} MN {mn!r} differs from topic MN {outlet.mn!r}"
        return Rejected(transport, topic, at, raw, "mn-mismatch", detail, outlet.mn)
    if outlet.password is not None and pw != outlet.password:
        detail = "PW does not match the registered password"
        return Rejected(transport, topic, at, raw, "wrong-pw", detail, outlet.mn)
    return None


def _future(data_time: datetime, arrival: datetime, tolerance: timedelta) -> str | None:
    """Why ``data_time`` cannot be trusted (too far ahead of ``arrival``), or None."""
    ahead = data_time - arrival
    if ahead <= tolerance:
        return None
    return (
        f"DataTime {data_time.isoformat()} is {ahead} ahead of its arrival (tolerance {tolerance})"
    )


def _decode_json(
    topic: str, payload: bytes, at: datetime, outlet: Outlet, future_tolerance: timedelta
) -> Accepted | Rejected:
    transport = "mqtt-json"
    try:
        body = JsonUpload.model_validate_json(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return Rejected(transport, topic, at, payload, "json", problems, outlet.mn)
    if refused := _identity(transport, topic, at, payload, body.mn, body.pw, outlet, "body"):
        return refused
    when = (
        body.data_time if body.data_time.tzinfo else body.data_time.replace(tzinfo=outlet.timezone)
    )
    if late := _future(when, at, future_tolerance):
        return Rejected(transport, topic, at, payload, "future", late, outlet.mn)
    local = when.astimezone(outlet.timezone).replace(tzinfo=None)
    items = {
        code: {f: _text(v) for f, v in fields.items() if v is not None}
        for code, fields in body.values.items()
    }
    rows = _rows(body.cn, items, local, outlet)
    if isinstance(rows, str):
        return Rejected(transport, topic, at, payload, "no-time", rows, outlet.mn)
    return Accepted(
        transport=transport,
        topic=topic,
        received_at=at,
        raw=payload,
        outlet_id=outlet.id,
        mn=outlet.mn,
        st=body.st,
        cn=body.cn,
        qn=body.qn,
        data_time=when,
        rows=rows,
    )


def _text(v: str | float) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _number(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    # The usual value is a plain decimal number: the codec's parse_number (str methods, no
    # regex) takes exactly the strings _NUMBER takes without an exponent or whitespace.
    number = parse_number(raw)
    if number is not None:
        return number
    return _unusual_number(raw)


def _unusual_number(raw: str) -> Decimal | None:
    """A number parse_number refuses: with an exponent or surrounding whitespace; else None."""
    raw = raw.strip()
    return Decimal(raw) if _NUMBER.fullmatch(raw) else None


def _rows(
    cn: str | None, items: Mapping[str, Mapping[str, str]], local: datetime | None, outlet: Outlet
) -> tuple[MeasurementRow, ...] | str:
    """Measurement rows of a data upload; a message string when the upload has no usable time."""
    kind = DATA_KINDS.get(cn or "")
    if kind is None:
        return ()
    if local is None:
        return f"CN {cn} carries values but no valid DataTime"
    ts = local.replace(tzinfo=outlet.timezone)
    legacy = legacy_codes("air" if outlet.kind == "gas" else "water")
    rename = outlet.protocol_profile == "hj212-2005"
    rows = []
    for code, fields in items.items():
        row = _row(legacy.get(code, code) if rename else code, kind, ts, fields, outlet)
        if row is not None:
            rows.append(row)
    return tuple(rows)


# Plans remembered (the most recently used): a logger sends the same fields in every frame, so a
# few dozen cover a deployment; the bound keeps frames with ever new field names (a faulty or
# hostile sender) from growing a worker's memory without end.
PLAN_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which of a code's fields (by their names as sent) fill which column: computed once per
    data kind and tuple of field names (a logger sends the same fields in every frame)."""

    value: str | None  # the field read as the value (Rtd or Avg, by the kind), else None
    zs: str | None  # the field read as the converted value (ZsRtd or ZsAvg)
    numbers: tuple[tuple[str, str], ...]  # (column, field) for min, max, cou, zs_min, zs_max
    flag: str | None
    eflag: str | None
    sample_time: str | None  # the SampleTime field
    extra: tuple[str, ...]  # the fields kept in ``extra`` as sent
    empty: bool  # no value, no converted value, no column: not a measurement (Info, SN, RS …)


@lru_cache(maxsize=PLAN_CACHE_SIZE)
def _plan(kind: str, names: tuple[str, ...]) -> _Plan:
    by_name = {f.lower(): f for f in names}  # the last of the same name in any case wins
    main = ("rtd", "avg") if kind == "rtd" else ("avg", "rtd")
    zs = ("zsrtd", "zsavg") if kind == "rtd" else ("zsavg", "zsrtd")
    value = next((by_name[k] for k in main if k in by_name), None)
    zs_field = next((by_name[k] for k in zs if k in by_name), None)
    columns = [(c, by_name[k]) for k, c in _COLUMNS.items() if k in by_name]
    used = {*main, *zs, *_COLUMNS, "sampletime"}
    return _Plan(
        value=value,
        zs=zs_field,
        numbers=tuple((c, f) for c, f in columns if c not in ("flag", "eflag")),
        flag=by_name.get("flag"),
        eflag=by_name.get("eflag"),
        sample_time=by_name.get("sampletime"),
        extra=tuple(f for f in names if f.lower() not in used),
        empty=value is None and zs_field is None and not columns,
    )


def _row(
    code: str, kind: str, ts: datetime, fields: Mapping[str, str], outlet: Outlet
) -> MeasurementRow | None:
    plan = _plan(kind, tuple(fields))
    if plan.empty:
        return None
    extra = {f: fields[f] for f in plan.extra} if plan.extra else {}
    value = None
    if plan.value is not None:
        value = _number(fields[plan.value])
        if value is None:
            extra["value"] = fields[plan.value]
    numbers = {c: _number(fields[f]) for c, f in plan.numbers}
    sample = None if plan.sample_time is None else parse_data_time(fields[plan.sample_time])
    flag = None if plan.flag is None else fields[plan.flag]
    eflag = None if plan.eflag is None else fields[plan.eflag]
    if flag is not None and flag.upper() not in _flag_codes():
        extra["Flag"], flag = flag, None  # not a code: kept as sent, not as the flag
    if eflag is not None and not _EFLAG.fullmatch(eflag):
        extra["EFlag"], eflag = eflag, None
    return MeasurementRow(
        pollutant=code,
        kind=kind,
        ts=ts,
        value=value,
        zs_value=None if plan.zs is None else _number(fields[plan.zs]),
        flag=flag,
        eflag=eflag,
        sample_time=sample.replace(tzinfo=outlet.timezone) if sample else None,
        extra=extra or None,
        **numbers,
    )


# A frame's layout: for each code it carries (in first-seen order) where the value of each
# column is, from the plans above. A logger sends the same keys in the same order in every
# frame, so the layout is remembered per (data kind, 2005 medium, the frame's CP shape), for
# the shapes the codec remembers (at most SHAPE_MAX_KEYS keys): the bound on both keeps ever
# new keys (a faulty or hostile sender) from growing a worker without end.
LAYOUT_CACHE_SIZE = 256
LAYOUT_MAX_VALUES = SHAPE_MAX_KEYS
_NONE = -1  # no such field


@dataclass(frozen=True, slots=True)
class _Slot:
    """One row of a frame's layout: the pollutant, where its numbers are among the frame's
    numbers, and the indices of its other fields among the CP's raw values (-1: none)."""

    pollutant: str  # the code, renamed to its HJ 212-2017 code for a 2005 profile
    value: int  # the raw value's index (kept in ``extra`` when it is no number)
    value_number: int  # its position among the layout's numbers
    zs_number: int
    numbers: tuple[tuple[str, int], ...]  # (column, position) for min, max, cou, zs_min, zs_max
    flag: int
    eflag: int
    sample_time: int
    extra: tuple[tuple[str, int], ...]  # (field, index) kept in ``extra`` as sent
    usual: bool  # no field in extra as sent, no min/max/cou/zs_min/zs_max, SampleTime, EFlag


@dataclass(frozen=True, slots=True)
class _Layout:
    slots: tuple[_Slot, ...]
    numbers: tuple[int, ...]  # the indices of every raw value read as a number, in one list


def _layout(kind: str, medium: Medium | None, shape: CPShape) -> _Layout:
    items: dict[str, dict[str, int]] = {}
    for code, name, i in shape.values:  # as Frame.items(): first-seen code order, the
        items.setdefault(code, {})[name] = i  # last duplicate wins
    legacy = None if medium is None else legacy_codes(medium)
    numbers: list[int] = []

    def number(index: int) -> int:
        numbers.append(index)
        return len(numbers) - 1

    slots = []
    for code, fields in items.items():
        plan = _plan(kind, tuple(fields))
        if plan.empty:
            continue
        slots.append(
            _Slot(
                pollutant=code if legacy is None else legacy.get(code, code),
                value=_NONE if plan.value is None else fields[plan.value],
                value_number=_NONE if plan.value is None else number(fields[plan.value]),
                zs_number=_NONE if plan.zs is None else number(fields[plan.zs]),
                numbers=tuple((c, number(fields[f])) for c, f in plan.numbers),
                flag=_NONE if plan.flag is None else fields[plan.flag],
                eflag=_NONE if plan.eflag is None else fields[plan.eflag],
                sample_time=_NONE if plan.sample_time is None else fields[plan.sample_time],
                extra=tuple((f, fields[f]) for f in plan.extra),
                usual=not (plan.extra or plan.numbers or plan.sample_time or plan.eflag),
            )
        )
    return _Layout(tuple(slots), tuple(numbers))


_remembered_layout = lru_cache(maxsize=LAYOUT_CACHE_SIZE)(_layout)


def _frame_rows(
    cn: str | None, frame: Frame, ts: datetime | None, outlet: Outlet
) -> tuple[MeasurementRow, ...] | str:
    """:func:`_rows` of a parsed frame's values, by its layout: the same rows, with no Value
    per pair, no dict per code and no dataclass ``__init__`` per row. ``ts`` is the frame's
    DataTime in the outlet's time zone."""
    kind = DATA_KINDS.get(cn or "")
    if kind is None:
        return ()
    if ts is None:
        return f"CN {cn} carries values but no valid DataTime"
    medium: Medium | None = None
    if outlet.protocol_profile == "hj212-2005":
        medium = "air" if outlet.kind == "gas" else "water"
    shape, raws = frame.split_cp()
    remembered = len(shape.keys) <= LAYOUT_MAX_VALUES
    layout = (_remembered_layout if remembered else _layout)(kind, medium, shape)
    texts = [raws[i] for i in layout.numbers]
    numbers: Sequence[Decimal | None] | None = plain_numbers(texts)
    if numbers is None:  # some are not plain numbers: one by one
        numbers = [_number(text) for text in texts]
    flag_codes = _flag_codes()
    tz = outlet.timezone
    new = object.__new__
    rows = []
    for slot in layout.slots:
        if slot.usual:  # a value, a converted value, a flag at most: the usual row, shorter
            value = None if slot.value < 0 else numbers[slot.value_number]
            flag = None if slot.flag < 0 else raws[slot.flag]
            row: Any = new(MeasurementRowDraft)
            row.pollutant = slot.pollutant
            row.kind = kind
            row.ts = ts
            row.min = row.max = row.cou = row.zs_min = row.zs_max = None
            row.zs_value = None if slot.zs_number < 0 else numbers[slot.zs_number]
            row.eflag = row.sample_time = None
            usual_extra = None  # as below: the value that is no number, then the flag no code
            if value is None and slot.value >= 0:
                usual_extra = {"value": raws[slot.value]}
            if flag is not None and flag not in flag_codes and flag.upper() not in flag_codes:
                usual_extra = usual_extra or {}
                usual_extra["Flag"], flag = flag, None
            row.extra = usual_extra
            row.value = value
            row.flag = flag
            row.__class__ = MeasurementRow
            rows.append(row)
            continue
        # In the order of _row: extra as sent, the value, the numbers, SampleTime, the flags.
        extra = {f: raws[i] for f, i in slot.extra} if slot.extra else {}
        value = None
        if slot.value >= 0:
            value = numbers[slot.value_number]
            if value is None:
                extra["value"] = raws[slot.value]
        row = new(MeasurementRowDraft)
        row.pollutant = slot.pollutant
        row.kind = kind
        row.ts = ts
        row.value = value
        row.min = row.max = row.cou = row.zs_min = row.zs_max = None
        for column, at in slot.numbers:
            setattr(row, column, numbers[at])
        sample = None if slot.sample_time < 0 else parse_data_time(raws[slot.sample_time])
        flag = None if slot.flag < 0 else raws[slot.flag]
        if flag is not None and flag not in flag_codes and flag.upper() not in flag_codes:
            extra["Flag"], flag = flag, None  # not a code: kept as sent, not as the flag
        eflag = None if slot.eflag < 0 else raws[slot.eflag]
        if eflag is not None and not _EFLAG.fullmatch(eflag):
            extra["EFlag"], eflag = eflag, None
        row.zs_value = None if slot.zs_number < 0 else numbers[slot.zs_number]
        row.flag = flag
        row.eflag = eflag
        row.sample_time = sample.replace(tzinfo=tz) if sample else None
        row.extra = extra or None
        row.__class__ = MeasurementRow
        rows.append(row)
    return tuple(rows)
