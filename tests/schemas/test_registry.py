from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from schemas.registry.entries import (
    EnterpriseIn,
    ImportReport,
    MovedOutlet,
    OutletIn,
    RegistryError,
    import_registry,
    uscc_check_character,
)
from schemas.registry.files import RowError, parse_registry_file

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "registry.json"

USCC_A = "91330206MA2H7K3P0Q"
USCC_B = "91330402MA29GQ8L31"
MN_1 = "0CA065A6F43A75F68D981728"
MN_2 = "111BFB4FACACDD6239837036"
MN_3 = "FF61A0C6A0B6136241A18FA2"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def registry_json(*enterprises: Any) -> str:
    return json.dumps({"enterprises": list(enterprises)}, ensure_ascii=False)


def outlets(db: psycopg.Connection) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT o.mn, e.uscc, o.name_zh, o.kind, o.crc_policy, o.protocol_profile, o.timezone,"
        " o.active FROM outlets o JOIN enterprises e ON e.id = o.enterprise_id ORDER BY o.mn"
    ).fetchall()


# --- Field rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uscc", ["91440300708461136T", "914403001922038216", "91330100799655058B", USCC_A]
)
def test_uscc_check_character(uscc: str) -> None:
    assert uscc_check_character(uscc[:17]) == uscc[17]


def test_uscc_is_upper_cased() -> None:
    enterprise = EnterpriseIn(uscc=" 91440300708461136t ", name_zh="甲")
    assert enterprise.uscc == "91440300708461136T"


