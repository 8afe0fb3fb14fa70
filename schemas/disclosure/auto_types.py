"""Content models of the record types published automatically from data (origin ``auto``).

- ``enterprise_profile`` (重点污染源基本情况) from the enterprise registry;
- ``daily_summary`` (自动监测日均值) per outlet and local day, from the daily means;
- ``exceedance_notice`` (自动监测超标信息) per exceedance case;
- ``emission_totals`` (污染物排放总量) per enterprise and month, from flow × concentration,
  against the permitted annual amount (staff's ``emission_quota`` records);
- ``tax_estimate`` (环境保护税估算) per enterprise and month, from pollution equivalents.

They are written by the alerts process (``alerts/publish``); numbers are decimals (exact in
the canonical JSON the publication log hashes).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.disclosure.content import RecordContent, field

__all__ = [
    "AUTO_MODELS",
    "SELF_MONITORING_NOTE_EN",
    "SELF_MONITORING_NOTE_ZH",
    "TAX_ESTIMATE_NOTE_EN",
    "TAX_ESTIMATE_NOTE_ZH",
    "DailySummary",
    "EmissionTotals",
    "EnterpriseProfile",
    "ExceedanceNotice",
    "TaxEstimate",
]

# Shanxi platform rule (docs/regulations.md#self-monitoring): shown prominently with
# self-monitoring data.
SELF_MONITORING_NOTE_ZH = "实时公布数据属于企业自行监测数据，未经环境保护主管部门审核"
SELF_MONITORING_NOTE_EN = (
    "Automatically published data are the enterprise's self-monitoring data and have not been"
    " reviewed by the environmental protection authority."
)
TAX_ESTIMATE_NOTE_ZH = (
    "本估算根据企业自动监测数据和《环境保护税法》污染当量值计算，仅供参考，不是纳税依据；"
    "应纳税额以税务机关征收、生态环境部门公开的排污费（环境保护税）征收情况为准"
)
TAX_ESTIMATE_NOTE_EN = (
    "An estimate from the enterprise's automatic monitoring data and the pollution equivalents"
    " of the Environmental Protection Tax Law, for information only; the official amounts are"
    " those collected by the tax authority and published as fee/tax records."
)

Medium = Literal["gas", "water"]


class _Part(BaseModel):
    """A nested part of a record's content: strict and immutable like the record."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _name(enterprise_name: str | None, fallback: str) -> str:
    return enterprise_name or fallback


# --- enterprise_profile ---------------------------------------------------------------------------


class PollutantRef(_Part):
    code: str = field("污染物编码", "Pollutant code (HJ 212)")
    name_zh: str = field("污染物名称", "Pollutant name (Chinese)")
    name_en: str = field("污染物英文名称", "Pollutant name (English)")


class ProfileOutlet(_Part):
    outlet_id: int = field("排放口标识", "Outlet id")
    code: str | None = field("排放口编号", "Outlet number", default=None)
    name_zh: str = field("排放口名称", "Outlet name (Chinese)")
    name_en: str | None = field("排放口英文名称", "Outlet name (English)", default=None)
    kind: Medium = field("排放口类型", "Outlet type (gas/water)")
    kind_zh: str = field("排放口类型（中文）", "Outlet type (Chinese)")
    emission_standard: str | None = field("执行标准", "Emission standard", default=None)
    permit_number: str | None = field("排污许可证编号", "Permit number", default=None)
    longitude: float | None = field("经度", "Longitude", default=None)
    latitude: float | None = field("纬度", "Latitude", default=None)
    main_pollutants: tuple[PollutantRef, ...] = field("主要污染物", "Main pollutants", default=())


