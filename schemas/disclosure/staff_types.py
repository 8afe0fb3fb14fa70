"""Content models of the record types staff author (``origin=staff`` in
``schemas/codes/data/disclosure_record_types.csv``).

One model per type, keyed by its code in :data:`STAFF_MODELS`. The fields are what bureaus publish
for each of the eight categories (docs/regulations.md#eight-categories): a penalty decision has the
party, its USCC, the facts, the legal basis, the penalty and the execution status; an emergency
event its time, place, effects, plan activation and handling progress; and so on.

Conventions:

* every field has a Chinese and an English label (:func:`~schemas.disclosure.content.field`);
* dates are ``date`` (a time only where the time matters: ``emergency_event.occurred_at``, a
  naive value meaning Asia/Shanghai), money is ``Decimal`` yuan ≥ 0, tonnes ``Decimal`` ≥ 0;
* a choice is a ``Literal`` of English codes (stored and published as the code); the Chinese
  or English label of a code is accepted on input and stored as the code (so ``已执行`` becomes
  ``executed``), the codes and their meanings are in each field's description;
* booleans also accept ``是``/``否``;
* optional fields default to ``None``;
* USCCs (统一社会信用代码) are checked by :data:`Uscc`, HJ 212 pollutant codes by
  :data:`PollutantCode`.

Cross-field rules raise on the field they concern, so an error names it (``evaluation``,
``kind``, …).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    ValidationInfo,
    field_validator,
)

from schemas.disclosure.content import RecordContent, field
from schemas.disclosure.fields import (
    Money,
    PollutantCode,
    Short,
    Text,
    Tonnes,
    Uscc,
    YesNo,
    after,
    choice_input,
    describe,
    en_title,
    zh_date,
    zh_title,
)
from schemas.disclosure.water_types import WATER_MODELS
from schemas.limits.judgement import LimitBounds, judge

__all__ = [
    "EXECUTION_STATUSES",
    "FEE_KINDS",
    "INSPECTION_TYPES",
    "MONITORING_EVALUATIONS",
    "REMEDIATION_ORDER_TYPES",
    "REMEDIATION_STATUSES",
    "STAFF_MODELS",
    "TAX_START",
    "EiaApproval",
    "EmergencyEvent",
    "EmergencyPlan",
    "EmissionQuota",
    "FeeRecord",
    "InspectionResult",
    "PenaltyDecision",
    "RemediationOrder",
    "StaffRecordType",
    "SupervisoryMonitoring",
]

# --- 行政处罚 penalty ------------------------------------------------------------------------

EXECUTION_STATUSES: dict[str, tuple[str, str]] = {
    "pending": ("待执行", "pending"),
    "executing": ("执行中", "being executed"),
    "executed": ("已执行", "executed"),
    "reconsideration": ("行政复议中", "under administrative reconsideration"),
    "litigation": ("行政诉讼中", "under administrative litigation"),
}
ExecutionStatus = Annotated[
    Literal["pending", "executing", "executed", "reconsideration", "litigation"],
    BeforeValidator(choice_input(EXECUTION_STATUSES)),
]


class PenaltyDecision(RecordContent):
    """行政处罚决定 — an administrative penalty decision (category 7, 双公示)."""

    formed_field: ClassVar[str | None] = "decision_date"

    party: Short = field("当事人", "Party")
    uscc: Uscc = field("统一社会信用代码", "USCC")
    decision_number: Short = field("处罚决定书文号", "Decision number")
    facts: Text = field("违法事实", "Facts of the violation")
    legal_basis: Text = field("处罚依据", "Legal basis")
    penalty: Text = field("处罚内容", "Penalty")
    fine_yuan: Money | None = field("罚款金额（元）", "Fine (yuan)", None)
    decision_date: date = field("处罚决定日期", "Decision date")
    authority: Short = field("处罚机关", "Penalty authority")
    execution_status: ExecutionStatus = field(
        "执行情况", "Execution status", description=describe(EXECUTION_STATUSES)
    )

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        name = enterprise_name or self.party
        return (
            zh_title(name, "行政处罚决定", self.decision_number),
            en_title(f"Penalty decision {self.decision_number}", name),
        )


# --- 环境应急 emergency ----------------------------------------------------------------------

EVENT_LEVELS: dict[str, tuple[str, str]] = {
    "especially_major": ("特别重大", "especially major"),
    "major": ("重大", "major"),
    "large": ("较大", "large"),
    "general": ("一般", "general"),
}
EventLevel = Annotated[
    Literal["especially_major", "major", "large", "general"],
    BeforeValidator(choice_input(EVENT_LEVELS)),
]


class EmergencyEvent(RecordContent):
    """突发环境事件 — an environmental emergency event (category 8)."""

    formed_field: ClassVar[str | None] = "occurred_at"

    occurred_at: datetime = field(
        "发生时间", "Occurred at", description="without a UTC offset: Asia/Shanghai time"
    )
    place: Short = field("发生地点", "Place")
    event_level: EventLevel | None = field(
        "事件级别", "Event level", None, description=describe(EVENT_LEVELS)
    )
    description: Text = field("事件概况", "Description")
    casualties: Text = field("人员伤亡情况", "Casualties")
    losses: Text = field("财产损失及环境影响", "Losses and environmental effects")
    direct_loss_yuan: Money | None = field(
        "直接经济损失（元）", "Direct economic loss (yuan)", None
    )
    plan_activated: YesNo = field("是否启动应急预案", "Emergency plan activated")
    plan_level: Short | None = field(
        "应急响应级别",
        "Response level",
        None,
        description="only when the emergency plan was activated",
        validate_default=True,
    )
    handling_progress: Text = field("处置进展", "Handling progress")
    investigation_result: Text | None = field("调查处理结果", "Investigation result", None)

    @field_validator("plan_level")
    @classmethod
    def _level_needs_activation(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and after(info, "plan_activated") is False:
            raise ValueError("a response level is given only when the plan was activated")
        return value

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        day = self.occurred_at.date()
        return (
            zh_title(enterprise_name, "突发环境事件", f"{zh_date(day)}，{self.place}"),
            en_title(
                f"Environmental emergency on {day.isoformat()} at {self.place}", enterprise_name
            ),
        )


RISK_LEVELS: dict[str, tuple[str, str]] = {
    "general": ("一般环境风险", "general"),
    "larger": ("较大环境风险", "larger"),
    "major": ("重大环境风险", "major"),
}
RiskLevel = Annotated[
    Literal["general", "larger", "major"], BeforeValidator(choice_input(RISK_LEVELS))
]


class EmergencyPlan(RecordContent):
    """应急预案备案 — the filing of an enterprise's environmental emergency plan (category 8)."""

    formed_field: ClassVar[str | None] = "filed_on"

    enterprise_name: Short = field("企业名称", "Enterprise name")
    plan_name: Short = field("预案名称", "Plan name")
    filing_number: Short = field("备案编号", "Filing number")
    filed_on: date = field("备案日期", "Filed on")
    filing_authority: Short | None = field("备案机关", "Filing authority", None)
    risk_level: RiskLevel | None = field(
        "环境风险等级", "Environmental risk level", None, description=describe(RISK_LEVELS)
    )

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        name = enterprise_name or self.enterprise_name
        return (
            zh_title(name, "突发环境事件应急预案备案", self.filing_number),
            en_title(f"Emergency plan filing {self.filing_number}", name),
        )