@pytest.mark.parametrize(
    ("uscc", "message"),
    [
        ("9144030070846113", "must be 18 characters (统一社会信用代码), got 16"),
        ("91440300708461136I", "contains 'I': only 0-9 and A-Y without I, O, S, V, Z"),
        ("91440300708461136X", "check character is 'X', GB 32100-2015 gives 'T'"),
    ],
)
def test_uscc_rules(uscc: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        EnterpriseIn(uscc=uscc, name_zh="甲")


def test_outlet_defaults() -> None:
    outlet = OutletIn(mn=MN_1, name_zh="排口", kind="gas")
    assert (outlet.crc_policy, outlet.protocol_profile, outlet.timezone, outlet.active) == (
        "strict",
        "hj212-2017",
        "Asia/Shanghai",
        True,
    )


# --- Files -------------------------------------------------------------------------------------

CSV_HEADER = (
    "enterprise_uscc,enterprise_name_zh,enterprise_control_level,"
    "mn,code,name_zh,kind,password,timezone,longitude,active\n"
)


def test_csv_rows_group_into_enterprises(tmp_path: Path) -> None:
    text = (
        CSV_HEADER
        + f"{USCC_A},甬澄发电,national,{MN_1},DA001,1号烟囱,gas,123456,,121.85,\n"
        + f"{USCC_B},清源水务,municipal,{MN_3},DW001,总排口,water,,Asia/Urumqi,,false\n"
        + f"{USCC_A.lower()},,,{MN_2},DA002,2号烟囱,gas,123456,,,yes\n"
    )
    parsed = parse_registry_file(write(tmp_path, "r.csv", "\ufeff" + text))
    assert parsed.errors == []
    first, second = parsed.enterprises
    assert (first.uscc, first.name_zh, first.control_level) == (USCC_A, "甬澄发电", "national")
    assert [o.mn for o in first.outlets] == [MN_1, MN_2]
    assert first.outlets[0].longitude == 121.85
    assert first.outlets[0].timezone == "Asia/Shanghai"
    assert (second.outlets[0].timezone, second.outlets[0].active) == ("Asia/Urumqi", False)
    assert second.outlets[0].password is None


def test_csv_errors_name_row_and_field(tmp_path: Path) -> None:
    text = (
        CSV_HEADER
        + f"{USCC_A},甬澄发电,national,{MN_1},DA001,1号烟囱,gas,,,,\n"  # row 2: good
        + f"{USCC_A},甬澄发电,national,{MN_2},DA002,2号烟囱,air,,,,\n"
        + f"{USCC_A},甬澄发电,national,AB/CD,DA003,3号烟囱,gas,,,,\n"
        + f"{USCC_B},清源水务,city,{MN_1},DW001,总排口,water,,Asia/Beijing,200,maybe\n"
        + f",无代码,,{MN_3},DW002,,water,,,,\n"
        + f"91330402MA29GQ8L32,错码,,{MN_3},DW003,,water,,,,\n"
        + "\n"
        + f"{USCC_A},甬澄电厂,,{MN_3},DA004,4号烟囱,gas,,,,,extra\n"
        + f"{USCC_A},甬澄电厂,,{'A' * 65},DA005,5号烟囱,gas,,,,\n"
    )
    parsed = parse_registry_file(write(tmp_path, "r.csv", text))
    assert [str(e) for e in parsed.errors] == [
        "row 3, field kind: must be 'gas' or 'water', got 'air'",
        "row 4, field mn: must not contain '/', '+' or '#' (the MN is part of MQTT topics)",
        (
            "row 5, field timezone: must be an IANA time zone such as 'Asia/Shanghai', "
            "got 'Asia/Beijing'"
        ),
        "row 5, field longitude: must be at most 180, got '200'",
        "row 5, field active: must be true or false, got 'maybe'",
        (
            "row 5, field enterprise_control_level: "
            "must be 'national', 'provincial', 'municipal' or 'other', got 'city'"
        ),
        "row 6, field enterprise_uscc: is required",
        "row 7, field name_zh: is required",
        "row 7, field enterprise_uscc: check character is '2', GB 32100-2015 gives '1'",
        "row 9: has 12 cells but the header has 11",
        "row 10, field enterprise_name_zh: is '甬澄电厂' here but '甬澄发电' in row 2",
        "row 10, field mn: must be at most 64 characters, got 65",
    ]
    assert parsed.errors[6] == RowError(6, "enterprise_uscc", "is required")
    assert [e.uscc for e in parsed.enterprises] == [USCC_A]
    assert [o.mn for o in parsed.enterprises[0].outlets] == [MN_1]
    assert not parsed.ok


def test_csv_duplicate_mn(tmp_path: Path) -> None:
    text = (
        CSV_HEADER
        + f"{USCC_A},甬澄发电,,{MN_1},DA001,1号烟囱,gas,,,,\n"
        + f"{USCC_B},清源水务,,{MN_1},DW001,总排口,water,,,,\n"
    )
    parsed = parse_registry_file(write(tmp_path, "r.csv", text))
    assert [str(e) for e in parsed.errors] == [
        f"row 3, field mn: MN '{MN_1}' is already used in row 2"
    ]


def test_csv_header_errors(tmp_path: Path) -> None:
    text = "enterprise_uscc,enterprise_nam_zh,mn,mn,name_zh\n"
    parsed = parse_registry_file(write(tmp_path, "r.csv", text))
    assert [str(e) for e in parsed.errors] == [
        "row 1, field enterprise_nam_zh: is not a known column",
        "row 1, field mn: appears twice",
        "row 1, field enterprise_name_zh: column is missing",
        "row 1, field kind: column is missing",
    ]
    assert parsed.enterprises == []


def test_json_errors_name_path_and_field(tmp_path: Path) -> None:
    good = {"mn": MN_1, "name_zh": "1号烟囱", "kind": "gas"}
    text = registry_json(
        {"uscc": USCC_A, "name_zh": "甬澄发电", "outlets": [good, {"mn": "", "kind": "gas"}]},
        {"uscc": USCC_B, "name_zh": "", "fax": "123", "outlets": [{**good, "kind": "air"}]},
        {"uscc": USCC_A, "name_zh": "重复", "outlets": "none"},
        "not an object",
        {"uscc": USCC_A, "name_zh": "重复", "latitude": "north"},
    )
    parsed = parse_registry_file(write(tmp_path, "r.json", text))
    assert [str(e) for e in parsed.errors] == [
        "enterprises[0].outlets[1], field mn: is required",
        "enterprises[0].outlets[1], field name_zh: is required",
        "enterprises[1], field name_zh: is required",
        "enterprises[1], field fax: is not a known field",
        "enterprises[1].outlets[0], field kind: must be 'gas' or 'water', got 'air'",
        "enterprises[2], field outlets: must be a list",
        "enterprises[3]: must be an object",
        "enterprises[4], field latitude: must be a number, got 'north'",
    ]
    assert [e.uscc for e in parsed.enterprises] == [USCC_A]


def test_json_duplicate_uscc(tmp_path: Path) -> None:
    text = registry_json({"uscc": USCC_A, "name_zh": "甲"}, {"uscc": USCC_A, "name_zh": "乙"})
    parsed = parse_registry_file(write(tmp_path, "r.json", text))
    assert [str(e) for e in parsed.errors] == [
        f"enterprises[1], field uscc: USCC '{USCC_A}' is already used in enterprises[0]"
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", '{"enterprises": [', r"bad\.json: invalid JSON at line 1, column 18"),
        ("list.json", "[]", r'expected a JSON object \{"enterprises": \[...\]\}'),
        ("extra.json", '{"enterprises": [], "x": 1}', r"unknown top-level keys \['x'\]"),
        ("latin1.csv", b"mn\n\xe9\n", r"latin1\.csv: not UTF-8 text \(byte 3\)"),
        ("empty.csv", "", r"empty\.csv: no header row"),
        ("r.xlsx", "", r"unsupported file type '\.xlsx'; use \.json or \.csv"),
    ],
)
def test_unusable_files(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_registry_file(write(tmp_path, name, content))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"cannot read .*nowhere\.json: No such file"):
        parse_registry_file(tmp_path / "nowhere.json")


