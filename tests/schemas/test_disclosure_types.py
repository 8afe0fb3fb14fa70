"""The staff-authored record types' content models (pure logic, no database)."""

from __future__ import annotations

import importlib.util
from datetime import date, datetime
from decimal import Decimal
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.disclosure.content import RecordContent, labels_of
from schemas.disclosure.staff_types import (
    STAFF_MODELS,
    EmergencyEvent,
    FeeRecord,
    PenaltyDecision,
    StaffRecordType,
    SupervisoryMonitoring,
)
from schemas.registry.entries import Uscc, check_uscc, uscc_check_character
from tests.schemas.test_water_types import WATER_EXAMPLES

USCC = "91320500MA1MXY7Q03"
USCC_2 = "91410900172320183M"

STAFF_CODES = {
    "supervisory_monitoring",
    "emission_quota",
    "remediation_order",
    "eia_approval",
    "fee_record",
    "inspection_result",
    "penalty_decision",
    "emergency_event",
    "emergency_plan",
    *("river_chief", "river_remediation", "river_lake_protection"),
    *("water_resources", "drinking_water"),
}

# A realistic example of each staff type, as staff would submit it.
EXAMPLES: dict[str, dict[str, Any]] = {
    **WATER_EXAMPLES,
    "penalty_decision": {
        "party": "苏州某某化工有限公司",
        "uscc": USCC,
        "decision_number": "苏环罚〔2026〕12号",
        "facts": "2026年1月5日至1月9日，二氧化硫小时均值超过排放标准。",
        "legal_basis": "《中华人民共和国大气污染防治法》第九十九条第二项",
        "penalty": "罚款人民币贰拾万元整",
        "fine_yuan": "200000",
        "decision_date": "2026-02-10",
        "authority": "苏州市生态环境局",
        "execution_status": "executed",
    },
    "emergency_event": {
        "occurred_at": "2026-03-01T14:30:00",
        "place": "某某化工园区3号罐区",
        "event_level": "general",
        "description": "储罐阀门泄漏，少量苯乙烯进入雨水管网。",
        "casualties": "无人员伤亡",
        "losses": "直接经济损失约12万元；下游河段苯乙烯短时超标",
        "direct_loss_yuan": "120000",
        "plan_activated": True,
        "plan_level": "III级",
        "handling_progress": "已封堵雨水排口，完成围堰及应急监测。",
    },
    "emergency_plan": {
        "enterprise_name": "苏州某某化工有限公司",
        "plan_name": "突发环境事件应急预案（2026年修订）",
        "filing_number": "320500-2026-015-M",
        "filed_on": "2026-01-20",
        "filing_authority": "苏州市生态环境局",
        "risk_level": "larger",
    },
    "supervisory_monitoring": {
        "monitored_on": "2026-03-02",
        "point": "1号锅炉排气筒",
        "outlet_code": "DA001",
        "pollutant": "a21026",
        "pollutant_name": "二氧化硫",
        "value": "42.5",
        "unit": "mg/m³",
        "limit_value": "50",
        "standard": "GB 13223-2011",
        "evaluation": "compliant",
        "monitoring_body": "苏州市环境监测中心",
    },
    "emission_quota": {
        "year": 2026,
        "pollutant": "w01018",
        "pollutant_name": "化学需氧量",
        "permitted_tonnes": "125.6",
        "permit_number": "91320500MA1MXY7Q03001P",
        "issued_on": "2025-12-15",
    },
    "remediation_order": {
        "order_type": "deadline_remediation",
        "decision_number": "苏环改〔2026〕3号",
        "issued_on": "2026-02-01",
        "authority": "苏州市生态环境局",
        "measures": "完成脱硫设施改造，确保二氧化硫稳定达标排放。",
        "deadline": "2026-06-30",
        "status": "in_progress",
    },
    "eia_approval": {
        "project_name": "年产5万吨精细化学品扩建项目",
        "approval_number": "苏环审〔2024〕88号",
        "approved_on": "2024-05-20",
        "approving_authority": "苏州市生态环境局",
        "acceptance_on": "2025-11-30",
        "acceptance_result": "passed",
    },
    "fee_record": {
        "period_start": "2026-01-01",
        "period_end": "2026-03-31",
        "kind": "environmental_tax",
        "item": "大气污染物",
        "basis": "《中华人民共和国环境保护税法》；江苏省大气污染物适用税额每污染当量4.8元",
        "amount_yuan": "35820.40",
        "reductions_yuan": "8955.10",
        "relief_notes": "浓度值低于标准30%，减按75%征收",
        "collecting_authority": "国家税务总局苏州市税务局",
        "recorded_on": "2026-04-15",
    },
    "inspection_result": {
        "inspected_on": "2026-03-10",
        "inspection_type": "double_random",
        "inspecting_body": "苏州市生态环境综合行政执法局",
        "findings": "危险废物贮存场所标识不规范。",
        "violations_found": True,
        "rectification_demands": "规范危废贮存场所标识标牌",
        "rectification_deadline": "2026-04-10",
        "rectification_completed": False,
    },
}