# --- 污染源监测 monitoring -------------------------------------------------------------------

MONITORING_EVALUATIONS: dict[str, tuple[str, str]] = {
    "compliant": ("达标", "compliant"),
    "exceeding": ("超标", "exceeding"),
}
Evaluation = Annotated[
    Literal["compliant", "exceeding"], BeforeValidator(choice_input(MONITORING_EVALUATIONS))
]
_HUNDREDTH = Decimal("0.01")


def _hundredths(multiple: Decimal) -> Decimal:
    """超标倍数 as published: rounded half up to 2 decimals."""
    return multiple.quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)


class SupervisoryMonitoring(RecordContent):
    """监督性监测结果 — one result of the authority's supervisory monitoring (category 2).

    Fields as Shanxi publishes them: point, date, indicator, concentration, standard limit,
    evaluation (达标/超标), exceedance multiple (超标倍数), reason if not monitored.

    * With a ``value``, judged by :func:`schemas.limits.judgement.judge`: ``evaluation`` is
      ``exceeding`` when the value is above ``limit_value`` (or below ``limit_lower``, for
      range limits such as pH 6–9), else ``compliant``; left out, it is filled in, given, it
      must agree. Above an upper limit, ``exceedance_multiple`` is (value − limit) / limit to 2
      decimals (filled in when left out, checked when given); it is empty otherwise, and for a
      range limit, which has no multiple. ``not_monitored_reason`` must be empty.
    * Without a ``value`` (not monitored: the plant stopped …): ``not_monitored_reason`` is
      required and ``evaluation`` / ``exceedance_multiple`` are empty.
    """

    formed_field: ClassVar[str | None] = "monitored_on"

    monitored_on: date = field("监测日期", "Monitored on")
    point: Short = field("监测点位", "Monitoring point")
    outlet_code: Short | None = field("排放口编号", "Outlet code", None)
    pollutant: PollutantCode = field(
        "监测指标代码", "Pollutant code", description="HJ 212 code, e.g. a21026 SO₂, w01018 COD"
    )
    pollutant_name: Short = field("监测指标", "Pollutant name")
    value: Decimal | None = field(
        "监测值", "Measured value", None, description="empty when not monitored"
    )
    unit: Short = field("计量单位", "Unit", description="e.g. mg/m³, mg/L")
    limit_value: Decimal = field(
        "标准限值", "Limit value", gt=0, description="upper limit, in the same unit"
    )
    limit_lower: Decimal | None = field(
        "标准限值下限", "Lower limit", None, description="for range limits such as pH 6–9"
    )
    standard: Short = field("执行标准", "Applicable standard", description="e.g. GB 13223-2011")
    evaluation: Evaluation | None = field(
        "评价结果",
        "Evaluation",
        None,
        description=describe(MONITORING_EVALUATIONS) + "; filled in from the value when empty",
        validate_default=True,
    )
    exceedance_multiple: Decimal | None = field(
        "超标倍数",
        "Exceedance multiple",
        None,
        ge=0,
        description="(value − limit) / limit, 2 decimals; filled in when empty; empty for a"
        " range limit such as pH 6–9",
        validate_default=True,
    )
    monitoring_body: Short = field("监测单位", "Monitoring body")
    not_monitored_reason: Text | None = field(
        "未监测原因", "Reason not monitored", None, validate_default=True
    )

    @field_validator("limit_lower")
    @classmethod
    def _lower_below_upper(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        upper = after(info, "limit_value")
        if value is not None and upper is not None and value >= upper:
            raise ValueError(f"must be below the limit value {upper}")
        return value

    @field_validator("evaluation")
    @classmethod
    def _evaluation_agrees(cls, given: str | None, info: ValidationInfo) -> str | None:
        if any(n not in info.data for n in ("value", "limit_value", "limit_lower")):
            return given  # an earlier field is bad and already reported
        value: Decimal | None = info.data["value"]
        if value is None:
            if given is not None:
                raise ValueError("no evaluation without a measured value")
            return None
        upper: Decimal = info.data["limit_value"]
        lower: Decimal | None = info.data["limit_lower"]
        expected = "exceeding" if judge(value, LimitBounds(upper, lower)).exceeds else "compliant"
        if given is not None and given != expected:
            bounds = f"{lower}–{upper}" if lower is not None else f"{upper}"
            raise ValueError(
                f"value {value} against limit {bounds} is {expected}"
                f" ({MONITORING_EVALUATIONS[expected][0]}), not {given}"
            )
        return expected

    @field_validator("exceedance_multiple")
    @classmethod
    def _multiple_agrees(cls, given: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if any(n not in info.data for n in ("value", "limit_value", "limit_lower")):
            return given  # an earlier field is bad and already reported
        value: Decimal | None = info.data["value"]
        upper: Decimal = info.data["limit_value"]
        lower: Decimal | None = info.data["limit_lower"]
        if value is None:
            if given is not None:
                raise ValueError("no exceedance multiple without a measured value")
            return None
        verdict = judge(value, LimitBounds(upper, lower))
        if verdict.multiple is None:
            if given is not None and given != 0:
                if lower is not None:
                    raise ValueError(
                        f"a range limit ({lower}–{upper}) has no exceedance multiple: leave it empty"
                    )
                raise ValueError(f"value {value} is not above the limit {upper}: leave it empty")
            return None
        expected = _hundredths(verdict.multiple)
        if given is not None and _hundredths(given) != expected:
            raise ValueError(
                f"(value − limit) / limit = ({value} − {upper}) / {upper} = {expected}"
            )
        return expected

    @field_validator("not_monitored_reason")
    @classmethod
    def _reason_iff_no_value(cls, reason: str | None, info: ValidationInfo) -> str | None:
        if "value" not in info.data:
            return reason
        if info.data["value"] is None and reason is None:
            raise ValueError("required when there is no measured value")
        if info.data["value"] is not None and reason is not None:
            raise ValueError("only when there is no measured value")
        return reason

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        day = self.monitored_on
        return (
            zh_title(
                enterprise_name,
                "监督性监测结果",
                f"{zh_date(day)}，{self.point}，{self.pollutant_name}",
            ),
            en_title(
                f"Supervisory monitoring {day.isoformat()}, {self.point}, {self.pollutant_name}",
                enterprise_name,
            ),
        )


# --- 总量控制 total control ------------------------------------------------------------------


class EmissionQuota(RecordContent):
    """总量控制指标 — a pollutant's permitted annual emission amount (排污许可证, category 3)."""

    formed_field: ClassVar[str | None] = "issued_on"

    year: int = field("年度", "Year", ge=2000, le=2100)
    pollutant: PollutantCode = field(
        "污染物代码", "Pollutant code", description="HJ 212 code, e.g. a21026 SO₂, w01018 COD"
    )
    pollutant_name: Short = field("污染物名称", "Pollutant name")
    permitted_tonnes: Tonnes = field("许可排放量（吨/年）", "Permitted amount (t/a)")
    permit_number: Short = field("排污许可证编号", "Permit number")
    issued_on: date = field("核发日期", "Issued on")

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        return (
            zh_title(
                enterprise_name,
                f"{self.year}年{self.pollutant_name}总量控制指标",
                self.permit_number,
            ),
            en_title(
                f"Permitted {self.pollutant_name} emissions {self.year} ({self.permit_number})",
                enterprise_name,
            ),
        )


# --- 污染防治 pollution prevention -----------------------------------------------------------

REMEDIATION_ORDER_TYPES: dict[str, tuple[str, str]] = {
    "deadline_remediation": ("限期治理", "remediation within a deadline"),
    "suspension": ("停产整治", "suspension for remediation"),
}
REMEDIATION_STATUSES: dict[str, tuple[str, str]] = {
    "in_progress": ("整改中", "in progress"),
    "completed": ("已完成", "completed"),
    "overdue": ("逾期未完成", "overdue"),
    "lifted": ("已解除", "lifted"),
}
OrderType = Annotated[
    Literal["deadline_remediation", "suspension"],
    BeforeValidator(choice_input(REMEDIATION_ORDER_TYPES)),
]
RemediationStatus = Annotated[
    Literal["in_progress", "completed", "overdue", "lifted"],
    BeforeValidator(choice_input(REMEDIATION_STATUSES)),
]


class RemediationOrder(RecordContent):
    """限期治理 / 停产整治决定 — a remediation or suspension order (category 4)."""

    formed_field: ClassVar[str | None] = "issued_on"

    order_type: OrderType = field(
        "决定类型", "Order type", description=describe(REMEDIATION_ORDER_TYPES)
    )
    decision_number: Short = field("决定书文号", "Decision number")
    issued_on: date = field("决定日期", "Issued on")
    authority: Short | None = field("作出决定机关", "Issuing authority", None)
    reason: Text | None = field("责令原因", "Reason", None)
    measures: Text = field("整治要求及措施", "Required measures")
    deadline: date = field("整治期限", "Deadline")
    status: RemediationStatus = field(
        "整治进展", "Status", description=describe(REMEDIATION_STATUSES)
    )

    @field_validator("deadline")
    @classmethod
    def _deadline_after_issue(cls, value: date, info: ValidationInfo) -> date:
        issued = after(info, "issued_on")
        if issued is not None and value < issued:
            raise ValueError(f"is before the decision date {issued.isoformat()}")
        return value

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        zh, en = REMEDIATION_ORDER_TYPES[self.order_type]
        return (
            zh_title(enterprise_name, f"{zh}决定", self.decision_number),
            en_title(f"{en.capitalize()} order {self.decision_number}", enterprise_name),
        )


ACCEPTANCE_RESULTS: dict[str, tuple[str, str]] = {
    "passed": ("通过", "passed"),
    "failed": ("未通过", "failed"),
}
AcceptanceResult = Annotated[
    Literal["passed", "failed"], BeforeValidator(choice_input(ACCEPTANCE_RESULTS))
]


class EiaApproval(RecordContent):
    """环评审批及竣工验收 — an EIA approval and its completion acceptance (category 4)."""

    formed_field: ClassVar[str | None] = "approved_on"

    project_name: Short = field("建设项目名称", "Project name")
    approval_number: Short = field("环评批复文号", "Approval number")
    approved_on: date = field("批复日期", "Approved on")
    approving_authority: Short = field("审批部门", "Approving authority")
    acceptance_on: date | None = field("竣工环保验收日期", "Completion acceptance date", None)
    acceptance_result: AcceptanceResult | None = field(
        "验收结论",
        "Acceptance result",
        None,
        description=describe(ACCEPTANCE_RESULTS),
        validate_default=True,
    )

    @field_validator("acceptance_on")
    @classmethod
    def _accepted_after_approval(cls, value: date | None, info: ValidationInfo) -> date | None:
        approved = after(info, "approved_on")
        if value is not None and approved is not None and value < approved:
            raise ValueError(f"is before the approval date {approved.isoformat()}")
        return value

    @field_validator("acceptance_result")
    @classmethod
    def _result_needs_date(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "acceptance_on" not in info.data:
            return value
        has_date = info.data["acceptance_on"] is not None
        if value is not None and not has_date:
            raise ValueError("give the acceptance date with the result")
        if value is None and has_date:
            raise ValueError("required when an acceptance date is given")
        return value

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        return (
            zh_title(enterprise_name, f"{self.project_name}环评批复", self.approval_number),
            en_title(f"EIA approval {self.approval_number}: {self.project_name}", enterprise_name),
        )


# --- 排污费征收 fees -------------------------------------------------------------------------

#: The day the environmental protection tax replaced the discharge fee (环境保护税法).
TAX_START = date(2018, 1, 1)

FEE_KINDS: dict[str, tuple[str, str]] = {
    "discharge_fee": ("排污费", "discharge fee (periods before 2018-01-01)"),
    "environmental_tax": ("环境保护税", "environmental protection tax"),
}
FeeKind = Annotated[
    Literal["discharge_fee", "environmental_tax"], BeforeValidator(choice_input(FEE_KINDS))
]


class FeeRecord(RecordContent):
    """排污费（环境保护税）征收情况 — a fee or tax collected for a period (category 5), with
    the reductions, exemptions and deferrals (减、免、缓) granted.

    ``discharge_fee`` is historical: the environmental protection tax replaced it from
    2018-01-01, so it is refused for a period starting on or after that day.
    """

    formed_field: ClassVar[str | None] = "recorded_on"

    period_start: date = field("征收期起", "Period start")
    period_end: date = field("征收期止", "Period end")
    kind: FeeKind = field("费税种类", "Kind", description=describe(FEE_KINDS))
    item: Short | None = field("征收项目", "Item", None, description="e.g. 大气污染物、水污染物")
    basis: Text = field("征收依据及标准", "Basis and rates")
    amount_yuan: Money = field("应缴金额（元）", "Amount due (yuan)")
    reductions_yuan: Money | None = field("减征金额（元）", "Reductions (yuan)", None)
    exemptions_yuan: Money | None = field("免征金额（元）", "Exemptions (yuan)", None)
    deferrals_yuan: Money | None = field("缓缴金额（元）", "Deferrals (yuan)", None)
    relief_notes: Text | None = field(
        "减免缓情况说明", "Notes on reductions, exemptions, deferrals", None
    )
    collecting_authority: Short | None = field("征收机关", "Collecting authority", None)
    recorded_on: date = field("登记日期", "Recorded on")

    @field_validator("period_end")
    @classmethod
    def _end_after_start(cls, value: date, info: ValidationInfo) -> date:
        start = after(info, "period_start")
        if start is not None and value < start:
            raise ValueError(f"is before the period start {start.isoformat()}")
        return value

    @field_validator("kind")
    @classmethod
    def _fee_before_tax(cls, value: str, info: ValidationInfo) -> str:
        start = after(info, "period_start")
        if value == "discharge_fee" and start is not None and start >= TAX_START:
            raise ValueError(
                "排污费 (discharge fee) ended on 2017-12-31: periods from 2018-01-01 are"
                " environmental_tax (环境保护税)"
            )
        return value

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        zh = FEE_KINDS[self.kind][0]
        en = "Discharge fee" if self.kind == "discharge_fee" else "Environmental protection tax"
        span_zh = f"{zh_date(self.period_start)}至{zh_date(self.period_end)}"
        span_en = f"{self.period_start.isoformat()} to {self.period_end.isoformat()}"
        return (
            zh_title(enterprise_name, f"{zh}征收情况", span_zh),
            en_title(f"{en} {span_en}", enterprise_name),
        )


# --- 监察执法 inspection ---------------------------------------------------------------------

INSPECTION_TYPES: dict[str, tuple[str, str]] = {
    "double_random": ("双随机抽查", "random inspection (双随机、一公开)"),
    "special": ("专项检查", "special enforcement campaign"),
    "routine": ("日常检查", "routine inspection"),
    "supervised_case": ("挂牌督办", "case under listed supervision"),
}
InspectionType = Annotated[
    Literal["double_random", "special", "routine", "supervised_case"],
    BeforeValidator(choice_input(INSPECTION_TYPES)),
]


class InspectionResult(RecordContent):
    """现场检查结果 — the result of an on-site inspection (category 6)."""

    formed_field: ClassVar[str | None] = "inspected_on"

    inspected_on: date = field("检查日期", "Inspected on")
    inspection_type: InspectionType = field(
        "检查类型", "Inspection type", description=describe(INSPECTION_TYPES)
    )
    inspecting_body: Short = field("检查机构", "Inspecting body")
    findings: Text = field("检查结果", "Findings")
    violations_found: YesNo = field("是否发现违法问题", "Violations found")
    rectification_demands: Text | None = field("整改要求", "Rectification demands", None)
    rectification_deadline: date | None = field("整改期限", "Rectification deadline", None)
    rectification_completed: YesNo | None = field("是否完成整改", "Rectification completed", None)

    @field_validator("rectification_deadline")
    @classmethod
    def _deadline_after_inspection(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is None:
            return None
        inspected = after(info, "inspected_on")
        if inspected is not None and value < inspected:
            raise ValueError(f"is before the inspection date {inspected.isoformat()}")
        if "rectification_demands" in info.data and info.data["rectification_demands"] is None:
            raise ValueError("give the rectification demands with a deadline")
        return value

    @field_validator("rectification_completed")
    @classmethod
    def _completion_needs_demands(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value is not None and info.data.get("rectification_demands", "") is None:
            raise ValueError("give the rectification demands with their completion")
        return value

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        zh, en = INSPECTION_TYPES[self.inspection_type]
        return (
            zh_title(enterprise_name, "现场检查结果", f"{zh_date(self.inspected_on)}，{zh}"),
            en_title(f"Inspection result {self.inspected_on.isoformat()} ({en})", enterprise_name),
        )


#: The codes of the staff-authored record types (the keys of :data:`STAFF_MODELS`).
StaffRecordType = Literal[
    "supervisory_monitoring",
    "emission_quota",
    "remediation_order",
    "eia_approval",
    "fee_record",
    "inspection_result",
    "penalty_decision",
    "emergency_event",
    "emergency_plan",
    # water disclosures (schemas/disclosure/water_types.py)
    "river_chief",
    "river_remediation",
    "river_lake_protection",
    "water_resources",
    "drinking_water",
]

STAFF_MODELS: dict[str, type[RecordContent]] = {
    "supervisory_monitoring": SupervisoryMonitoring,
    "emission_quota": EmissionQuota,
    "remediation_order": RemediationOrder,
    "eia_approval": EiaApproval,
    "fee_record": FeeRecord,
    "inspection_result": InspectionResult,
    "penalty_decision": PenaltyDecision,
    "emergency_event": EmergencyEvent,
    "emergency_plan": EmergencyPlan,
    **WATER_MODELS,
}