# --- Import -----------------------------------------------------------------------------------


def test_json_import_and_upsert(db: psycopg.Connection, tmp_path: Path) -> None:
    stacks: list[dict[str, Any]] = [
        {"mn": MN_1, "name_zh": "1号烟囱", "kind": "gas", "password": "123456"},
        {"mn": MN_2, "name_zh": "2号烟囱", "kind": "gas", "crc_policy": "lenient"},
    ]
    enterprise = {
        "uscc": USCC_A,
        "name_zh": "甬澄发电",
        "control_level": "national",
        "outlets": stacks,
    }
    parsed = parse_registry_file(write(tmp_path, "r.json", registry_json(enterprise)))
    assert import_registry(db, parsed.enterprises) == ImportReport(1, 0, 2, 0)
    assert outlets(db) == [
        (MN_1, USCC_A, "1号烟囱", "gas", "strict", "hj212-2017", "Asia/Shanghai", True),
        (MN_2, USCC_A, "2号烟囱", "gas", "lenient", "hj212-2017", "Asia/Shanghai", True),
    ]

    enterprise["name_zh"] = "甬澄电厂"
    stacks[1]["crc_policy"] = "strict"
    stacks.append({"mn": MN_3, "name_zh": "3号烟囱", "kind": "gas"})
    parsed = parse_registry_file(write(tmp_path, "r.json", registry_json(enterprise)))
    assert import_registry(db, parsed.enterprises) == ImportReport(0, 1, 1, 2)
    assert db.execute("SELECT name_zh, updated_at > created_at FROM enterprises").fetchall() == [
        ("甬澄电厂", True)
    ]
    assert [row[4] for row in outlets(db)] == ["strict", "strict", "strict"]


def test_csv_import(db: psycopg.Connection, tmp_path: Path) -> None:
    text = (
        CSV_HEADER
        + f"{USCC_A},甬澄发电,national,{MN_1},DA001,1号烟囱,gas,123456,,121.85,\n"
        + f"{USCC_B},清源水务,municipal,{MN_3},DW001,总排口,water,,,,false\n"
        + f"{USCC_A},,,{MN_2},DA002,2号烟囱,gas,123456,,,\n"
    )
    parsed = parse_registry_file(write(tmp_path, "r.csv", text))
    assert import_registry(db, parsed.enterprises) == ImportReport(2, 0, 3, 0)
    assert [(mn, uscc, active) for mn, uscc, *_, active in outlets(db)] == [
        (MN_1, USCC_A, True),
        (MN_2, USCC_A, True),
        (MN_3, USCC_B, False),
    ]
    assert import_registry(db, parsed.enterprises) == ImportReport(0, 2, 0, 3)
    assert db.execute("SELECT count(*) FROM outlets").fetchone() == (3,)


def test_mn_moves_to_another_enterprise(db: psycopg.Connection) -> None:
    outlet = OutletIn(mn=MN_1, name_zh="排口", kind="water")
    import_registry(db, [EnterpriseIn(uscc=USCC_A, name_zh="甲", outlets=[outlet])])
    report = import_registry(db, [EnterpriseIn(uscc=USCC_B, name_zh="乙", outlets=[outlet])])
    assert report == ImportReport(1, 0, 0, 1, (MovedOutlet(MN_1, USCC_A, USCC_B),))
    assert "outlet 0CA065A6F43A75F68D981728 moved from" in report.summary()
    assert [(mn, uscc) for mn, uscc, *_ in outlets(db)] == [(MN_1, USCC_B)]


