"""The CP (指令参数) grammar: ``key=value`` pairs, grouped by pollutant code."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation, getcontext
from functools import lru_cache
from itertools import repeat
from typing import Any

__all__ = [
    "CPShape",
    "Value",
    "parse_cp",
    "parse_data_time",
    "parse_number",
    "plain_numbers",
    "split_cp",
]


@dataclass(frozen=True, slots=True)
class Value:
    """One ``code-field=raw`` pair of CP, e.g. ``a21026-Rtd=12.5`` or ``i11001-Info=//…//``."""

    code: str  # before the first "-", as sent: "a21026", "W01018", "011", "SB1", "i11001"
    field: str  # after the first "-", as sent: "Rtd", "ZsAvg", "Flag", "Info", "SampleTime"
    raw: str  # the value string as sent (Info keeps its "//" delimiters)
    number: Decimal | None  # the raw string as a Decimal, None when it is not a plain number

    # parse_cp leaves ``number`` unset and it is computed here on first use: ingest reads only
    # ``raw``, so a frame's 20-30 Decimals would otherwise be built for nothing. Python calls
    # __getattr__ only when the normal look-up fails, i.e. for that unset slot; equality, hash
    # and repr read ``number`` like any caller, so a parsed Value is indistinguishable from
    # ``Value(code, field, raw, parse_number(raw))``.
    def __getattr__(self, name: str) -> Decimal | None:
        if name != "number":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        number = parse_number(self.raw)
        _SET_NUMBER(self, number)
        return number

    @property
    def text(self) -> str:
        """The value without the ``//…//`` delimiters of an Info log, else ``raw``."""
        raw = self.raw
        if len(raw) >= 4 and raw.startswith("//") and raw.endswith("//"):
            return raw[2:-2]
        return raw


# §6.3.3.2.2: "N14.2 ... 带小数点，带符号，最大长度为 18" - sign and decimal point allowed;
# zero padding ("00.58", "024.0") and long decimals occur in real data
# (docs/protocol.md#real-device-pitfalls).
# The grammar is  [+-]? ( digits ( "." digits? )? | "." digits ),  digits being Unicode decimal
# digits (what a regex's \d and str.isdecimal both mean); checked with str methods, no regex.
def parse_number(raw: str) -> Decimal | None:
    """``raw`` as a Decimal when it is a plain signed decimal number, else None."""
    whole, dot, fraction = (raw[1:] if raw[:1] in ("+", "-") else raw).partition(".")
    if whole:
        if not whole.isdecimal() or (fraction and not fraction.isdecimal()):
            return None
    elif not (dot and fraction.isdecimal()):
        return None
    return Decimal(raw)


# parse_number's grammar for many strings at once, joined by NUL: one regex pass in C.
_PLAIN = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_PLAIN_JOINED = re.compile(rf"{_PLAIN}(?:\x00{_PLAIN})*")


# The characters of an ASCII plain number (and the NUL that joins them). A text of these alone
# is a plain number exactly when Decimal() reads it: Decimal's syntax beyond the grammar above
# (exponents, NaN, Infinity, whitespace, "_" between digits) needs other characters.
_PLAIN_ASCII = b"0123456789+-.\x00"


def plain_numbers(raws: Sequence[str]) -> list[Decimal] | None:
    """Every one of ``raws`` as a Decimal when each is a plain number (what parse_number takes),
    checked in one pass; None when any is not (then ask parse_number one by one)."""
    if not raws:
        return []
    joined = "\x00".join(raws)
    if (
        joined.isascii()
        and not joined.encode("ascii").translate(None, _PLAIN_ASCII)
        and getcontext().traps[InvalidOperation]  # else Decimal("1+") is NaN, not an error
    ):
        # Digits, signs and points only (the usual frame): Decimal() itself tells a plain
        # number from a misplaced sign or point, an empty raw or a NUL inside one (it raises),
        # instead of the regex (2-3 µs a frame of 18 values).
        try:
            return list(map(Decimal, raws))
        except InvalidOperation:
            return None
    # The count makes sure no raw holds a NUL of its own (one plain number glued to another).
    if _PLAIN_JOINED.fullmatch(joined) is None or joined.count("\x00") != len(raws) - 1:
        return None
    return list(map(Decimal, raws))


# §6.3.3.1: "字段与其值用'='连接；在数据区中，同一项目的不同分类值间用'，'来分隔，
#            不同项目之间用'；'来分隔"
# Table B.10: "日志信息在'//'之间" - an Info value is one opaque token that may hold ';' ','.
_SEPARATOR = re.compile(r"[;,]")
_KEY_END = re.compile(r"[=;,]")
_INFO_CLOSE = re.compile(r"//\s*(?=[;,]|\Z)")


