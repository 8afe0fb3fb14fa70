"""Content models of the water disclosures (category ``water``, 水环境信息): the records the
bureau's plan publishes beside the eight categories, authored, reviewed, clocked, logged and fed
exactly as the staff records of :mod:`schemas.disclosure.staff_types` (they are part of
:data:`schemas.disclosure.staff_types.STAFF_MODELS`).

* ``river_chief`` — 河长名单: one river chief of a river or lake reach, with the supervision
  telephone and the management and protection targets;
* ``river_remediation`` — 中小河流治理及长效管护进展: progress of a small or medium river
  remediation project and its long-term management;
* ``river_lake_protection`` — 河湖保护状况: the assessed water quality of a river or lake against
  its target class;
* ``water_resources`` — 最严格水资源管理制度信息: a region's yearly water use against the total
  water-use red line, and the other two red lines (efficiency, water-function-zone compliance);
* ``drinking_water`` — 饮用水水质检测结果: one drinking-water test against GB 5749-2022.

The conventions are those of :mod:`schemas.disclosure.staff_types`; the field lists follow the
bureau's plan (issue 17) and are marked unconfirmed in the record-type table until checked
against national formats (docs/regulations.md#water-disclosures).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, StringConstraints, ValidationInfo, field_validator

from schemas.disclosure.content import RecordContent, field
from schemas.disclosure.fields import (
    Money,
    Short,
    Text,
    YesNo,
    after,
    choice_input,
    describe,
    en_title,
    zh_date,
    zh_title,
)

__all__ = [
    "CHIEF_LEVELS",
    "PROJECT_STATUSES",
    "WATER_CLASSES",
    "WATER_MODELS",
    "DrinkingWater",
    "RiverChief",
    "RiverLakeProtection",
    "RiverRemediation",
    "WaterResources",
]

Telephone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9+()\- ]{5,30}$")]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=6, decimal_places=2)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=4)]

# --- 河长名单 river chiefs --------------------------------------------------------------------

CHIEF_LEVELS: dict[str, tuple[str, str]] = {
    "province": ("省级", "provincial"),
    "city": ("市级", "city"),
    "county": ("县级", "county"),
    "township": ("乡级", "township"),
    "village": ("村级", "village"),
}
ChiefLevel = Annotated[
    Literal["province", "city", "county", "township", "village"],
    BeforeValidator(choice_input(CHIEF_LEVELS)),
]


class RiverChief(RecordContent):
    """河长名单 — one river (lake) chief of a reach."""

    formed_field: ClassVar[str | None] = "appointed_on"

    water_body: Short = field("河湖名称", "River or lake")
    reach: Short = field("河段（湖片）", "Reach")
    level: ChiefLevel = field("河长级别", "Level", description=describe(CHIEF_LEVELS))
    chief_name: Short = field("河长姓名", "Chief's name")
    chief_post: Short = field("河长职务", "Chief's post")
    supervision_phone: Telephone = field("监督电话", "Supervision telephone")
    targets: Text = field("管理保护目标", "Management and protection targets")
    appointed_on: date = field("任命（公布）日期", "Appointed (announced) on")

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        zh_level, en_level = CHIEF_LEVELS[self.level]
        return (
            zh_title(
                enterprise_name, f"{self.water_body}{self.reach}{zh_level}河长：{self.chief_name}"
            ),
            en_title(
                f"{en_level.capitalize()} river chief of {self.water_body} ({self.reach}): "
                + self.chief_name,
                enterprise_name,
            ),
        )


# --- 中小河流治理及长效管护 small and medium river remediation ---------------------------------

PROJECT_STATUSES: dict[str, tuple[str, str]] = {
    "planned": ("未开工", "not started"),
    "in_progress": ("在建", "in progress"),
    "completed": ("已完工", "completed"),
    "maintained": ("已完工，长效管护中", "completed, under long-term management"),
}
ProjectStatus = Annotated[
    Literal["planned", "in_progress", "completed", "maintained"],
    BeforeValidator(choice_input(PROJECT_STATUSES)),
]


class RiverRemediation(RecordContent):
    """中小河流治理及长效管护进展 — progress of one remediation project."""

    formed_field: ClassVar[str | None] = "reported_on"

    water_body: Short = field("河流名称", "River")
    project_name: Short = field("治理项目名称", "Project")
    reach: Short | None = field("治理河段", "Reach", None)
    status: ProjectStatus = field("进展状态", "Status", description=describe(PROJECT_STATUSES))
    progress_percent: Percent = field("形象进度（%）", "Progress (%)")
    length_km: Amount | None = field("治理河长（千米）", "Length treated (km)", None)
    investment_yuan: Money | None = field("完成投资（元）", "Investment made (yuan)", None)
    management: Text | None = field("长效管护措施", "Long-term management measures", None)
    reported_on: date = field("报告日期", "Reported on")

    @field_validator("progress_percent")
    @classmethod
    def _progress_fits_status(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        status = after(info, "status")
        if status in ("completed", "maintained") and value != 100:
            raise ValueError("a completed project is at 100 %")
        if status == "planned" and value != 0:
            raise ValueError("a project not started is at 0 %")
        return value

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        zh, en = PROJECT_STATUSES[self.status]
        return (
            zh_title(
                enterprise_name,
                f"{self.water_body}{self.project_name}治理进展",
                f"{zh_date(self.reported_on)}，{zh}",
            ),
            en_title(
                f"River remediation {self.project_name}, {self.water_body}: {en} "
                f"({self.reported_on.isoformat()})",
                enterprise_name,
            ),
        )


# --- 河湖保护状况 river and lake protection ----------------------------------------------------

WATER_CLASSES: dict[str, tuple[str, str]] = {
    "I": ("Ⅰ类", "class I"),
    "II": ("Ⅱ类", "class II"),
    "III": ("Ⅲ类", "class III"),
    "IV": ("Ⅳ类", "class IV"),
    "V": ("Ⅴ类", "class V"),
    "worse_than_V": ("劣Ⅴ类", "worse than class V"),
}
WaterClass = Annotated[
    Literal["I", "II", "III", "IV", "V", "worse_than_V"],
    BeforeValidator(choice_input(WATER_CLASSES)),
]
_ORDER = list(WATER_CLASSES)


class RiverLakeProtection(RecordContent):
    """河湖保护状况 — the assessed state of a river or lake against its target class
    (GB 3838-2002 classes)."""

    formed_field: ClassVar[str | None] = "assessed_on"

    water_body: Short = field("河湖名称", "River or lake")
    section: Short | None = field("断面（水域）", "Section", None)
    assessed_on: date = field("评价日期", "Assessed on")
    water_class: WaterClass = field(
        "水质类别", "Water quality class", description=describe(WATER_CLASSES)
    )
    target_class: WaterClass = field(
        "目标水质类别", "Target class", description=describe(WATER_CLASSES)
    )
    meets_target: YesNo = field("是否达标", "Meets the target")
    issues: Text | None = field("主要问题", "Main problems", None)
    measures: Text | None = field("保护措施", "Protection measures", None)

    @field_validator("meets_target")
    @classmethod
    def _consistent(cls, value: bool, info: ValidationInfo) -> bool:
        water, target = after(info, "water_class"), after(info, "target_class")
        if water is not None and target is not None:
            meets = _ORDER.index(water) <= _ORDER.index(target)
            if value != meets:
                raise ValueError(
                    f"class {water} {'meets' if meets else 'misses'} the target class {target}"
                )
        return value

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        zh, en = WATER_CLASSES[self.water_class]
        return (
            zh_title(
                enterprise_name, f"{self.water_body}保护状况", f"{zh_date(self.assessed_on)}，{zh}"
            ),
            en_title(
                f"Protection status of {self.water_body} ({self.assessed_on.isoformat()}, {en})",
                enterprise_name,
            ),
        )


# --- 最严格水资源管理制度 the strictest water-resources management -----------------------------


class WaterResources(RecordContent):
    """最严格水资源管理制度信息 — a region's year against the three red lines (total use,
    efficiency, water-function-zone compliance)."""

    formed_field: ClassVar[str | None] = "published_on"

    region: Short = field("行政区域", "Region")
    year: int = field("年度", "Year", ge=2000, le=2100)
    total_use: Amount = field("用水总量（万立方米）", "Total water use (10,000 m3)")
    total_use_cap: Amount = field("用水总量控制指标（万立方米）", "Total-use red line (10,000 m3)")
    use_per_gdp: Amount | None = field(
        "万元国内生产总值用水量（立方米）", "Water use per 10,000 yuan of GDP (m3)", None
    )
    irrigation_coefficient: Annotated[Decimal, Field(ge=0, le=1)] | None = field(
        "农田灌溉水有效利用系数", "Irrigation water efficiency coefficient", None
    )
    function_zone_compliance: Percent | None = field(
        "重要水功能区水质达标率（%）", "Key water-function zones meeting their target (%)", None
    )
    within_cap: YesNo = field("是否控制在用水总量指标内", "Within the total-use red line")
    published_on: date = field("公布日期", "Published on")

    @field_validator("within_cap")
    @classmethod
    def _consistent(cls, value: bool, info: ValidationInfo) -> bool:
        use, cap = after(info, "total_use"), after(info, "total_use_cap")
        if use is not None and cap is not None and value != (use <= cap):
            raise ValueError(f"total use {use} is {'within' if use <= cap else 'over'} {cap}")
        return value

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        return (
            zh_title(enterprise_name, f"{self.region}{self.year}年度最严格水资源管理制度执行情况"),
            en_title(
                f"Strictest water-resources management, {self.region}, {self.year}",
                enterprise_name,
            ),
        )


# --- 饮用水水质 drinking water -------------------------------------------------------------------


class DrinkingWater(RecordContent):
    """饮用水水质检测结果 — one test of a water supply against GB 5749-2022."""

    formed_field: ClassVar[str | None] = "sampled_on"

    supply: Short = field("供水单位（水厂）", "Water supply (plant)")
    sampling_point: Short = field("采样点", "Sampling point")
    sampling_type: Literal["source", "treated", "network", "tap"] = field(
        "水样类型",
        "Sample",
        description="source = 水源水; treated = 出厂水; network = 管网水; tap = 末梢水",
    )
    sampled_on: date = field("采样日期", "Sampled on")
    standard: Short = field("评价标准", "Standard", "GB 5749-2022")
    indicators_tested: int = field("检测指标数", "Indicators tested", ge=1, le=1000)
    indicators_exceeding: int = field("超标指标数", "Indicators exceeding", ge=0, le=1000)
    exceeding: Text | None = field("超标指标及结果", "Exceeding indicators and values", None)
    qualified: YesNo = field("是否合格", "Qualified")

    @field_validator("indicators_exceeding")
    @classmethod
    def _at_most_tested(cls, value: int, info: ValidationInfo) -> int:
        tested = after(info, "indicators_tested")
        if tested is not None and value > tested:
            raise ValueError(f"more than the {tested} indicators tested")
        return value

    @field_validator("exceeding")
    @classmethod
    def _named_when_exceeding(cls, value: str | None, info: ValidationInfo) -> str | None:
        if after(info, "indicators_exceeding") and value is None:
            raise ValueError("name the exceeding indicators and their values")
        return value

    @field_validator("qualified")
    @classmethod
    def _consistent(cls, value: bool, info: ValidationInfo) -> bool:
        count = after(info, "indicators_exceeding")
        if count is not None and value != (count == 0):
            raise ValueError("qualified exactly when no indicator exceeds")
        return value

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        verdict = ("合格", "qualified") if self.qualified else ("不合格", "not qualified")
        return (
            zh_title(
                enterprise_name,
                f"{self.supply}饮用水水质检测结果",
                f"{zh_date(self.sampled_on)}，{verdict[0]}",
            ),
            en_title(
                f"Drinking water, {self.supply} ({self.sampled_on.isoformat()}, {verdict[1]})",
                enterprise_name,
            ),
        )


WATER_MODELS: dict[str, type[RecordContent]] = {
    "river_chief": RiverChief,
    "river_remediation": RiverRemediation,
    "river_lake_protection": RiverLakeProtection,
    "water_resources": WaterResources,
    "drinking_water": DrinkingWater,
}
