from __future__ import annotations

import dataclasses
import re
from collections import Counter

import pytest

from schemas.codes.pollutants import (
    STANDARD_2005,
    STANDARD_2017,
    Pollutant,
    legacy_codes,
    load_flags,
    load_pollutants,
)


def test_every_code_of_tables_b1_b2_b3() -> None:
    pollutants = load_pollutants()
    assert Counter(p.medium for p in pollutants.values()) == {"water": 63, "air": 121, "noise": 12}
    assert all(code == p.code for code, p in pollutants.items())


@pytest.mark.parametrize(
    ("medium", "pattern"), [("water", r"w\d{5}"), ("air", r"a\d{5}"), ("noise", r"L\w{1,3}")]
)
def test_code_shapes(medium: str, pattern: str) -> None:
    codes = [p.code for p in load_pollutants().values() if p.medium == medium]
    assert all(re.fullmatch(pattern, code) for code in codes), codes


KNOWN = [
    Pollutant(
        "a21026",
        "air",
        "二氧化硫",
        "sulfur dioxide (SO2)",
        "毫克/立方米",
        "mg/m³",
        "千克",
        "kg",
        "02",
        "N5.2",
        "HJ 212-2017 Table B.2",
    ),
    Pollutant(
        "w01018",
        "water",
        "化学需氧量",
        "COD (chemical oxygen demand)",
        "毫克/升",
        "mg/L",
        "千克",
        "kg",
        "011",
        "N5.1",
        "HJ 212-2017 Table B.1",
    ),
    Pollutant(
        "w00000",
        "water",
        "污水",
        "wastewater (flow)",
        "升/秒",
        "L/s",
        "立方米",
        "m³",
        "B01",
        "N5.2",
        "HJ 212-2017 Table B.1",
    ),
    Pollutant(
        "w01001",
        "water",
        "pH 值",
        "pH",
        "无量纲",
        "dimensionless",
        None,
        None,
        "001",
        "N2.2",
        "HJ 212-2017 Table B.1",
    ),
    Pollutant(
        "a24088",
        "air",
        "非甲烷总烃",
        "non-methane hydrocarbons (NMHC)",
        "毫克/立方米",
        "mg/m³",
        "千克",
        "kg",
        None,
        "N7.3",
        "HJ 212-2017 Table B.2",
    ),
    Pollutant(
        "a34011",
        "air",
        "降尘",
        "dustfall",
        "吨/平方千米•月",
        "t/(km²·month)",
        None,
        None,
        None,
        None,
        "HJ 212-2017 Table B.2",
    ),
    Pollutant(
        "Leq",
        "noise",
        "等效声级",
        "equivalent continuous sound level",
        "分贝",
        "dB",
        None,
        None,
        None,
        "N3.1",
        "HJ 212-2017 Table B.3",
    ),
]


@pytest.mark.parametrize("expected", KNOWN, ids=lambda p: p.code)
def test_known_rows(expected: Pollutant) -> None:
    assert load_pollutants()[expected.code] == expected


def test_legacy_codes_are_mapped_per_medium() -> None:
    water, air = legacy_codes("water"), legacy_codes("air")
    assert water["011"] == "w01018"
    assert water["060"] == "w21003"
    assert water["B01"] == "w00000"
    assert air["02"] == "a21026"
    assert air["S01"] == "a19001"
    assert air["B02"] == "a00000"
    assert water["023"] == "w20116"  # total chromium; "023" means something else elsewhere
    assert "023" not in air and "011" not in air
    assert (len(water), len(air)) == (48, 45)
    assert legacy_codes("noise") == {}


def test_unknown_medium() -> None:
    with pytest.raises(ValueError, match="unknown medium 'soil'"):
        legacy_codes("soil")


def test_tables_are_read_once_and_frozen() -> None:
    assert load_pollutants() is load_pollutants()
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_pollutants()["a21026"].unit_en = "ppm"  # type: ignore[misc]
    with pytest.raises(TypeError):
        load_pollutants()["x"] = load_pollutants()["a21026"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("standard", "codes"), [(STANDARD_2017, "NFMSDCTB"), (STANDARD_2005, "PNFCMTDS")]
)
def test_flags_only_n_is_valid(standard: str, codes: str) -> None:
    flags = {code: f for (std, code), f in load_flags().items() if std == standard}
    assert "".join(flags) == codes
    assert [code for code, f in flags.items() if f.valid] == ["N"]


def test_flag_rows() -> None:
    maintenance = load_flags()[(STANDARD_2017, "M")]
    assert maintenance.name_zh == "在线监控（监测）仪器仪表处于维护期间产生的数据"
    assert maintenance.name_en == "maintenance"
    assert maintenance.source == "HJ 212-2017 Table 8"
    assert load_flags()[(STANDARD_2005, "P")].name_zh == "电源故障"
    assert "secondary" in load_flags()[(STANDARD_2005, "P")].source