class EnterpriseProfile(RecordContent):
    enterprise_id: int = field("企业标识", "Enterprise id")
    name_zh: str = field("单位名称", "Name (Chinese)")
    name_en: str | None = field("英文名称", "Name (English)", default=None)
    uscc: str | None = field("统一社会信用代码", "Unified social credit code", default=None)
    address: str | None = field("地址", "Address", default=None)
    district: str | None = field("所在行政区", "District", default=None)
    industry: str | None = field("行业", "Industry", default=None)
    control_level: str | None = field("重点监控级别", "Control level", default=None)
    control_level_zh: str | None = field(
        "重点监控级别（中文）", "Control level (Chinese)", default=None
    )
    longitude: float | None = field("经度", "Longitude", default=None)
    latitude: float | None = field("纬度", "Latitude", default=None)
    outlets: tuple[ProfileOutlet, ...] = field("排放口", "Outlets", default=())
    data_note_zh: str = field("数据说明", "Data note (Chinese)", default=SELF_MONITORING_NOTE_ZH)
    data_note_en: str = field(
        "数据说明（英文）", "Data note (English)", default=SELF_MONITORING_NOTE_EN
    )

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        zh = _name(enterprise_name, self.name_zh)
        return f"{zh} 重点污染源基本情况", f"{self.name_en or zh}: key pollution source profile"


# --- daily_summary --------------------------------------------------------------------------------


class DailyPollutant(_Part):
    pollutant: str = field("污染物编码", "Pollutant code (HJ 212)")
    name_zh: str = field("污染物名称", "Pollutant name (Chinese)")
    name_en: str = field("污染物英文名称", "Pollutant name (English)")
    unit: str | None = field("单位", "Unit", default=None)
    mean: Decimal | None = field("日均值（实测）", "Daily mean (measured)", default=None)
    converted: Decimal | None = field("日均值（折算）", "Daily mean (converted)", default=None)
    reference_o2: Decimal | None = field("基准氧含量（%）", "Reference O₂ (%)", default=None)
    valid: bool = field("日均值有效", "Valid daily mean")
    valid_hours: int = field("有效小时数", "Valid hours")
    expected_hours: int = field("应有小时数", "Expected hours")
    limit: Decimal | None = field("标准限值", "Limit", default=None)
    limit_min: Decimal | None = field("标准限值下限", "Limit lower bound", default=None)
    limit_period: Literal["hour", "day"] | None = field(
        "限值均值时段", "Averaging period of the limit", default=None
    )
    limit_source: str | None = field("限值依据", "Source of the limit", default=None)
    compliant: bool | None = field("是否达标", "Compliant", default=None)
    exceeding_hours: int | None = field("超标小时数", "Exceeding hours", default=None)
    exceedance_multiple: Decimal | None = field("超标倍数", "Exceedance multiple", default=None)


class DailySummary(RecordContent):
    enterprise_id: int = field("企业标识", "Enterprise id")
    outlet_id: int = field("排放口标识", "Outlet id")
    outlet_code: str | None = field("排放口编号", "Outlet number", default=None)
    outlet_name_zh: str = field("排放口名称", "Outlet name (Chinese)")
    outlet_name_en: str | None = field("排放口英文名称", "Outlet name (English)", default=None)
    outlet_kind: Medium = field("排放口类型", "Outlet type (gas/water)")
    day: date = field("日期", "Day (local)")
    pollutants: tuple[DailyPollutant, ...] = field("监测结果", "Results per pollutant")
    data_note_zh: str = field("数据说明", "Data note (Chinese)", default=SELF_MONITORING_NOTE_ZH)
    data_note_en: str = field(
        "数据说明（英文）", "Data note (English)", default=SELF_MONITORING_NOTE_EN
    )

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        who = _name(enterprise_name, "")
        zh = f"{who} {self.outlet_name_zh} {self.day.isoformat()} 自动监测日均值".strip()
        outlet = self.outlet_name_en or self.outlet_code or self.outlet_name_zh
        return zh, f"{who} {outlet}: daily summary of {self.day.isoformat()}".strip()


# --- exceedance_notice ----------------------------------------------------------------------------