def validate(code: str, **changes: Any) -> RecordContent:
    content = {**EXAMPLES[code], **changes}
    content = {k: v for k, v in content.items() if v is not ...}
    return STAFF_MODELS[code].model_validate(content)


def fields_in_error(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.value.errors()}


def test_one_model_per_staff_type() -> None:
    assert set(STAFF_MODELS) == STAFF_CODES
    assert set(get_args(StaffRecordType)) == STAFF_CODES
    assert set(EXAMPLES) == STAFF_CODES
    for model in STAFF_MODELS.values():
        assert issubclass(model, RecordContent)


def test_staff_codes_match_the_reference_table() -> None:
    import csv
    from pathlib import Path

    path = (
        Path(__file__).resolve().parents[2]
        / "schemas"
        / "codes"
        / "data"
        / "disclosure_record_types.csv"
    )
    with path.open(encoding="utf-8") as f:
        staff = {row["code"] for row in csv.DictReader(f) if row["origin"] == "staff"}
    assert staff == STAFF_CODES


@pytest.mark.parametrize("code", sorted(STAFF_CODES))
def test_realistic_example_validates_and_round_trips(code: str) -> None:
    parsed = validate(code)
    dumped = parsed.model_dump(mode="json")
    # The canonical form validates to the same content again.
    assert STAFF_MODELS[code].model_validate(dumped).model_dump(mode="json") == dumped
    assert parsed.formed_field is not None
    assert isinstance(getattr(parsed, parsed.formed_field), date)


@pytest.mark.parametrize("code", sorted(STAFF_CODES))
def test_every_field_is_labelled_in_both_languages(code: str) -> None:
    labels = labels_of(STAFF_MODELS[code])
    assert [entry["name"] for entry in labels] == list(STAFF_MODELS[code].model_fields)
    for entry in labels:
        assert entry["label_zh"] != entry["name"], entry
        assert any("\u4e00" <= ch <= "\u9fff" for ch in entry["label_zh"]), entry
        assert entry["label_en"] and entry["label_en"] != entry["name"], entry
        assert entry["label_en"].isascii(), entry