def _tokens(text: str) -> Iterator[str]:
    """Split CP text that holds "//" on ';' and ',', keeping each ``//…//`` value whole."""
    i, n = 0, len(text)
    while i < n:
        key_end = _KEY_END.search(text, i)
        if key_end is None:
            yield text[i:]
            return
        if key_end.group() != "=":
            yield text[i : key_end.start()]
            i = key_end.end()
            continue
        start = key_end.end()
        while start < n and text[start] == " ":
            start += 1
        search_from = start
        if text.startswith("//", start):
            close = _INFO_CLOSE.search(text, start + 2)
            if close is not None:
                search_from = close.end()
        sep = _SEPARATOR.search(text, search_from)
        end = n if sep is None else sep.start()
        yield text[i:end]
        i = end + 1


class _Draft:
    """Value's slots without its frozen __setattr__ (which costs a call per field). parse_cp
    fills one with plain attribute stores, then makes it a Value: the two layouts are the same,
    so CPython allows the ``__class__`` switch. ``number`` is left to Value.__getattr__."""

    __slots__ = Value.__slots__


_SET_NUMBER = vars(Value)["number"].__set__


def has_space(text: str) -> bool:
    """Whether ``text`` holds whitespace, in the sense of str.strip() and str.split(): the
    no-argument split returns ``[text]`` itself only when there is none (one pass in C)."""
    parts = text.split(None, 1)
    return bool(text) and (len(parts) != 1 or parts[0] != text)


# The usual CP is plain: ASCII, no whitespace, no Info "//", and every ';'/','-separated token
# one KEY=RAW with a non-empty key and a single "=". Then its delimiters alone read "=;=;…;="
# (',' read as ';'), and splitting on all of them at once gives key, raw, key, raw, ... Seen
# from the bytes: keep ';' ',' '=' and ASCII whitespace (so that whitespace spoils the pattern).
_COMMA_AS_SEMICOLON = bytes.maketrans(b",", b";")
_NOT_DELIMITER = bytes(c for c in range(128) if chr(c) not in ";,=" and not chr(c).isspace())
_ALTERNATING = b"=;" * 5000  # 9999 bytes of segment hold fewer than 5,000 pairs


def _plain_keys(text: str) -> tuple[tuple[str, ...], list[str]] | None:
    """The keys and the raws of a plain CP, else None. (Substring searches cost about a ns a
    character: "/" is looked for first, and empty keys among the keys split.)"""
    if not text.isascii() or ("/" in text and "//" in text):
        return None
    delimiters = text.encode("ascii").translate(_COMMA_AS_SEMICOLON, _NOT_DELIMITER)
    if len(delimiters) % 2 == 0 or not _ALTERNATING.startswith(delimiters):
        return None
    pieces = text.replace(",", ";").replace("=", ";").split(";")  # key, raw, key, raw, …
    keys = tuple(pieces[0::2])
    return None if "" in keys else (keys, pieces[1::2])


# §6.3.3.2.1 Table 4 names "xxxxxx-Rtd", "xxxxxx-Flag", "SBxxx-RS", "xxxxxx-Info" ...:
# the pollutant code, "-", the field. Keys without "-" (DataTime, PolId, QnRtn, a 2005-style
# QN, a stray Flag) are packet attributes (docs/protocol.md#frame-grammar).
@dataclass(frozen=True, slots=True, eq=False)
class CPShape:
    """The keys of a CP in order, each read as an attribute or a ``code-field`` value: made
    once per key sequence (a logger sends the same keys in every frame) and remembered, so it
    is compared by identity. Indices point into the raw values split with it."""

    keys: tuple[str, ...]
    attributes: tuple[tuple[str, int], ...]  # (key, index) of each key without "-"
    values: tuple[tuple[str, str, int], ...]  # (code, field, index) of each "code-field" key


# A raw of a plain CP: no delimiter, no ASCII whitespace (the text is ASCII).
_PLAIN_RAW = "([^;,=" + re.escape("".join(chr(c) for c in range(128) if chr(c).isspace())) + "]*)"


def _template(keys: tuple[str, ...]) -> re.Pattern[str] | None:
    for key in keys:
        if not key or not key.isascii() or has_space(key) or _SEPARATOR.search(key) or "=" in key:
            return None
    return re.compile("[;,]".join(re.escape(key) + "=" + _PLAIN_RAW for key in keys))


def _shape(keys: tuple[str, ...]) -> CPShape:
    attributes = []
    values = []
    for i, key in enumerate(keys):
        code, dash, field = key.partition("-")
        if dash:
            values.append((code, field, i))
        else:
            attributes.append((key, i))
    return CPShape(keys, tuple(attributes), tuple(values))


