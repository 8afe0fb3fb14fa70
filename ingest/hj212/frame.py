"""One HJ 212 packet: framing (``##`` + length + segment + CRC), header fields and CP."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from typing import Any, NamedTuple, cast

from .cp import (
    CPShape,
    Value,
    cp_attributes,
    cp_shape,
    cp_values,
    has_space,
    parse_data_time,
    split_cp,
)
from .crc import CRCPolicy, CRCResult, check_crc, crc16
from .errors import FrameError, LengthError
from .flags import FlagBits

__all__ = ["Frame", "parse_packet", "parse_segment"]


class _SplitCP:
    """The slot where a parsed Frame keeps its CP as split (shape, raws): not a field, so it is
    outside the Frame's init, equality and repr."""

    __slots__ = ("_split_cp",)
    _split_cp: tuple[CPShape, tuple[str, ...]]


_SET_VALUES: Any = None  # Frame.values' slot setter, below


@dataclass(frozen=True, slots=True)
class Frame(_SplitCP):
    """A parsed packet. Strings are as sent; nothing is corrected or re-encoded."""

    packet: bytes  # from "##" to the CRC, no CR LF (parse_segment: the segment itself)
    segment: bytes  # the data segment: what the length counts and the CRC covers
    declared_length: int | None
    length_ok: bool
    crc: CRCResult
    header: Mapping[str, str]  # QN/ST/CN/PW/MN/Flag/PNUM/PNO in canonical case, others as sent
    qn: str | None
    st: str | None
    cn: str | None
    pw: str | None
    mn: str | None
    flag: FlagBits
    pnum: int | None
    pno: int | None
    attributes: Mapping[str, str]  # CP keys without "-": DataTime, PolId, QnRtn, ...
    values: tuple[Value, ...]  # every code-field pair in order, duplicates kept
    data_time: datetime | None  # attributes["DataTime"] as a naive datetime
    cp: str = ""  # the CP text between "CP=&&" and the closing "&&", as sent
    encoding: str = "utf-8"  # how the segment was decoded: "utf-8" or "gb18030"

    # A parsed Frame leaves ``values`` unset and makes them here on first use from the split CP
    # (as Value.number): ingest reads the split CP (split_cp()), so a frame's 20-30 Values would
    # otherwise be built for nothing. Python calls __getattr__ only when the normal look-up
    # fails, i.e. for that unset slot; equality, hash and repr read ``values`` like any caller.
    def __getattr__(self, name: str) -> tuple[Value, ...]:
        if name != "values":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        values = cp_values(*self._split_cp)
        _SET_VALUES(self, values)
        return values

    def split_cp(self) -> tuple[CPShape, tuple[str, ...]]:
        """The CP's shape and raw values as split_cp gives them (no Value per pair); for a
        Frame made by hand rather than parsed, the shape of its values alone."""
        try:
            return self._split_cp
        except AttributeError:
            values = self.values
            keys = tuple(f"{v.code}-{v.field}" for v in values)
            return cp_shape(keys), tuple(v.raw for v in values)

    def items(self) -> dict[str, dict[str, Value]]:
        """Values grouped by code (first-seen code order); the last duplicate field wins."""
        grouped: dict[str, dict[str, Value]] = {}
        for value in self.values:
            grouped.setdefault(value.code, {})[value.field] = value
        return grouped

    def flag_of(self, code: str) -> str | None:
        """The data flag (``code-Flag``, Table 8) sent for ``code``, or None."""
        for value in reversed(self.values):
            if value.code == code and value.field == "Flag":
                return value.raw
        for value in reversed(self.values):
            if value.code == code and value.field.lower() == "flag":
                return value.raw
        return None


_SET_VALUES = vars(Frame)["values"].__set__


class _FrameDraft(_SplitCP):
    """Frame's slots without its frozen __setattr__ (a call per field, 19 fields): _build fills
    one with plain attribute stores, then makes it a Frame, as parse_cp does with Values."""

    __slots__ = Frame.__slots__


# HJ 212-2017 §6.3.2 Table 2 "通讯包结构组成表":
#   包头 "固定为##" | 数据段长度 "数据段的 ASCII 字符数，例如：长 255，则写为'0255'" (4) |
#   数据段 "变长的数据" | CRC 校验 "数据段的校验结果" (4) | 包尾 "固定为<CR><LF>"
# The length counts segment bytes (docs/protocol.md#frame-grammar). Lengths over 1024 occur and are
# accepted. A wrong length is recorded (length_ok), not fatal, when "&&" + 4 hex still ends it.
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
_TAIL = re.compile(rb"&&[0-9A-Fa-f]{4}\Z")