@pytest.mark.parametrize("code", sorted(STAFF_CODES))
def test_unknown_fields_are_rejected(code: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(code, remarks="x")
    assert fields_in_error(exc) == {"remarks"}


@pytest.mark.parametrize("code", sorted(STAFF_CODES))
def test_formed_field_is_required(code: str) -> None:
    formed = STAFF_MODELS[code].formed_field
    assert formed is not None
    with pytest.raises(ValidationError) as exc:
        validate(code, **{formed: ...})
    assert formed in fields_in_error(exc)


@pytest.mark.parametrize(
    ("code", "changes", "bad_field"),
    [
        ("penalty_decision", {"uscc": "91320500MA1MXY7Q0"}, "uscc"),
        ("penalty_decision", {"fine_yuan": "-1"}, "fine_yuan"),
        ("penalty_decision", {"fine_yuan": "12.345"}, "fine_yuan"),
        ("penalty_decision", {"execution_status": "paid"}, "execution_status"),
        ("penalty_decision", {"decision_date": "2026-02-30"}, "decision_date"),
        ("penalty_decision", {"party": "   "}, "party"),
        ("emergency_event", {"occurred_at": "yesterday"}, "occurred_at"),
        ("emergency_event", {"plan_activated": "maybe"}, "plan_activated"),
        ("emergency_event", {"plan_activated": False}, "plan_level"),
        ("emergency_event", {"event_level": "huge"}, "event_level"),
        ("emergency_plan", {"risk_level": "extreme"}, "risk_level"),
        ("emergency_plan", {"filing_number": ""}, "filing_number"),
        ("supervisory_monitoring", {"pollutant": "SO2"}, "pollutant"),
        ("supervisory_monitoring", {"pollutant": "a2102"}, "pollutant"),
        ("supervisory_monitoring", {"limit_value": "0"}, "limit_value"),
        ("supervisory_monitoring", {"limit_lower": "60"}, "limit_lower"),
        ("supervisory_monitoring", {"value": "abc"}, "value"),
        ("emission_quota", {"permitted_tonnes": "-0.5"}, "permitted_tonnes"),
        ("emission_quota", {"year": 1999}, "year"),
        ("emission_quota", {"pollutant": "w1018"}, "pollutant"),
        ("remediation_order", {"order_type": "closure"}, "order_type"),
        ("remediation_order", {"deadline": "2026-01-01"}, "deadline"),
        ("remediation_order", {"status": "done"}, "status"),
        ("eia_approval", {"acceptance_on": "2024-01-01"}, "acceptance_on"),
        ("eia_approval", {"acceptance_on": ...}, "acceptance_result"),
        ("eia_approval", {"acceptance_result": ...}, "acceptance_result"),
        ("fee_record", {"period_end": "2025-12-31"}, "period_end"),
        ("fee_record", {"amount_yuan": "-3"}, "amount_yuan"),
        ("fee_record", {"kind": "sewage_charge"}, "kind"),
        ("fee_record", {"deferrals_yuan": "-1"}, "deferrals_yuan"),
        ("inspection_result", {"inspection_type": "surprise"}, "inspection_type"),
        ("inspection_result", {"rectification_deadline": "2026-03-01"}, "rectification_deadline"),
        ("inspection_result", {"rectification_demands": ...}, "rectification_deadline"),
        ("inspection_result", {"violations_found": ...}, "violations_found"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(
    code: str, changes: dict[str, Any], bad_field: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(code, **changes)
    assert bad_field in fields_in_error(exc)


def test_content_is_frozen() -> None:
    parsed = validate("penalty_decision")
    with pytest.raises(ValidationError):
        parsed.party = "other"  # type: ignore[misc]


# --- USCC ------------------------------------------------------------------------------------


def test_uscc_accepts_valid_codes_and_upper_cases_them() -> None:
    adapter = TypeAdapter(Uscc)
    assert adapter.validate_python(USCC) == USCC
    assert adapter.validate_python(USCC_2.lower()) == USCC_2
    assert check_uscc(f"  {USCC}  ") == USCC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("91320500MA1MXY7Q0", "18 characters"),
        ("91320500MA1MXY7Q031", "18 characters"),
        ("91320500MAIMXY7Q03", "'I'"),  # I is not in the alphabet
        ("91320500MA1MXO7Q03", "'O'"),
        ("9132050-MA1MXY7Q03", "'-'"),
        ("91320500MA1MXY7Q04", "check character"),
    ],
)
def test_uscc_rejects_bad_codes(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_uscc(value)
    with pytest.raises(ValidationError):
        TypeAdapter(Uscc).validate_python(value)


def test_uscc_check_agrees_with_the_registry() -> None:
    for first17 in ("91330206MA2H7K3P0", "12100000400000624", "91110000600037341"):
        assert check_uscc(first17 + uscc_check_character(first17)).endswith(
            uscc_check_character(first17)
        )


# --- Choices and booleans ----------------------------------------------------------------------


def test_choices_accept_their_chinese_and_english_labels() -> None:
    parsed = validate("penalty_decision", execution_status="行政复议中")
    assert isinstance(parsed, PenaltyDecision)
    assert parsed.execution_status == "reconsideration"
    assert (
        validate("penalty_decision", execution_status=" Executed ").model_dump()["execution_status"]
        == "executed"
    )
    assert (
        validate("inspection_result", inspection_type="挂牌督办").model_dump()["inspection_type"]
        == "supervised_case"
    )
    assert validate("remediation_order", order_type="停产整治").model_dump()["order_type"] == (
        "suspension"
    )


def test_choice_meanings_are_documented() -> None:
    schema = PenaltyDecision.model_json_schema()["properties"]["execution_status"]
    assert schema["enum"] == ["pending", "executing", "executed", "reconsideration", "litigation"]
    for text in ("待执行", "执行中", "已执行", "行政复议中", "行政诉讼中"):
        assert text in schema["description"]


def test_booleans_accept_chinese_yes_no() -> None:
    parsed = validate("emergency_event", plan_activated="是")
    assert isinstance(parsed, EmergencyEvent)
    assert parsed.plan_activated is True
    parsed = validate("emergency_event", plan_activated="否", plan_level=...)
    assert isinstance(parsed, EmergencyEvent)
    assert parsed.plan_activated is False


# --- Canonical JSON ------------------------------------------------------------------------------


def test_canonical_json() -> None:
    dumped = validate("penalty_decision", uscc=USCC.lower(), fine_yuan="1500.5").model_dump(
        mode="json"
    )
    assert dumped["uscc"] == USCC
    assert dumped["fine_yuan"] == "1500.50"
    assert dumped["decision_date"] == "2026-02-10"
    optional = validate("penalty_decision", fine_yuan=...).model_dump(mode="json")
    assert optional["fine_yuan"] is None
    event = validate("emergency_event").model_dump(mode="json")
    assert event["occurred_at"] == "2026-03-01T14:30:00"
    assert event["investigation_result"] is None


def test_text_is_stripped() -> None:
    parsed = validate("penalty_decision", party="  苏州某某化工有限公司 ")
    assert isinstance(parsed, PenaltyDecision)
    assert parsed.party == "苏州某某化工有限公司"


# --- Titles ----------------------------------------------------------------------------------


def test_penalty_titles() -> None:
    parsed = validate("penalty_decision", decision_number="环罚〔2026〕12号")
    assert parsed.titles("某某公司") == (
        "某某公司行政处罚决定（环罚〔2026〕12号）",
        "Penalty decision 环罚〔2026〕12号 — 某某公司",
    )
    # Without an enterprise name the party names the decision.
    zh, en = parsed.titles(None)
    assert zh == "苏州某某化工有限公司行政处罚决定（环罚〔2026〕12号）"
    assert en.endswith("— 苏州某某化工有限公司")


@pytest.mark.parametrize("code", sorted(STAFF_CODES))
def test_titles_in_both_languages(code: str) -> None:
    parsed = validate(code)
    zh, en = parsed.titles("某某公司")
    assert zh.startswith("某某公司")
    assert en.endswith("— 某某公司")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh)
    assert en[0].isascii() and en[0].isupper()
    zh_none, en_none = parsed.titles(None)
    assert zh_none and en_none
    assert "None" not in zh_none + en_none


def test_some_titles_in_detail() -> None:
    assert validate("emergency_event").titles(None) == (
        "突发环境事件（2026年3月1日，某某化工园区3号罐区）",
        "Environmental emergency on 2026-03-01 at 某某化工园区3号罐区",
    )
    assert validate("fee_record").titles("甲公司")[0] == (
        "甲公司环境保护税征收情况（2026年1月1日至2026年3月31日）"
    )
    assert validate("remediation_order", order_type="suspension").titles(None)[0] == (
        "停产整治决定（苏环改〔2026〕3号）"
    )
    assert validate("emergency_plan").titles(None)[0].startswith("苏州某某化工有限公司")


# --- Supervisory monitoring: evaluation and exceedance multiple --------------------------------


def monitoring(**changes: Any) -> SupervisoryMonitoring:
    parsed = validate("supervisory_monitoring", **changes)
    assert isinstance(parsed, SupervisoryMonitoring)
    return parsed


def test_compliant_result() -> None:
    parsed = monitoring()
    assert parsed.evaluation == "compliant"
    assert parsed.exceedance_multiple is None


def test_evaluation_and_multiple_filled_in_when_left_out() -> None:
    parsed = monitoring(value="125", limit_value="50", evaluation=...)
    assert parsed.evaluation == "exceeding"
    assert parsed.exceedance_multiple == Decimal("1.50")
    assert parsed.model_dump(mode="json")["exceedance_multiple"] == "1.50"
    assert monitoring(value="50", evaluation=...).evaluation == "compliant"  # at the limit


def test_evaluation_must_agree_with_value_and_limit() -> None:
    with pytest.raises(ValidationError) as exc:
        monitoring(value="42.5", evaluation="exceeding")
    assert fields_in_error(exc) == {"evaluation"}
    assert "compliant" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        monitoring(value="60", evaluation="达标")
    assert fields_in_error(exc) == {"evaluation"}
    assert monitoring(value="60", evaluation="超标").evaluation == "exceeding"


def test_exceedance_multiple_is_checked() -> None:
    parsed = monitoring(value="60.5", evaluation="exceeding", exceedance_multiple="0.21")
    assert parsed.exceedance_multiple == Decimal("0.21")  # 10.5 / 50 = 0.21
    assert monitoring(
        value="60.5", evaluation=..., exceedance_multiple="0.210"
    ).exceedance_multiple == Decimal("0.21")
    with pytest.raises(ValidationError) as exc:
        monitoring(value="60.5", evaluation="exceeding", exceedance_multiple="0.3")
    assert fields_in_error(exc) == {"exceedance_multiple"}
    assert "0.21" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        monitoring(exceedance_multiple="0.1")  # compliant: no multiple
    assert fields_in_error(exc) == {"exceedance_multiple"}


def test_exceedance_multiple_rounds_half_up() -> None:
    def multiple(value: str, limit: str) -> Decimal | None:
        return monitoring(value=value, limit_value=limit, evaluation=...).exceedance_multiple

    assert multiple("100.5", "100") == Decimal("0.01")  # 0.005
    assert multiple("100.4", "100") == Decimal("0.00")  # 0.004
    assert multiple("150", "100") == Decimal("0.50")


def test_range_limit_such_as_ph() -> None:
    ph = {
        "pollutant": "w01001",
        "pollutant_name": "pH值",
        "unit": "无量纲",
        "limit_value": "9",
        "limit_lower": "6",
        "evaluation": ...,
    }
    assert monitoring(**ph, value="7.2").evaluation == "compliant"
    low = monitoring(**ph, value="5.1")
    assert low.evaluation == "exceeding"
    assert low.exceedance_multiple is None  # a range limit has no multiple, on either side
    high = monitoring(**ph, value="10")
    assert (high.evaluation, high.exceedance_multiple) == ("exceeding", None)
    with pytest.raises(ValidationError) as exc:
        monitoring(**ph, value="10", exceedance_multiple="0.11")
    assert fields_in_error(exc) == {"exceedance_multiple"}
    assert "range limit" in str(exc.value)


def test_not_monitored() -> None:
    parsed = monitoring(value=..., evaluation=..., not_monitored_reason="企业停产")
    assert parsed.value is None and parsed.evaluation is None
    with pytest.raises(ValidationError) as exc:
        monitoring(value=..., evaluation=...)
    assert fields_in_error(exc) == {"not_monitored_reason"}
    with pytest.raises(ValidationError) as exc:
        monitoring(value=..., not_monitored_reason="企业停产")  # evaluation without value
    assert fields_in_error(exc) == {"evaluation"}
    with pytest.raises(ValidationError) as exc:
        monitoring(not_monitored_reason="企业停产")  # a reason with a value
    assert fields_in_error(exc) == {"not_monitored_reason"}


def test_pollutant_code_is_lower_cased() -> None:
    assert monitoring(pollutant=" A21026 ").pollutant == "a21026"


# --- Fees: the discharge fee ended in 2017 --------------------------------------------------------


def test_discharge_fee_before_2018() -> None:
    parsed = validate(
        "fee_record",
        kind="排污费",
        period_start="2017-10-01",
        period_end="2017-12-31",
        recorded_on="2018-01-15",
    )
    assert isinstance(parsed, FeeRecord)
    assert parsed.kind == "discharge_fee"
    assert parsed.titles(None)[1].startswith("Discharge fee 2017-10-01")


@pytest.mark.parametrize("start", ["2018-01-01", "2026-01-01"])
def test_discharge_fee_after_2018_rejected(start: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate("fee_record", kind="discharge_fee", period_start=start)
    assert fields_in_error(exc) == {"kind"}
    assert "2018-01-01" in str(exc.value)


# --- Emergency events ------------------------------------------------------------------------------


def test_emergency_event_time() -> None:
    parsed = validate("emergency_event", occurred_at="2026-03-01T14:30:00+08:00")
    assert isinstance(parsed, EmergencyEvent)
    assert parsed.occurred_at == datetime.fromisoformat("2026-03-01T06:30:00+00:00")
    assert (
        validate("emergency_event", investigation_result="泄漏原因为阀门老化").model_dump()[
            "investigation_result"
        ]
        == "泄漏原因为阀门老化"
    )


# --- The registry of every type (once the automatic types exist) ------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("schemas.disclosure.auto_types") is None,
    reason="schemas.disclosure.auto_types is not written yet",
)
def test_validate_content_for_staff_types() -> None:
    from schemas.disclosure.record_types import (
        MODELS,
        ContentError,
        formed_at_of,
        parse_content,
        validate_content,
    )

    for code in STAFF_CODES:
        assert MODELS[code] is STAFF_MODELS[code]
        assert validate_content(code, EXAMPLES[code]) == validate(code).model_dump(mode="json")
    with pytest.raises(ContentError) as exc:
        validate_content("penalty_decision", {**EXAMPLES["penalty_decision"], "uscc": "bad"})
    assert [e["field"] for e in exc.value.errors] == ["uscc"]
    formed = formed_at_of(parse_content("penalty_decision", EXAMPLES["penalty_decision"]))
    assert formed is not None and formed.isoformat() == "2026-02-09T16:00:00+00:00"