# Shapes remembered (the most recently used), for CPs of at most SHAPE_MAX_KEYS keys: the bound
# on both keeps ever new keys (a faulty or hostile sender) from growing a process without end.
SHAPE_CACHE_SIZE = 256
SHAPE_MAX_KEYS = 128
_remembered_shape = lru_cache(maxsize=SHAPE_CACHE_SIZE)(_shape)


@lru_cache(maxsize=SHAPE_CACHE_SIZE)
def shape_template(shape: CPShape) -> re.Pattern[str] | None:
    """A plain CP with the shape's keys (see _plain_keys) as a regex whose groups are the raws;
    None when a key could not be one of a plain CP. Compiled when first asked for: a compile
    costs as much as reading dozens of frames, so only a hint (a logger's repeated keys) asks."""
    return _template(shape.keys)


def cp_shape(keys: tuple[str, ...]) -> CPShape:
    """The shape of a CP with these keys (remembered when there are at most SHAPE_MAX_KEYS)."""
    return (_remembered_shape if len(keys) <= SHAPE_MAX_KEYS else _shape)(keys)


def split_cp(text: str, hint: CPShape | None = None) -> tuple[CPShape, tuple[str, ...]]:
    """The text between ``CP=&&`` and ``&&`` as its shape and its raw values, in order.

    Tolerant by design (docs/protocol.md#real-device-pitfalls): each pair is split on its first "="
    and the key on its first "-"; spaces around keys and values are stripped; empty groups, empty
    values, duplicates and any order are kept as sent; tokens with no "=" or an empty key are
    skipped.
    """
    if hint is not None and text.isascii():
        # the keys of an earlier CP (of the same logger) expected: the raws in one regex match
        template = shape_template(hint)
        match = template.fullmatch(text) if template is not None else None
        if match is not None and not ("/" in text and "//" in text):
            return hint, match.groups()
    plain = _plain_keys(text)
    if plain is not None:
        return cp_shape(plain[0]), tuple(plain[1])
    pairs = list(_pairs(text))
    return cp_shape(tuple(key for key, _ in pairs)), tuple(raw for _, raw in pairs)


def cp_attributes(shape: CPShape, raws: Sequence[str]) -> dict[str, str]:
    """The attributes of a split CP; the last duplicate wins."""
    return {key: raws[i] for key, i in shape.attributes}


def cp_values(shape: CPShape, raws: Sequence[str]) -> tuple[Value, ...]:
    """The Values of a split CP: every ``code-field`` pair in order, duplicates kept."""
    values: list[Any] = []  # Values, filled as _Draft
    append, new = values.append, object.__new__
    for code, field, i in shape.values:
        value: Any = new(_Draft)
        value.code = code
        value.field = field
        value.raw = raws[i]
        value.__class__ = Value
        append(value)
    return tuple(values)


def parse_cp(text: str) -> tuple[dict[str, str], tuple[Value, ...]]:
    """Parse the text between ``CP=&&`` and ``&&`` into (attributes, values), as
    :func:`split_cp` splits it. Attributes keep the last duplicate; values keep all of them."""
    shape, raws = split_cp(text)
    return cp_attributes(shape, raws), cp_values(shape, raws)


def _pairs(text: str) -> Iterator[tuple[str, str]]:
    """(key, raw) of each token with an "=" and a key, both stripped: any CP text."""
    tokens = text.replace(",", ";").split(";") if "//" not in text else _tokens(text)
    strip = has_space(text)  # else strip() has nothing to remove
    for key, eq, raw in map(str.partition, tokens, repeat("=")):
        if strip:
            key = key.strip()
            raw = raw.strip()
        if eq and key:
            yield key, raw


# Table 4: "DataTime 数据时间信息 N14 ... YYYYMMDDhhmmss"; several real packets send 17 digits
# with milliseconds (docs/protocol.md#real-device-pitfalls).
def parse_data_time(text: str) -> datetime | None:
    """A naive datetime from ``YYYYMMDDhhmmss`` (or ``…zzz`` with ms); None if unparseable."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) not in (14, 17):
        return None
    rest, second = divmod(int(text[:14]), 100)  # one int() for the 14 ASCII digits
    rest, minute = divmod(rest, 100)
    rest, hour = divmod(rest, 100)
    rest, day = divmod(rest, 100)
    year, month = divmod(rest, 100)
    milliseconds = int(text[14:]) if len(text) == 17 else 0
    try:
        return datetime(year, month, day, hour, minute, second, milliseconds * 1000)
    except ValueError:
        return None