def parse_packet(packet: bytes, *, crc_policy: CRCPolicy = CRCPolicy.STRICT) -> Frame:
    """Parse one packet ``##LLLL<segment><CRC>`` (a trailing CR LF or LF is allowed).

    Raises FrameError (framing/grammar), LengthError (wrong length and no "&&"+CRC end) or,
    unless ``crc_policy`` is LENIENT, CRCError. Error positions are offsets in ``packet``.
    """
    data = packet.rstrip(b"\r\n")
    if not data.startswith(b"##"):
        raise FrameError("packet does not start with '##'", 0)
    digits = data[2:6]
    if len(digits) != 4 or not (digits.isascii() and digits.isdigit()):
        raise FrameError(f"length field {digits[:4]!r} is not 4 decimal digits", 2)
    declared = int(digits)
    end = 6 + declared
    size = len(data)
    if size == end + 4 and _HEX4.fullmatch(data, end):
        segment, length_ok = data[6:end], True
    elif size > end + 4 and data[end - 2 : end] == b"&&" and _HEX4.fullmatch(data, end, end + 4):
        raise FrameError(f"{size - end - 4} bytes after the CRC (glued packets?)", end + 4)
    elif size >= 12 and _TAIL.search(data, 6):
        # The declared length does not land on "&&" + CRC; resync on that
        # (docs/protocol.md#real-device-pitfalls).
        segment, length_ok = data[6:-4], False
    elif size == end + 4:
        raise FrameError(f"CRC field {data[end:]!r} is not 4 hex digits", end)
    else:
        raise LengthError(
            f"declared length {declared} but {max(size - 10, 0)} bytes available"
            " and no '&&' + CRC ends the packet",
            2,
        )
    received = data[6 + len(segment) :].decode("ascii")
    crc = check_crc(segment, received, crc_policy, position=6 + len(segment))
    return _build(data, segment, declared, length_ok, crc, base=6)


def parse_segment(segment: bytes) -> Frame:
    """Parse a bare data segment (``QN=…;CP=&&…&&``) that came without ``##``, length or CRC."""
    data = segment.rstrip(b"\r\n")
    crc = CRCResult(None, f"{crc16(data):04X}", None, False)
    return _build(data, data, None, True, crc, base=0)