def test_import_is_one_transaction(db: psycopg.Connection) -> None:
    good = EnterpriseIn(uscc=USCC_A, name_zh="甲")
    # Bypasses validation to reach the database's CHECK constraint.
    bad_outlet = OutletIn.model_construct(
        **{**OutletIn(mn=MN_1, name_zh="x", kind="gas").model_dump(), "kind": "air"}
    )
    bad = EnterpriseIn(uscc=USCC_B, name_zh="乙").model_copy(update={"outlets": [bad_outlet]})
    with pytest.raises(RegistryError, match="nothing was imported: .*outlets_kind_check"):
        import_registry(db, [good, bad])
    assert db.execute("SELECT count(*) FROM enterprises").fetchone() == (0,)


def test_import_refuses_duplicates(db: psycopg.Connection) -> None:
    enterprise = EnterpriseIn(uscc=USCC_A, name_zh="甲")
    with pytest.raises(RegistryError, match=f"duplicate USCC or MN in the import: {USCC_A}"):
        import_registry(db, [enterprise, enterprise])


def test_demo_registry_imports_cleanly(db: psycopg.Connection) -> None:
    parsed = parse_registry_file(DEMO)
    assert parsed.errors == []
    assert import_registry(db, parsed.enterprises) == ImportReport(3, 0, 5, 0, bindings_added=3)
    kinds = db.execute(
        "SELECT e.name_en, o.kind, o.emission_standard, o.password FROM outlets o"
        " JOIN enterprises e ON e.id = o.enterprise_id ORDER BY o.id"
    ).fetchall()
    assert [(k, s) for _, k, s, _ in kinds] == [
        ("gas", "GB 13223-2011"),
        ("gas", "GB 13223-2011"),
        ("water", "GB 18918-2002"),
        ("gas", "GB 13271-2014"),
        ("water", "GB 3544-2008"),
    ]
    assert {pw for *_, pw in kinds} == {"123456"}
    mns = db.execute("SELECT mn FROM outlets").fetchall()
    assert all(len(mn) == 24 and int(mn, 16) >= 0 for (mn,) in mns)


def test_import_reports_progress_per_enterprise(db: psycopg.Connection) -> None:
    parsed = parse_registry_file(DEMO)
    calls: list[int] = []
    report = import_registry(db, parsed.enterprises, progress=calls.append)
    assert report == ImportReport(3, 0, 5, 0, bindings_added=3)
    assert calls == [1 + len(e.outlets) for e in parsed.enterprises]  # the enterprise + outlets
    assert sum(calls) == 3 + 5
    calls.clear()
    with pytest.raises(RegistryError):
        import_registry(db, [parsed.enterprises[0]] * 2, progress=calls.append)
    assert calls == []  # refused before anything was written


# --- Limits named by the registry ---------------------------------------------------------------

BOUND_HEADER = (
    "enterprise_uscc,enterprise_name_zh,mn,name_zh,kind,emission_standard,limit_category,"
    "limits_from,permit_number\n"
)


def bindings(db: psycopg.Connection) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT o.mn, b.standard, b.category, b.valid_from, b.source FROM outlet_limit_bindings b"
        " JOIN outlets o ON o.id = b.outlet_id ORDER BY o.mn, b.valid_from"
    ).fetchall()


def test_registry_binds_the_standard_and_category_it_names(
    db: psycopg.Connection, tmp_path: Path
) -> None:
    text = (
        BOUND_HEADER + f"{USCC_A},甬澄发电,{MN_1},1号烟囱,gas,GB 13223-2011,coal-boiler-existing,"
        "2021-03-01,91330206MA2H7K3P0Q001P\n"
        + f"{USCC_A},甬澄发电,{MN_2},2号烟囱,gas,GB 13271-2014,,,\n"  # a label only
        + f"{USCC_B},清源水务,{MN_3},总排口,water,GB 18918-2002,class-1A,,\n"
    )
    parsed = parse_registry_file(write(tmp_path, "r.csv", text))
    assert parsed.errors == []
    report = import_registry(db, parsed.enterprises)
    assert report.bindings_added == 2 and "limit bindings: 2 added" in report.summary()
    first_day = db.execute(
        "SELECT min(valid_from) FROM limits WHERE standard = 'GB 18918-2002'"
        " AND category = 'class-1A'"
    ).fetchone()
    assert first_day is not None
    assert bindings(db) == [
        (MN_1, "GB 13223-2011", "coal-boiler-existing", date(2021, 3, 1), "91330206MA2H7K3P0Q001P"),
        (MN_3, "GB 18918-2002", "class-1A", first_day[0], "registry"),
    ]
    # The same file again changes nothing; a new category from a later day adds a binding.
    assert import_registry(db, parsed.enterprises).bindings_added == 0
    later = text.replace("coal-boiler-existing,2021-03-01", "coal-boiler-special,2024-01-01")
    import_registry(db, parse_registry_file(write(tmp_path, "r.csv", later)).enterprises)
    assert [row[2] for row in bindings(db)] == [
        "coal-boiler-existing",
        "coal-boiler-special",
        "class-1A",
    ]
    # A different category from the same day would make two bindings answer at once: refused.
    same_day = text.replace("coal-boiler-existing,2021-03-01", "coal-boiler-new,2021-03-01")
    with pytest.raises(RegistryError, match="give limits_from after 2021-03-01"):
        import_registry(db, parse_registry_file(write(tmp_path, "r.csv", same_day)).enterprises)
    assert len(bindings(db)) == 3


