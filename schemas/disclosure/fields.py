"""Field types shared by the record types' content models: USCC codes (GB 32100-2015), HJ 212
pollutant codes, money and tonnes, texts, yes/no in Chinese or English, choices given by code or
label, and the helpers that build bilingual titles."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, ValidationInfo

from schemas.registry.entries import Uscc, check_uscc

__all__ = [
    "Money",
    "PollutantCode",
    "Short",
    "Text",
    "Tonnes",
    "Uscc",
    "YesNo",
    "after",
    "check_uscc",
    "choice_input",
    "describe",
    "en_title",
    "zh_date",
    "zh_title",
]

#: A non-empty text.
Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]

#: A short non-empty text (numbers, names).
Short = Annotated[str, StringConstraints(min_length=1, max_length=500)]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


#: An HJ 212 pollutant code: a letter and five digits (``a21026`` SO₂, ``w01018`` COD).
PollutantCode = Annotated[
    str, BeforeValidator(_lower), StringConstraints(pattern=r"^[a-z][0-9]{5}$")
]


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


#: An amount of money in yuan, ≥ 0, at most 2 decimals (stored with exactly 2: ``"1500.00"``).
Money = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=2), AfterValidator(_cents)]

#: A mass in tonnes, ≥ 0.
Tonnes = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=6)]

_TRUE = {"是", "有", "已", "已完成", "y", "yes", "true", "1"}
_FALSE = {"否", "无", "未", "未完成", "n", "no", "false", "0"}


def _yes_no(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return value


#: A boolean that also reads 是/否.
YesNo = Annotated[bool, BeforeValidator(_yes_no)]


def choice_input(choices: Mapping[str, tuple[str, str]]) -> Callable[[Any], Any]:
    """A before-validator mapping a code's Chinese or English label (any case) to the code."""
    lookup: dict[str, str] = {}
    for code, (zh, en) in choices.items():
        for alias in (code, zh, en):
            lookup[alias.casefold()] = code

    def to_code(value: Any) -> Any:
        if isinstance(value, str):
            return lookup.get(value.strip().casefold(), value.strip())
        return value

    return to_code


def describe(choices: Mapping[str, tuple[str, str]]) -> str:
    return "; ".join(f"{code} = {zh} ({en})" for code, (zh, en) in choices.items())


def zh_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def zh_title(enterprise_name: str | None, what: str, detail: str | None = None) -> str:
    return f"{enterprise_name or ''}{what}" + (f"（{detail}）" if detail else "")


def en_title(what: str, enterprise_name: str | None) -> str:
    return f"{what} — {enterprise_name}" if enterprise_name else what


def after(info: ValidationInfo, name: str) -> Any:
    """The already validated value of an earlier field (None when absent or invalid)."""
    return info.data.get(name)
