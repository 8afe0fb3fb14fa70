"""Bulk import of staff-authored records from CSV / XLSX, and the import templates (pure logic)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest

from schemas.disclosure import spreadsheet
from schemas.disclosure.spreadsheet import (
    MAX_LINES,
    MAX_ROWS,
    BulkFileError,
    BulkParse,
    RowError,
    _columns,
    parse_bulk,
    template,
)
from schemas.disclosure.staff_types import STAFF_MODELS
from tests.schemas.test_water_types import WATER_EXAMPLES

USCC = "91320500MA1MXY7Q03"
USCC_2 = "91410900172320183M"


def csv_bytes(rows: list[list[Any]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]], extra_sheet: bool = False) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        book.create_sheet("other").append(["ignored"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def errors_of(result: BulkParse) -> list[tuple[int, str]]:
    return [(e.line, e.field) for e in result.errors]


QUOTA_ZH = [
    "统一社会信用代码",
    "年度",
    "污染物代码",
    "污染物名称",
    "许可排放量（吨/年）",
    "排污许可证编号",
    "核发日期",
]
QUOTA_EN = [
    "Enterprise USCC",
    "Year",
    "Pollutant code",
    "Pollutant name",
    "Permitted amount (t/a)",
    "Permit number",
    "Issued on",
]
QUOTA_NAMES = [
    "enterprise_uscc",
    "year",
    "pollutant",
    "pollutant_name",
    "permitted_tonnes",
    "permit_number",
    "issued_on",
]
QUOTA_ROW_1 = [USCC, "2026", "w01018", "化学需氧量", "125.6", "PN-001", "2025-12-15"]
QUOTA_ROW_2 = [USCC_2, "2026", "A21026", "二氧化硫", "80", "PN-002", "2025/12/20"]


def quota_content(row: list[Any]) -> dict[str, Any]:
    return (
        STAFF_MODELS["emission_quota"]
        .model_validate(
            dict(zip(QUOTA_NAMES[1:], row[1:], strict=True))
            | {"issued_on": date(2025, 12, 15) if row is QUOTA_ROW_1 else date(2025, 12, 20)}
        )
        .model_dump(mode="json")
    )


# --- CSV ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [QUOTA_ZH, QUOTA_EN, QUOTA_NAMES])
def test_csv_with_chinese_english_or_field_name_headers(header: list[str]) -> None:
    result = parse_bulk(csv_bytes([header, QUOTA_ROW_1, QUOTA_ROW_2]), "q.csv", "emission_quota")
    assert result.ok, result.errors
    assert [r.line for r in result.rows] == [2, 3]
    assert [r.enterprise_uscc for r in result.rows] == [USCC, USCC_2]
    first, second = (r.content for r in result.rows)
    assert first == quota_content(QUOTA_ROW_1)
    assert first["permitted_tonnes"] == "125.6"
    assert second["pollutant"] == "a21026"
    assert second["issued_on"] == "2025-12-20"


def test_headers_ignore_case_spaces_width_and_required_mark() -> None:
    header = [
        " ENTERPRISE  uscc ",
        "year*",
        "Pollutant Code",
        "污染物名称 *",
        "许可排放量(吨/年)",  # half-width parentheses
        "permit_number",
        "ＩＳＳＵＥＤ ＯＮ",  # full-width letters
    ]
    result = parse_bulk(csv_bytes([header, QUOTA_ROW_1]), "q.csv", "emission_quota")
    assert result.ok, result.errors
    assert result.rows[0].content == quota_content(QUOTA_ROW_1)


def test_csv_with_bom() -> None:
    data = csv_bytes([QUOTA_ZH, QUOTA_ROW_1], encoding="utf-8-sig")
    assert data.startswith(b"\xef\xbb\xbf")
    result = parse_bulk(data, "q.csv", "emission_quota")
    assert result.ok, result.errors
    assert result.rows[0].enterprise_uscc == USCC


def test_csv_in_gb18030() -> None:
    data = csv_bytes([QUOTA_ZH, QUOTA_ROW_1, QUOTA_ROW_2], encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result = parse_bulk(data, "导出.csv", "emission_quota")
    assert result.ok, result.errors
    assert [r.content["pollutant_name"] for r in result.rows] == ["化学需氧量", "二氧化硫"]


def test_blank_rows_are_skipped_and_lines_count_them() -> None:
    rows = [QUOTA_ZH, QUOTA_ROW_1, [], ["", " ", "", "", "", "", ""], QUOTA_ROW_2]
    result = parse_bulk(csv_bytes(rows), "q.csv", "emission_quota")
    assert result.ok, result.errors
    assert [r.line for r in result.rows] == [2, 5]


def test_per_row_errors_with_line_numbers_and_good_rows_kept() -> None:
    bad_tonnes = [USCC, "2026", "w01018", "化学需氧量", "-3", "PN-003", "2025-12-15"]
    bad_two = ["9132050", "2026", "COD", "化学需氧量", "1", "PN-004", "2025-13-01"]
    missing = [USCC, "2026", "w21003", "氨氮", "", "PN-005", "2025-12-15"]
    rows = [QUOTA_ZH, QUOTA_ROW_1, bad_tonnes, QUOTA_ROW_2, bad_two, missing]
    result = parse_bulk(csv_bytes(rows), "q.csv", "emission_quota")
    assert [r.line for r in result.rows] == [2, 4]
    assert errors_of(result) == [
        (3, "permitted_tonnes"),
        (5, "enterprise_uscc"),
        (5, "pollutant"),
        (5, "issued_on"),
        (6, "permitted_tonnes"),
    ]
    assert "18 characters" in result.errors[1].message
    assert "required" in result.errors[4].message.lower()
    assert str(result.errors[0]).startswith("line 3, field permitted_tonnes: ")
    assert not result.ok


def test_cross_field_errors_name_their_field() -> None:
    header = [
        "统一社会信用代码",
        "征收期起",
        "征收期止",
        "费税种类",
        "征收依据及标准",
        "应缴金额（元）",
        "登记日期",
    ]
    rows = [
        header,
        [
            USCC,
            "2017-10-01",
            "2017-12-31",
            "排污费",
            "《排污费征收使用管理条例》",
            "1200",
            "2018-01-10",
        ],
        [
            USCC,
            "2018-01-01",
            "2018-03-31",
            "排污费",
            "《排污费征收使用管理条例》",
            "1200",
            "2018-04-10",
        ],
    ]
    result = parse_bulk(csv_bytes(rows), "fees.csv", "fee_record")
    assert [r.line for r in result.rows] == [2]
    assert result.rows[0].content["kind"] == "discharge_fee"
    assert result.rows[0].content["amount_yuan"] == "1200.00"
    assert errors_of(result) == [(3, "kind")]
    assert "2018-01-01" in result.errors[0].message
    assert not result.errors[0].message.startswith("Value error")


def test_unknown_columns_are_one_error_on_line_1() -> None:
    header = [*QUOTA_ZH, "备注", "Remarks"]
    rows = [header, [*QUOTA_ROW_1, "x", "y"]]
    result = parse_bulk(csv_bytes(rows), "q.csv", "emission_quota")
    assert errors_of(result) == [(1, "")]
    assert "'备注'" in result.errors[0].message and "'Remarks'" in result.errors[0].message
    assert result.rows == []  # nothing is imported from a misread file
    # The known columns are still checked, so one pass shows every problem.
    bad = [*QUOTA_ROW_1[:4], "-1", *QUOTA_ROW_1[5:], "x", "y"]
    result = parse_bulk(csv_bytes([header, bad]), "q.csv", "emission_quota")
    assert errors_of(result) == [(1, ""), (2, "permitted_tonnes")]


def test_missing_and_duplicate_columns() -> None:
    header = [
        "统一社会信用代码",
        "年度",
        "Year",
        "污染物代码",
        "污染物名称",
        "排污许可证编号",
        "核发日期",
    ]
    row = [USCC, "2026", "2026", "w01018", "COD", "PN", "2025-12-15"]
    result = parse_bulk(csv_bytes([header, row, row]), "q.csv", "emission_quota")
    assert errors_of(result) == [(1, "year"), (1, "")]
    assert "permitted_tonnes (许可排放量（吨/年）)" in result.errors[1].message
    # The missing column is reported once, not on every row.
    assert result.rows == []


def test_enterprise_column_is_required() -> None:
    header = QUOTA_ZH[1:]
    result = parse_bulk(csv_bytes([header, QUOTA_ROW_1[1:]]), "q.csv", "emission_quota")
    assert errors_of(result) == [(1, "")]
    assert "enterprise_uscc" in result.errors[0].message
    blank = ["", *QUOTA_ROW_1[1:]]
    result = parse_bulk(csv_bytes([QUOTA_ZH, blank]), "q.csv", "emission_quota")
    assert errors_of(result) == [(2, "enterprise_uscc")]


PENALTY_HEADER = [
    "当事人",
    "统一社会信用代码",
    "处罚决定书文号",
    "违法事实",
    "处罚依据",
    "处罚内容",
    "罚款金额（元）",
    "处罚决定日期",
    "处罚机关",
    "执行情况",
]
PENALTY_ROW = [
    "苏州某某化工有限公司",
    USCC.lower(),
    "苏环罚〔2026〕12号",
    "二氧化硫超标排放",
    "《大气污染防治法》第九十九条",
    "罚款二十万元",
    "200000",
    "2026年2月10日",
    "苏州市生态环境局",
    "已执行",
]


def test_uscc_field_doubles_as_the_enterprise() -> None:
    result = parse_bulk(csv_bytes([PENALTY_HEADER, PENALTY_ROW]), "p.csv", "penalty_decision")
    assert result.ok, result.errors
    (row,) = result.rows
    assert row.enterprise_uscc == USCC
    assert row.content["uscc"] == USCC
    assert row.content["execution_status"] == "executed"
    assert row.content["decision_date"] == "2026-02-10"
    assert row.content["fine_yuan"] == "200000.00"
    # "enterprise_uscc" names the same column.
    header = ["enterprise_uscc" if h == "统一社会信用代码" else h for h in PENALTY_HEADER]
    assert parse_bulk(csv_bytes([header, PENALTY_ROW]), "p.csv", "penalty_decision").ok
    both = parse_bulk(
        csv_bytes([[*PENALTY_HEADER, "enterprise_uscc"], [*PENALTY_ROW, USCC]]),
        "p.csv",
        "penalty_decision",
    )
    assert errors_of(both) == [(1, "uscc")]


def test_empty_optional_cells_are_unset() -> None:
    row = [*PENALTY_ROW]
    row[6] = ""
    result = parse_bulk(csv_bytes([PENALTY_HEADER, row]), "p.csv", "penalty_decision")
    assert result.ok, result.errors
    assert result.rows[0].content["fine_yuan"] is None


def test_content_matches_validate_content() -> None:
    from schemas.disclosure.record_types import validate_content

    result = parse_bulk(csv_bytes([PENALTY_HEADER, PENALTY_ROW]), "p.csv", "penalty_decision")
    content = dict(
        zip(
            [
                "party",
                "uscc",
                "decision_number",
                "facts",
                "legal_basis",
                "penalty",
                "fine_yuan",
                "decision_date",
                "authority",
                "execution_status",
            ],
            PENALTY_ROW,
            strict=True,
        )
    )
    content["decision_date"] = "2026-02-10"
    assert result.rows[0].content == validate_content("penalty_decision", content)


@pytest.mark.parametrize("record_type", sorted(STAFF_MODELS))
def test_header_names_are_unambiguous(record_type: str) -> None:
    """No field name or label of one column is a name or label of another."""
    owner: dict[str, str] = {}
    for column in _columns(STAFF_MODELS[record_type]):
        for alias in column.aliases():
            assert owner.setdefault(alias, column.name) == column.name, (alias, column.name)


# --- XLSX --------------------------------------------------------------------------------------


def test_xlsx_with_typed_cells() -> None:
    rows: list[list[Any]] = [
        QUOTA_ZH,
        [USCC, 2026, "w01018", "化学需氧量", 125.6, "PN-001", datetime(2025, 12, 15)],
        [None, None, None, None, None, None, None],
        [USCC_2, 2026.0, "a21026", "二氧化硫", 80, 12345, date(2025, 12, 20)],
    ]
    result = parse_bulk(xlsx_bytes(rows, extra_sheet=True), "q.xlsx", "emission_quota")
    assert result.ok, result.errors
    assert [r.line for r in result.rows] == [2, 4]
    first, second = (r.content for r in result.rows)
    assert first["issued_on"] == "2025-12-15"
    assert first["permitted_tonnes"] == "125.6"
    assert first["year"] == 2026
    assert second["permit_number"] == "12345"  # a number cell in a text column
    assert second["permitted_tonnes"] == "80"


def test_xlsx_errors_and_datetimes() -> None:
    header = [
        "统一社会信用代码",
        "发生时间",
        "发生地点",
        "事件概况",
        "人员伤亡情况",
        "财产损失及环境影响",
        "是否启动应急预案",
        "处置进展",
    ]
    rows: list[list[Any]] = [
        header,
        [USCC, datetime(2026, 3, 1, 14, 30), "罐区", "泄漏", "无", "轻微", "是", "已处置"],
        [USCC, "2026/3/2 8:05", "罐区", "泄漏", "无", "轻微", False, "已处置"],
        [USCC, "not a time", "罐区", "泄漏", "无", "轻微", "也许", "已处置"],
    ]
    result = parse_bulk(xlsx_bytes(rows), "events.xlsx", "emergency_event")
    assert [r.content["occurred_at"] for r in result.rows] == [
        "2026-03-01T14:30:00",
        "2026-03-02T08:05:00",
    ]
    assert [r.content["plan_activated"] for r in result.rows] == [True, False]
    assert errors_of(result) == [(4, "occurred_at"), (4, "plan_activated")]


def test_xlsx_detected_by_content() -> None:
    data = xlsx_bytes([QUOTA_ZH, QUOTA_ROW_1])
    assert parse_bulk(data, "upload", "emission_quota").ok


def test_damaged_or_legacy_files() -> None:
    with pytest.raises(BulkFileError, match="XLSX"):
        parse_bulk(b"PK\x03\x04 not really a zip", "q.xlsx", "emission_quota")
    with pytest.raises(BulkFileError, match="xls"):
        parse_bulk(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "q.xls", "emission_quota")
    with pytest.raises(BulkFileError, match="empty"):
        parse_bulk(b"", "q.csv", "emission_quota")
    with pytest.raises(BulkFileError, match="header"):
        parse_bulk(csv_bytes([[], QUOTA_ZH, QUOTA_ROW_1]), "q.csv", "emission_quota")


# --- Limits and record types -----------------------------------------------------------------


def test_row_limit() -> None:
    ok = parse_bulk(csv_bytes([QUOTA_ZH] + [QUOTA_ROW_1] * MAX_ROWS), "q.csv", "emission_quota")
    assert ok.ok and len(ok.rows) == MAX_ROWS
    with pytest.raises(BulkFileError, match="10,000"):
        parse_bulk(
            csv_bytes([QUOTA_ZH] + [QUOTA_ROW_1] * (MAX_ROWS + 1)), "q.csv", "emission_quota"
        )


def _with_sheet(data: bytes, edit: Any) -> bytes:
    """The workbook ``data`` with its first sheet's XML passed through ``edit``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            part = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                part = edit(part.decode()).encode()
            dst.writestr(info, part, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_xlsx_bomb_declaring_a_huge_sheet_is_refused() -> None:
    """Issue 15: a 7.5 KB workbook declaring ``A1:XFD2000`` took 11 s (XFD1048576: ~1.5 h)."""
    honest = xlsx_bytes([QUOTA_ZH, QUOTA_ROW_1])
    for ref, what in (("A1:XFD2000", "16,384 columns"), ("A1:G1048576", "1,048,576 rows")):
        bomb = _with_sheet(
            honest,
            lambda xml, ref=ref: re.sub(r'dimension ref="[^"]+"', f'dimension ref="{ref}"', xml),
        )
        assert len(bomb) < 10_000
        with pytest.raises(BulkFileError, match=f"declares {what}"):
            parse_bulk(bomb, "q.xlsx", "emission_quota")


def test_xlsx_without_dimension_reads_bounded_rows_and_columns() -> None:
    """No ``<dimension>``: one cell far below or far right must not make millions of cells."""
    honest = xlsx_bytes([QUOTA_ZH, QUOTA_ROW_1])
    far_row = '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row>'

    def below(xml: str) -> str:
        return re.sub(r"<dimension[^>]*/>", "", xml).replace(
            "</sheetData>", far_row + "</sheetData>"
        )

    with pytest.raises(BulkFileError, match=f"more than {MAX_LINES:,} rows"):
        parse_bulk(_with_sheet(honest, below), "q.xlsx", "emission_quota")

    far_cell = '<c r="XFD2" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'

    def right(xml: str) -> str:
        return re.sub(r"<dimension[^>]*/>", "", xml).replace("</row></sheetData>", far_cell)

    result = parse_bulk(_with_sheet(honest, right), "q.xlsx", "emission_quota")
    assert result.ok and len(result.rows) == 1  # columns past the 256th are not read


def test_every_row_counts_blank_ones_too() -> None:
    rows = [QUOTA_ZH] + [[]] * MAX_LINES + [QUOTA_ROW_1]
    with pytest.raises(BulkFileError, match="blank rows included"):
        parse_bulk(csv_bytes(rows), "q.csv", "emission_quota")
    wide = csv_bytes([QUOTA_ZH, QUOTA_ROW_1 + [""] * 300 + ["x"]])
    with pytest.raises(BulkFileError, match="more than 256 columns"):
        parse_bulk(wide, "q.csv", "emission_quota")


def test_xlsx_unzipped_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spreadsheet, "MAX_UNZIPPED_BYTES", 1000)
    with pytest.raises(BulkFileError, match="unzips to"):
        parse_bulk(xlsx_bytes([QUOTA_ZH, QUOTA_ROW_1]), "q.xlsx", "emission_quota")