def test_a_bad_binding_is_a_row_error_and_nothing_is_imported(tmp_path: Path) -> None:
    text = (
        BOUND_HEADER
        + f"{USCC_A},甬澄发电,{MN_1},1号烟囱,gas,GB 13223-2011,coal-boiler-exisitng,,\n"
        + f"{USCC_A},甬澄发电,{MN_2},2号烟囱,gas,GB 13223-2012,coal-boiler-existing,,\n"
        + f"{USCC_B},清源水务,{MN_3},总排口,water,GB 13223-2011,coal-boiler-existing,,\n"
        + f"{USCC_B},清源水务,AB01,排口,water,,class-1A,,\n"
        + f"{USCC_B},清源水务,AB02,排口,water,GB 18918-2002,,2024-01-01,\n"
        + f"{USCC_B},清源水务,AB03,排口,water,GB 18918-2002,class-1A,2024-13-01,\n"
    )
    parsed = parse_registry_file(write(tmp_path, "r.csv", text))
    assert [(e.row, e.field) for e in parsed.errors] == [
        (2, "limit_category"),
        (3, "emission_standard"),
        (4, "limit_category"),
        (5, "emission_standard"),
        (6, "limits_from"),
        (7, "limits_from"),
    ]
    first, second, third = (str(e) for e in parsed.errors[:3])
    assert first.startswith(
        "row 2, field limit_category: 'coal-boiler-exisitng' is not a category of GB 13223-2011;"
        " its categories: coal-boiler-existing, coal-boiler-new"
    )
    assert second.startswith("row 3, field emission_standard: 'GB 13223-2012' is not a standard")
    assert third == (
        "row 4, field limit_category: GB 13223-2011 / coal-boiler-existing is a gas category,"
        " the outlet is water"
    )


def test_json_binding_errors_name_the_path(tmp_path: Path) -> None:
    outlet = {
        "mn": MN_3,
        "name_zh": "总排口",
        "kind": "water",
        "emission_standard": "GB 18918-2002",
        "limit_category": "class-1C",
    }
    enterprise = {"uscc": USCC_B, "name_zh": "清源水务", "outlets": [outlet]}
    parsed = parse_registry_file(write(tmp_path, "r.json", registry_json(enterprise)))
    expected = (
        "enterprises[0].outlets[0], field limit_category: 'class-1C' is not a category of"
        " GB 18918-2002; its categories: class-1A, class-1B"
    )
    assert [str(e) for e in parsed.errors] == [expected]


def test_what_an_outlet_is_expected_to_send_is_imported_and_checked(
    db: psycopg.Connection, tmp_path: Path
) -> None:
    header = (
        "enterprise_uscc,enterprise_name_zh,mn,name_zh,kind,"
        "rtd_interval_s,expects_minute,minute_interval_min,expects_hour,expects_day\n"
    )
    text = (
        header
        + f"{USCC_A},甬澄发电,{MN_1},1号烟囱,gas,30,,,,true\n"
        + f"{USCC_B},清源水务,{MN_3},总排口,water,,true,10,true,false\n"
        + f"{USCC_B},清源水务,{MN_2},雨排口,water,0,maybe,7,,\n"
    )
    parsed = parse_registry_file(write(tmp_path, "r.csv", text))
    assert [str(e) for e in parsed.errors] == [
        "row 4, field rtd_interval_s: must be at least 1, got '0'",
        "row 4, field expects_minute: must be true or false, got 'maybe'",
        (
            "row 4, field minute_interval_min: must divide the hour "
            "(1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60), got 7"
        ),
    ]
    import_registry(db, parsed.enterprises)
    rows = db.execute(
        "SELECT mn, rtd_interval_s, expects_minute, minute_interval_min, expects_hour,"
        " expects_day FROM outlets ORDER BY mn"
    ).fetchall()
    assert rows == [(MN_1, 30, True, 1, True, True), (MN_3, None, True, 10, True, False)]
