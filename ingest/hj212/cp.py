"""The CP (指令参数) grammar: ``key=value`` pairs, grouped by pollutant code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = ["Value", "parse_cp", "parse_data_time", "parse_number"]


@dataclass(frozen=True, slots=True)
class Value:
    """One ``code-field=raw`` pair of CP, e.g. ``a21026-Rtd=12.5`` or ``i11001-Info=//…//``."""

    code: str  # before the first "-", as sent: "a21026", "W01018", "011", "SB1", "i11001"
    field: str  # after the first "-", as sent: "Rtd", "ZsAvg", "Flag", "Info", "SampleTime"
    raw: str  # the value string as sent (Info keeps its "//" delimiters)
    number: Decimal | None  # the raw string as a Decimal, None when it is not a plain number

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
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_number(raw: str) -> Decimal | None:
    """``raw`` as a Decimal when it is a plain signed decimal number, else None."""
    if _NUMBER.fullmatch(raw) is None:
        return None
    return Decimal(raw)


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


# §6.3.3.2.1 Table 4 names "xxxxxx-Rtd", "xxxxxx-Flag", "SBxxx-RS", "xxxxxx-Info" ...:
# the pollutant code, "-", the field. Keys without "-" (DataTime, PolId, QnRtn, a 2005-style
# QN, a stray Flag) are packet attributes (docs/protocol.md#frame-grammar).
def parse_cp(text: str) -> tuple[dict[str, str], tuple[Value, ...]]:
    """Parse the text between ``CP=&&`` and ``&&`` into (attributes, values).

    Tolerant by design (docs/protocol.md#real-device-pitfalls): each pair is split on its first "="
    and the key on its first "-"; spaces around keys and values are stripped; empty groups, empty
    values, duplicates and any order are kept as sent; tokens with no "=" or an empty key are
    skipped. Attributes keep the last duplicate; values keep all of them, in order.
    """
    attributes: dict[str, str] = {}
    values: list[Value] = []
    tokens = text.replace(",", ";").split(";") if "//" not in text else _tokens(text)
    for token in tokens:
        key, eq, raw = token.partition("=")
        key = key.strip()
        if not eq or not key:
            continue
        raw = raw.strip()
        code, dash, field = key.partition("-")
        if dash:
            values.append(Value(code, field, raw, parse_number(raw)))
        else:
            attributes[key] = raw
    return attributes, tuple(values)


# Table 4: "DataTime 数据时间信息 N14 ... YYYYMMDDhhmmss"; several real packets send 17 digits
# with milliseconds (docs/protocol.md#real-device-pitfalls).
def parse_data_time(text: str) -> datetime | None:
    """A naive datetime from ``YYYYMMDDhhmmss`` (or ``…zzz`` with ms); None if unparseable."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) not in (14, 17):
        return None
    try:
        moment = datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
        )
    except ValueError:
        return None
    if len(text) == 17:
        moment = moment.replace(microsecond=int(text[14:17]) * 1000)
    return moment