def test_size_limit() -> None:
    data = csv_bytes([QUOTA_ZH]) + b" " * (10 * 1024 * 1024)
    with pytest.raises(BulkFileError, match="10 MB"):
        parse_bulk(data, "q.csv", "emission_quota")


@pytest.mark.parametrize("record_type", ["daily_summary", "exceedance_notice", "nonsense"])
def test_only_staff_types_can_be_imported(record_type: str) -> None:
    with pytest.raises(ValueError, match="staff"):
        parse_bulk(csv_bytes([QUOTA_ZH]), "q.csv", record_type)
    with pytest.raises(ValueError, match="staff"):
        template(record_type, "csv")


# --- Templates ---------------------------------------------------------------------------------


def test_csv_template_layout() -> None:
    data = template("emission_quota", "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [f"{h}*" for h in QUOTA_ZH]
    assert rows[1] == [f"{h}*" for h in QUOTA_EN]
    optional = list(
        csv.reader(io.StringIO(template("penalty_decision", "csv").decode("utf-8-sig")))
    )
    assert "罚款金额（元）" in optional[0] and "当事人*" in optional[0]
    assert "统一社会信用代码*" in optional[0]
    assert "enterprise_uscc" not in optional[0]


# One good row per staff type, keyed by field name (cells as typed into a spreadsheet).
FILLED: dict[str, dict[str, Any]] = {
    "supervisory_monitoring": {
        "monitored_on": "2026-03-02",
        "point": "1号排气筒",
        "pollutant": "a21026",
        "pollutant_name": "二氧化硫",
        "value": "60.5",
        "unit": "mg/m³",
        "limit_value": "50",
        "standard": "GB 13223-2011",
        "evaluation": "超标",
        "monitoring_body": "市监测站",
    },
    "emission_quota": dict(zip(QUOTA_NAMES[1:], QUOTA_ROW_1[1:], strict=True)),
    "remediation_order": {
        "order_type": "限期治理",
        "decision_number": "苏环改〔2026〕3号",
        "issued_on": "2026-02-01",
        "measures": "完成脱硫设施改造",
        "deadline": "2026-06-30",
        "status": "整改中",
    },
    "eia_approval": {
        "project_name": "扩建项目",
        "approval_number": "苏环审〔2024〕88号",
        "approved_on": "2024-05-20",
        "approving_authority": "苏州市生态环境局",
    },
    "fee_record": {
        "period_start": "2026-01-01",
        "period_end": "2026-03-31",
        "kind": "环境保护税",
        "basis": "环境保护税法",
        "amount_yuan": "35820.4",
        "recorded_on": "2026-04-15",
    },
    "inspection_result": {
        "inspected_on": "2026-03-10",
        "inspection_type": "双随机抽查",
        "inspecting_body": "执法局",
        "findings": "未发现问题",
        "violations_found": "否",
    },
    "penalty_decision": dict(
        zip(
            [
                "party",
                "uscc",
                "decision_number",
                "facts",
                "legal_basis",
                "penalty",
                "fine_yuan",
                "decision_date",
                "authority",
                "execution_status",
            ],
            PENALTY_ROW,
            strict=True,
        )
    ),
    "emergency_event": {
        "occurred_at": "2026-03-01 14:30",
        "place": "罐区",
        "description": "泄漏",
        "casualties": "无",
        "losses": "轻微",
        "plan_activated": "否",
        "handling_progress": "已处置",
    },
    "emergency_plan": {
        "enterprise_name": "苏州某某化工有限公司",
        "plan_name": "突发环境事件应急预案",
        "filing_number": "320500-2026-015-M",
        "filed_on": "2026-01-20",
    },
    # the water disclosures, as text in cells (是/否 for yes and no)
    **{
        code: {
            k: "" if v is None else "是" if v is True else "否" if v is False else str(v)
            for k, v in example.items()
        }
        for code, example in WATER_EXAMPLES.items()
    },
}


def fill(record_type: str, names: list[str]) -> list[Any]:
    values = {"enterprise_uscc": USCC, **FILLED[record_type]}
    return [values.get(name, "") for name in names]


def field_names(record_type: str) -> list[str]:
    model = STAFF_MODELS[record_type]
    names = list(model.model_fields)
    return names if "uscc" in names else ["enterprise_uscc", *names]


@pytest.mark.parametrize("record_type", sorted(STAFF_MODELS))
def test_csv_template_round_trip(record_type: str) -> None:
    data = template(record_type, "csv")
    data += csv_bytes([fill(record_type, field_names(record_type))], encoding="utf-8")
    result = parse_bulk(data, f"{record_type}.csv", record_type)
    assert result.ok, result.errors
    (row,) = result.rows
    assert row.line == 3  # header, English label row, the filled row
    assert row.enterprise_uscc == USCC
    assert STAFF_MODELS[record_type].model_validate(row.content).model_dump(mode="json") == (
        row.content
    )


@pytest.mark.parametrize("record_type", sorted(STAFF_MODELS))
def test_xlsx_template_round_trip(record_type: str) -> None:
    book = openpyxl.load_workbook(io.BytesIO(template(record_type, "xlsx")))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert all(isinstance(h, str) and any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in header)
    assert sheet["A2"].value in ("Enterprise USCC*", "Party*")
    assert book.sheetnames[1] == "说明 Notes"
    sheet.append(fill(record_type, field_names(record_type)))
    out = io.BytesIO()
    book.save(out)
    result = parse_bulk(out.getvalue(), "filled.xlsx", record_type)
    assert result.ok, result.errors
    (row,) = result.rows
    assert row.line == 3
    assert row.enterprise_uscc == USCC


def test_template_then_errors_name_rows() -> None:
    data = template("emission_quota", "csv") + csv_bytes(
        [QUOTA_ROW_1, [USCC, "2026", "w01018", "COD", "x", "PN", "2025-12-15"]]
    )
    result = parse_bulk(data, "q.csv", "emission_quota")
    assert [r.line for r in result.rows] == [3]
    assert result.errors == [
        RowError(4, "permitted_tonnes", result.errors[0].message),
    ]


def test_bad_template_format() -> None:
    with pytest.raises(ValueError, match="format"):
        template("emission_quota", "ods")  # type: ignore[arg-type]
