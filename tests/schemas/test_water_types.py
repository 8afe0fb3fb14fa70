"""The water disclosures (issue 17): their content models, with realistic examples, the
cross-field rules, titles in both languages, and that they are record types of the ``water``
category with the category's 20-working-day clock."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from schemas.disclosure.categories import CATEGORIES, EIGHT_CATEGORIES, record_types
from schemas.disclosure.water_types import WATER_MODELS

WATER_EXAMPLES: dict[str, dict[str, Any]] = {
    "river_chief": {
        "water_body": "甬江",
        "reach": "江北段",
        "level": "县级",
        "chief_name": "王某某",
        "chief_post": "江北区副区长",
        "supervision_phone": "0574-87000000",
        "targets": "水质稳定达到Ⅲ类，河岸无违法建筑，无直排污水口",
        "appointed_on": "2026-03-01",
    },
    "river_remediation": {
        "water_body": "慈江",
        "project_name": "慈江中小河流治理工程（二期）",
        "reach": "慈城镇段",
        "status": "in_progress",
        "progress_percent": "65",
        "length_km": "12.4",
        "investment_yuan": "38000000",
        "management": "落实河道保洁和堤防巡查，建立管护台账",
        "reported_on": "2026-09-30",
    },
    "river_lake_protection": {
        "water_body": "东钱湖",
        "section": "湖心",
        "assessed_on": "2026-10-15",
        "water_class": "Ⅲ类",
        "target_class": "III",
        "meets_target": "是",
        "issues": None,
        "measures": "控制农业面源污染",
    },
    "water_resources": {
        "region": "宁波市",
        "year": 2025,
        "total_use": "218000",
        "total_use_cap": "225000",
        "use_per_gdp": "12.5",
        "irrigation_coefficient": "0.61",
        "function_zone_compliance": "96.5",
        "within_cap": True,
        "published_on": "2026-06-30",
    },
    "drinking_water": {
        "supply": "宁波市毛家坪水厂",
        "sampling_point": "出厂水取样口",
        "sampling_type": "treated",
        "sampled_on": "2026-11-02",
        "indicators_tested": 43,
        "indicators_exceeding": 0,
        "exceeding": None,
        "qualified": True,
    },
}


def validate(code: str, **changes: Any) -> Any:
    return WATER_MODELS[code].model_validate({**WATER_EXAMPLES[code], **changes})


def errors(code: str, **changes: Any) -> set[str]:
    with pytest.raises(ValidationError) as exc:
        validate(code, **changes)
    return {".".join(str(p) for p in e["loc"]) for e in exc.value.errors()}


@pytest.mark.parametrize("code", sorted(WATER_EXAMPLES))
def test_examples_validate_and_have_bilingual_titles(code: str) -> None:
    zh, en = validate(code).titles(None)
    assert zh and en and zh != en


def test_labels_and_titles() -> None:
    chief = validate("river_chief")
    assert chief.level == "county"  # the Chinese label is stored as the code
    assert chief.titles(None) == (
        "甬江江北段县级河长：王某某",
        "County river chief of 甬江 (江北段): 王某某",
    )
    assert validate("drinking_water").standard == "GB 5749-2022"


def test_cross_field_rules() -> None:
    assert errors("river_lake_protection", water_class="IV") == {"meets_target"}
    assert validate("river_lake_protection", water_class="IV", meets_target=False)
    assert errors("water_resources", total_use="230000") == {"within_cap"}
    assert errors("river_remediation", status="completed") == {"progress_percent"}
    assert errors("river_remediation", progress_percent="101") == {"progress_percent"}
    assert errors("drinking_water", indicators_exceeding=1) >= {"exceeding", "qualified"}
    assert validate(
        "drinking_water", indicators_exceeding=1, exceeding="浑浊度 1.2 NTU", qualified=False
    )
    assert errors("drinking_water", indicators_exceeding=50) == {"indicators_exceeding"}
    assert errors("river_chief", supervision_phone="call me") == {"supervision_phone"}
    assert errors("river_chief", level="国家级") == {"level"}


def test_water_is_a_category_beside_the_eight(db: psycopg.Connection) -> None:
    assert CATEGORIES == (*EIGHT_CATEGORIES, "water") and len(EIGHT_CATEGORIES) == 8
    types = {code: t for code, t in record_types(db).items() if t.category == "water"}
    assert set(types) == set(WATER_MODELS)
    assert {(t.origin, t.deadline_days) for t in types.values()} == {("staff", 20)}