class ExceedanceNotice(RecordContent):
    case_id: int = field("案件编号", "Case id")
    enterprise_id: int = field("企业标识", "Enterprise id")
    outlet_id: int = field("排放口标识", "Outlet id")
    outlet_code: str | None = field("排放口编号", "Outlet number", default=None)
    outlet_name_zh: str = field("排放口名称", "Outlet name (Chinese)")
    outlet_name_en: str | None = field("排放口英文名称", "Outlet name (English)", default=None)
    pollutant: str = field("污染物编码", "Pollutant code (HJ 212)")
    pollutant_name_zh: str = field("污染物名称", "Pollutant name (Chinese)")
    pollutant_name_en: str = field("污染物英文名称", "Pollutant name (English)")
    period: Literal["hour", "day"] = field("均值时段", "Averaging period")
    first_at: datetime = field("首次超标时段", "First exceeding period (start)")
    last_at: datetime = field("最近超标时段", "Latest exceeding period (start)")
    exceeding_periods: int = field("超标时段数", "Exceeding periods")
    value: Decimal = field("最高超标值", "Highest exceeding value")
    value_at: datetime = field("最高值时段", "Period of the highest value (start)")
    unit: str = field("单位", "Unit")
    limit: Decimal = field("标准限值", "Limit")
    limit_min: Decimal | None = field("标准限值下限", "Limit lower bound", default=None)
    reference_o2: Decimal | None = field("基准氧含量（%）", "Reference O₂ (%)", default=None)
    limit_standard: str | None = field("执行标准", "Standard", default=None)
    limit_source: str = field("限值依据", "Source of the limit")
    limit_clause: str | None = field("条款", "Clause", default=None)
    limit_confirmed: bool = field("限值已核对", "Limit checked against its source", default=True)
    multiple: Decimal | None = field(
        "超标倍数",
        "Exceedance multiple",
        default=None,
        description="(value − limit) / limit; empty for a range limit such as pH 6–9",
    )
    state: Literal["open", "closed"] = field("状态", "State")
    closed_at: datetime | None = field("结束时间", "Closed at", default=None)
    validity_note_zh: str = field("有效性说明", "Validity note (Chinese)")
    validity_note_en: str = field("有效性说明（英文）", "Validity note (English)")
    data_note_zh: str = field("数据说明", "Data note (Chinese)", default=SELF_MONITORING_NOTE_ZH)
    data_note_en: str = field(
        "数据说明（英文）", "Data note (English)", default=SELF_MONITORING_NOTE_EN
    )

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        who = _name(enterprise_name, "")
        zh = f"{who} {self.outlet_name_zh} {self.pollutant_name_zh} 超标".strip()
        outlet = self.outlet_name_en or self.outlet_code or self.outlet_name_zh
        return zh, f"{who} {outlet}: {self.pollutant_name_en} exceedance".strip()


# --- emission_totals ------------------------------------------------------------------------------


class TotalsPollutant(_Part):
    pollutant: str = field("污染物编码", "Pollutant code (HJ 212)")
    name_zh: str = field("污染物名称", "Pollutant name (Chinese)")
    name_en: str = field("污染物英文名称", "Pollutant name (English)")
    month_tonnes: Decimal = field("本月排放量（吨）", "Emissions this month (t)")
    ytd_tonnes: Decimal = field("年度累计排放量（吨）", "Emissions year to date (t)")
    permitted_tonnes: Decimal | None = field(
        "年许可排放量（吨）", "Permitted annual amount (t)", default=None
    )
    permit_number: str | None = field("排污许可证编号", "Permit number", default=None)
    share_of_permit: Decimal | None = field(
        "许可量使用比例", "Share of the permitted amount used", default=None
    )
    valid_hours: int = field("有效小时数", "Hours with valid flow and concentration")
    expected_hours: int = field("应有小时数", "Expected hours")
    coverage: Decimal = field("数据完整率", "Data coverage (fraction)")


