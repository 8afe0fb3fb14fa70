"""Environmental protection tax tables: the rate a pollutant pays in a region (issue #11)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg
import pytest

from schemas.disclosure.tax_tables import pollution_equivalents, region_of, tax_rate

D = Decimal
DAY = date(2026, 2, 1)


@pytest.mark.parametrize(
    ("pollutant", "rate"),
    [
        ("w01018", D(3)),  # COD
        ("w21003", D(3)),  # ammonia nitrogen
        ("w20120", D(3)),  # total lead
        ("w20111", D(3)),  # total mercury
        ("w20116", D(3)),  # total chromium
        ("w20115", D(3)),  # total cadmium
        ("w20119", D(3)),  # total arsenic
        ("w20117", D("1.4")),  # hexavalent chromium: one of the other water pollutants
        ("w01012", D("1.4")),  # suspended solids
        ("w21011", D("1.4")),  # total phosphorus
    ],
)
def test_shandong_water_rates_are_the_adopted_decision(
    db: psycopg.Connection, pollutant: str, rate: Decimal
) -> None:
    found = tax_rate(db, "37", "water", pollutant, DAY)
    assert (found.region, found.value, found.confirmed) == ("37", rate, True)
    assert "山东省人民代表大会常务委员会" in found.source_document


def test_shandong_air_and_beijing_rates(db: psycopg.Connection) -> None:
    rates = {
        (region, medium, code): tax_rate(db, region, medium, code, DAY)
        for region, medium, code in [
            ("37", "gas", "a21026"),
            ("37", "gas", "a21002"),
            ("37", "gas", "a34013"),
            ("11", "gas", "a21026"),
            ("11", "water", "w01018"),
        ]
    }
    assert {k: (r.value, r.confirmed) for k, r in rates.items()} == {
        ("37", "gas", "a21026"): (D(6), True),
        ("37", "gas", "a21002"): (D(6), True),
        ("37", "gas", "a34013"): (D("1.2"), True),
        ("11", "gas", "a21026"): (D(12), True),
        ("11", "water", "w01018"): (D(14), True),
    }
    beijing = rates[("11", "gas", "a21026")].source_document
    assert beijing.startswith(
        "《北京市人民代表大会常务委员会关于北京市应税大气污染物和水污染物环境保护税适用税额的决定》"
    )
    # before the rates were in force there is none, not even the legal minimum
    with pytest.raises(LookupError):
        tax_rate(db, "37", "water", "w01018", date(2017, 12, 31))
    # a province without a loaded rate pays the legal minimum
    assert tax_rate(db, "44", "water", "w01018", DAY).value == D("1.4")


def test_region_of_a_shandong_district(db: psycopg.Connection) -> None:
    assert region_of(db, "山东省济南市历下区") == "37"
    assert region_of(db, "370102") == "37"
    assert region_of(db, "广东省广州市") == "default"


def test_every_pollution_equivalent_is_confirmed_and_says_where_it_was_read(
    db: psycopg.Connection,
) -> None:
    equivalents = pollution_equivalents(db, DAY)
    assert equivalents and all(e.confirmed and e.clause for e in equivalents.values())
    # the four items whose HJ 212 code is our mapping say that no official crosswalk exists
    notes = dict(
        db.execute(
            "SELECT pollutant, note FROM pollution_equivalents"
            " WHERE pollutant IN ('a21017', 'a30022', 'a25010', 'w20128')"
        ).fetchall()
    )
    assert len(notes) == 4 and all("no official crosswalk" in n for n in notes.values())
    assert equivalents["w20128"].clause == "二、第二类水污染物污染当量值 61"