# Table 3 "数据段结构组成表": QN ST CN PW MN Flag PNUM PNO CP. Real packets reorder them, change
# case ("FLAG=0"), drop QN/Flag/PW, add ",", empty tokens or miss the ";" before CP (C.19
# "Flag=5CP=&&"; C.22 "QN=…,ST=32"), so the header is a bag of K=V tokens
# (docs/protocol.md#real-device-pitfalls).
_KNOWN = {key.upper(): key for key in ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")}
_KNOWN["Flag"] = "Flag"  # the usual spelling, found without upper()
# The decoded Flag of each usual spelling of the field ("4", "5", ...; absent or empty: no Flag).
_FLAGS: dict[str | None, FlagBits] = {str(raw): FlagBits.from_raw(raw) for raw in range(256)}
_FLAGS[""] = _FLAGS[None] = FlagBits()
_CP_OPEN = re.compile(r"CP=&&", re.IGNORECASE)


def _cp_open(text: str) -> int:
    """Where the first ``CP=&&`` (in any case) starts in ``text``, or -1."""
    start = text.find("CP=&&")
    # Any spelling's match at j has "=&&" at j + 2: when the first "=&&" is this one's, no
    # other spelling comes before it (one substring search instead of a case-blind regex).
    if start >= 0 and text.find("=&&", 0, start + 5) == start + 2:
        return start
    opening = _CP_OPEN.search(text)
    return -1 if opening is None else opening.start()


def _decode(segment: bytes, base: int) -> tuple[str, str]:
    # §6.3: "所有的通讯包都是由 ASCII 码（汉字除外，采用 UTF-8 码，8 位，1 字节）字符组成";
    # some devices send GB2312/GBK, so GB18030 is the fallback.
    try:
        return segment.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return segment.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            raise FrameError(
                "data segment is neither UTF-8 nor GB18030", base + utf8_error.start
            ) from None


class _BadNumber(NamedTuple):
    """A header field that is not an integer in its range: its name, value and limit."""

    name: str
    raw: str
    limit: int


_Header = tuple[dict[str, str], FlagBits, int | None, int | None]  # header, Flag, PNUM, PNO


def _read_header(head: str) -> _Header | _BadNumber:
    """The header fields of the text before ``CP=&&``, with Flag, PNUM and PNO read."""
    strip = has_space(head)  # else strip() has nothing to remove
    header: dict[str, str] = {}
    for key, eq, value in map(str.partition, head.replace(",", ";").split(";"), repeat("=")):
        if strip:
            key = key.strip()
            value = value.strip()
        if eq and key:  # else an empty or garbage token, e.g. the "," of "PW=123456;,MN=…"
            header[_KNOWN.get(key) or _KNOWN.get(key.upper(), key)] = value

    def number(name: str, limit: int) -> int | None | _BadNumber:
        raw = header.get(name)
        if raw is None or raw == "":
            return None
        if not (raw.isascii() and raw.isdigit()) or int(raw) > limit:
            return _BadNumber(name, raw, limit)
        return int(raw)

    # Table 3: "Flag 标志位 ... 整数（0-255）"; "PNUM 总包数 ... PNO 包号 ... 4 字符".
    flag = _FLAGS.get(header.get("Flag"))
    if flag is None:
        raw_flag = number("Flag", 255)
        if isinstance(raw_flag, _BadNumber):
            return raw_flag
        flag = FlagBits.from_raw(raw_flag)
    pnum = number("PNUM", 9999) if "PNUM" in header else None
    if isinstance(pnum, _BadNumber):
        return pnum
    pno = number("PNO", 9999) if "PNO" in header else None
    if isinstance(pno, _BadNumber):
        return pno
    return header, flag, pnum, pno


# A logger sends the same header in every frame but for its QN (a time stamp): ST, CN, PW, MN,
# Flag. So a head that starts with a plain "QN=…;" (no "," and no whitespace in the QN) is read
# as that QN and the rest, whose fields are remembered (the most recently used rests of at most
# HEADER_MAX_CHARS characters: the bounds keep ever new headers, a faulty or hostile sender,
# from growing a process without end). What a rest gives is copied, never shared.
HEADER_CACHE_SIZE = 256
HEADER_MAX_CHARS = 200
_remembered_header = lru_cache(maxsize=HEADER_CACHE_SIZE)(_read_header)


def _header(head: str) -> _Header | _BadNumber:
    """:func:`_read_header` of ``head``, the part after a plain QN remembered."""
    if head.startswith("QN="):
        end = head.find(";")
        rest = head[end:]
        qn = head[3:end]
        if end > 0 and len(rest) <= HEADER_MAX_CHARS and "," not in qn and not has_space(qn):
            parsed = _remembered_header(rest)  # rest starts with ";": its first token is empty
            if not isinstance(parsed, _BadNumber):
                header, flag, pnum, pno = parsed
                # the QN first, as read from head; a QN again in the rest replaces its value
                return {"QN": qn, **header}, flag, pnum, pno
    return _read_header(head)


# Loggers send the same data times (the same minute, the same hour), so a worker reads each
# DataTime text once: the last few thousand remembered (a datetime is immutable).
_data_time = lru_cache(maxsize=4096)(parse_data_time)


# The shape of each logger's (MN's) last CP, and whether the CP before it had it too: a logger
# that repeats its keys most likely sends them again, and only then is its shape a hint (whose
# template is compiled once, cp.shape_template), so a sender whose keys change every frame
# costs no compile.
SHAPE_HINTS_SIZE = 4096
_SHAPE_HINTS: dict[str | None, tuple[CPShape, bool]] = {}
_NO_HINT: tuple[CPShape | None, bool] = (None, False)


def _build(
    packet: bytes,
    segment: bytes,
    declared: int | None,
    length_ok: bool,
    crc: CRCResult,
    *,
    base: int,
) -> Frame:
    text, encoding = _decode(segment, base)

    def where(index: int) -> int:
        return base + len(text[:index].encode(encoding))

    # §6.3.3: "CP=&&数据区&&" - the segment ends with the "&&" that closes CP.
    start = _cp_open(text)
    if start < 0:
        raise FrameError("no 'CP=&&' in the data segment", where(len(text)))
    if len(text) < start + 7 or not text.endswith("&&"):
        raise FrameError("CP is not closed by '&&' at the end of the segment", where(len(text)))
    cp_text = text[start + 5 : -2]

    head = text[:start]
    parsed = _header(head)
    if isinstance(parsed, _BadNumber):
        name, raw, limit = parsed
        pattern = rf"(?i)(?:^|[;,])\s*({name})\s*="
        found = list(re.finditer(pattern, head))
        index = found[-1].start(1) if found else 0  # the last one is the one kept
        raise FrameError(f"{name}={raw!r} is not an integer 0..{limit}", where(index))
    header, flag, pnum, pno = parsed
    mn = header.get("MN")
    last, repeated = _SHAPE_HINTS.get(mn, _NO_HINT)
    shape, raws = split_cp(cp_text, last if repeated else None)
    if not repeated or shape is not last:
        if len(_SHAPE_HINTS) >= SHAPE_HINTS_SIZE:
            _SHAPE_HINTS.clear()
        _SHAPE_HINTS[mn] = (shape, shape is last)
    attributes = cp_attributes(shape, raws)
    data_time = attributes.get("DataTime")
    frame: Any = _FrameDraft()  # typed by Frame's fields, checked when it becomes a Frame
    frame.packet = packet
    frame.segment = segment
    frame.declared_length = declared
    frame.length_ok = length_ok
    frame.crc = crc
    frame.header = header
    frame.qn = header.get("QN")
    frame.st = header.get("ST")
    frame.cn = header.get("CN")
    frame.pw = header.get("PW")
    frame.mn = mn
    frame.flag = flag
    frame.pnum = pnum
    frame.pno = pno
    frame.attributes = attributes
    frame._split_cp = (shape, raws)  # values: made on first use (Frame.__getattr__)
    frame.data_time = None if data_time is None else _data_time(data_time)
    frame.cp = cp_text
    frame.encoding = encoding
    frame.__class__ = Frame
    return cast(Frame, frame)