class EmissionTotals(RecordContent):
    enterprise_id: int = field("企业标识", "Enterprise id")
    year: int = field("年份", "Year", ge=2000, le=2999)
    month: int = field("月份", "Month", ge=1, le=12)
    through: date = field("数据截至日期", "Data through (last local day included)")
    complete: bool = field("月份已结束", "Month complete")
    pollutants: tuple[TotalsPollutant, ...] = field("排放量", "Emissions per pollutant")
    method_note_zh: str = field("计算方法", "Method (Chinese)")
    method_note_en: str = field("计算方法（英文）", "Method (English)")
    data_note_zh: str = field("数据说明", "Data note (Chinese)", default=SELF_MONITORING_NOTE_ZH)
    data_note_en: str = field(
        "数据说明（英文）", "Data note (English)", default=SELF_MONITORING_NOTE_EN
    )

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        who = _name(enterprise_name, "")
        return (
            f"{who} {self.year}年{self.month}月 污染物排放总量".strip(),
            f"{who} total emissions {self.year}-{self.month:02d}".strip(),
        )


# --- tax_estimate ---------------------------------------------------------------------------------


class TaxItem(_Part):
    outlet_id: int = field("排放口标识", "Outlet id")
    outlet_code: str | None = field("排放口编号", "Outlet number", default=None)
    outlet_name_zh: str = field("排放口名称", "Outlet name (Chinese)")
    pollutant: str = field("污染物编码", "Pollutant code (HJ 212)")
    item_zh: str = field("应税污染物", "Taxable pollutant (Chinese)")
    item_en: str = field("应税污染物（英文）", "Taxable pollutant (English)")
    tax_group: str = field("污染物类别", "Group (air, water-1, water-2)")
    emission_kg: Decimal = field("排放量（千克）", "Emissions (kg)")
    equivalent_kg: Decimal = field("污染当量值（千克）", "Pollution equivalent value (kg)")
    equivalents: Decimal = field("污染当量数", "Pollution equivalents")
    rank: int = field("排序", "Rank in its group at the outlet")
    taxed: bool = field("是否计税", "Taxed (top items of its group)")
    rate_yuan: Decimal = field("适用税额（元/当量）", "Rate (yuan per equivalent)")
    monthly_mean: Decimal | None = field("月均浓度", "Monthly mean concentration", default=None)
    limit: Decimal | None = field("排放标准限值", "Emission limit", default=None)
    below_limit: Decimal | None = field("低于标准比例", "Fraction below the limit", default=None)
    reduction_factor: Decimal = field("减征系数", "Reduction factor (1, 0.75, 0.5)")
    tax_yuan: Decimal = field("估算税额（元）", "Estimated tax (yuan)")


class TaxEstimate(RecordContent):
    enterprise_id: int = field("企业标识", "Enterprise id")
    year: int = field("年份", "Year", ge=2000, le=2999)
    month: int = field("月份", "Month", ge=1, le=12)
    through: date = field("数据截至日期", "Data through (last local day included)")
    complete: bool = field("月份已结束", "Month complete")
    region: str = field("税额地区", "Rate region")
    region_name_zh: str = field("税额地区名称", "Rate region name")
    items: tuple[TaxItem, ...] = field("计税明细", "Items per outlet and pollutant")
    total_yuan: Decimal = field("估算税额合计（元）", "Estimated total (yuan)")
    method_note_zh: str = field("计算方法", "Method (Chinese)")
    method_note_en: str = field("计算方法（英文）", "Method (English)")
    disclaimer_zh: str = field("声明", "Disclaimer (Chinese)", default=TAX_ESTIMATE_NOTE_ZH)
    disclaimer_en: str = field("声明（英文）", "Disclaimer (English)", default=TAX_ESTIMATE_NOTE_EN)

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        who = _name(enterprise_name, "")
        return (
            f"{who} {self.year}年{self.month}月 环境保护税估算".strip(),
            f"{who} environmental protection tax estimate {self.year}-{self.month:02d}".strip(),
        )


AUTO_MODELS: dict[str, type[RecordContent]] = {
    "enterprise_profile": EnterpriseProfile,
    "daily_summary": DailySummary,
    "exceedance_notice": ExceedanceNotice,
    "emission_totals": EmissionTotals,
    "tax_estimate": TaxEstimate,
}
