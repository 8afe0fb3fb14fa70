"""Automatic disclosure records (alerts/publish): they appear when the registry, the means or
the cases change, and re-running without changes adds nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from alerts.publish import Publisher, PublisherOptions
from alerts.settings import AlertsSettings
from schemas.disclosure.keys import generate_key, load_public_keys
from schemas.disclosure.verification import verify
from schemas.disclosure.workflow import approve, create_draft, publish
from schemas.limits.rules import bind_outlet
from tests.fixtures.registry import add_outlet

LOCAL = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=LOCAL)


def _options(**changes: Any) -> PublisherOptions:
    """The default options, but daily summaries due at once, means taken as settled as soon as
    they are written, and no signing key."""
    defaults = PublisherOptions.from_settings(AlertsSettings.from_environ({}))
    at_once = {"day_grace": timedelta(0), "settle": timedelta(0), "signing_key": None}
    return replace(defaults, **at_once | changes)


def _publisher() -> Publisher:
    return Publisher(_options())


def _records(db: psycopg.Connection, record_type: str) -> list[dict[str, Any]]:
    cur = db.execute(
        "SELECT record_key, version, status, content, supersedes, id, formed_at, correction_reason"
        " FROM disclosure_records WHERE record_type = %s ORDER BY record_key, version",
        (record_type,),
    )
    names = [c.name for c in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _hour(
    db: psycopg.Connection,
    outlet: int,
    pollutant: str,
    at: datetime,
    mean: str,
    converted: str | None = None,
    valid: bool = True,
) -> None:
    db.execute(
        "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, converted,"
        " valid_count, expected_count, valid) VALUES (%s, %s, %s, 'min', %s, %s, %s, 60, %s)"
        " ON CONFLICT (outlet_id, pollutant, hour_start) DO UPDATE SET mean = EXCLUDED.mean,"
        " converted = EXCLUDED.converted, valid = EXCLUDED.valid, computed_at = now()",
        (
            outlet,
            pollutant,
            at,
            Decimal(mean),
            converted and Decimal(converted),
            60 if valid else 10,
            valid,
        ),
    )


def _day(
    db: psycopg.Connection,
    outlet: int,
    pollutant: str,
    day: date,
    mean: str,
    converted: str | None = None,
) -> None:
    db.execute(
        "INSERT INTO daily_means (outlet_id, pollutant, day, source, mean, converted,"
        " valid_count, expected_count, valid) VALUES (%s, %s, %s, 'hour', %s, %s, 24, 24, true)"
        " ON CONFLICT (outlet_id, pollutant, day) DO UPDATE SET mean = EXCLUDED.mean,"
        " converted = EXCLUDED.converted, computed_at = now()",
        (outlet, pollutant, day, Decimal(mean), converted and Decimal(converted)),
    )


def _enterprise(db: psycopg.Connection, outlet: int) -> int:
    row = db.execute("SELECT enterprise_id FROM outlets WHERE id = %s", (outlet,)).fetchone()
    assert row is not None
    return int(row[0])


def test_profile_is_republished_when_the_registry_changes(db: psycopg.Connection) -> None:
    outlet = add_outlet(db, "MN-PROFILE-1")
    db.execute(
        "UPDATE outlets SET code = 'DA001', emission_standard = 'GB 13223-2011',"
        " permit_number = 'P-1' WHERE id = %s",
        (outlet,),
    )
    bind_outlet(db, "MN-PROFILE-1", "GB 13223-2011", "coal-boiler-new", date(2020, 1, 1), "P-1")
    publisher = _publisher()
    assert publisher.run_once(db, NOW)["enterprise_profile"] == 1
    (v1,) = _records(db, "enterprise_profile")
    enterprise = _enterprise(db, outlet)
    assert v1["record_key"] == f"enterprise_profile:{enterprise}"
    content = v1["content"]
    assert content["name_zh"] == "测试企业"
    assert content["data_note_zh"] == "实时公布数据属于企业自行监测数据，未经环境保护主管部门审核"
    (o,) = content["outlets"]
    assert (o["code"], o["kind"], o["kind_zh"], o["permit_number"]) == (
        "DA001",
        "gas",
        "废气",
        "P-1",
    )
    assert {p["code"] for p in o["main_pollutants"]} == {"a21026", "a21002", "a34013"}

    assert publisher.run_once(db, NOW)["enterprise_profile"] == 0
    db.execute(
        "UPDATE enterprises SET address = '新地址 1 号', control_level = 'national',"
        " updated_at = now() WHERE id = %s",
        (enterprise,),
    )
    assert publisher.run_once(db, NOW)["enterprise_profile"] == 1
    v1, v2 = _records(db, "enterprise_profile")
    assert (v1["status"], v2["status"], v2["version"]) == ("superseded", "published", 2)
    assert v2["supersedes"] == v1["id"] and v2["correction_reason"]
    assert v2["content"]["address"] == "新地址 1 号"
    assert v2["content"]["control_level_zh"] == "国控"


def test_daily_summary_after_the_day_ends_and_on_revision(db: psycopg.Connection) -> None:
    outlet = add_outlet(db, "MN-DAILY-1")
    bind_outlet(db, "MN-DAILY-1", "GB 13223-2011", "coal-boiler-new", date(2020, 1, 1), "P-1")
    day = date(2026, 3, 9)
    start = datetime(2026, 3, 9, tzinfo=LOCAL)
    for h in range(24):
        converted = "120" if h == 5 else "80"  # one hour above the hourly SO₂ limit of 100
        _hour(db, outlet, "a21026", start + timedelta(hours=h), "70", converted)
    _day(db, outlet, "a21026", day, "70", "81.6667")
    publisher = _publisher()
    assert publisher.run_once(db, datetime(2026, 3, 9, 20, tzinfo=LOCAL))["daily_summary"] == 0
    after = datetime(2026, 3, 10, 2, tzinfo=LOCAL)
    assert publisher.run_once(db, after)["daily_summary"] == 1
    (v1,) = _records(db, "daily_summary")
    assert v1["record_key"] == f"daily_summary:{outlet}:2026-03-09"
    assert v1["formed_at"] == datetime(2026, 3, 10, tzinfo=LOCAL)
    (so2,) = v1["content"]["pollutants"]
    assert so2["pollutant"] == "a21026" and so2["limit_period"] == "hour"
    assert (so2["mean"], so2["converted"], so2["limit"]) == ("70.000", "81.667", "100")
    assert (so2["valid_hours"], so2["expected_hours"]) == (24, 24)
    assert so2["compliant"] is False and so2["exceeding_hours"] == 1
    assert so2["exceedance_multiple"] == "0.200"

    assert publisher.run_once(db, after)["daily_summary"] == 0
    _hour(db, outlet, "a21026", start + timedelta(hours=5), "70", "95")  # revised
    _day(db, outlet, "a21026", day, "70", "80.625")
    assert publisher.run_once(db, after)["daily_summary"] == 1
    v1, v2 = _records(db, "daily_summary")
    assert (v1["status"], v2["status"]) == ("superseded", "published")
    assert v2["content"]["pollutants"][0]["compliant"] is True


def _minutes_pass(db: psycopg.Connection, table: str, minutes: int) -> None:
    """As if ``minutes`` had passed since ``table``'s means were computed (by the server's clock,
    which the settle time is read on)."""
    db.execute(
        sql.SQL("UPDATE {} SET computed_at = computed_at - make_interval(mins => %s)").format(
            sql.Identifier(table)
        ),
        (minutes,),
    )


def test_a_daily_summary_waits_until_its_means_settle(db: psycopg.Connection) -> None:
    """A logger's backlog judged over several passes: one version once the day's means have
    not changed for the settle time, with the last of them, not one version per pass."""
    assert AlertsSettings.from_environ({}).publish_settle_minutes == 5
    outlet = add_outlet(db, "MN-SETTLE-1")
    day = date(2026, 3, 9)
    publisher = Publisher(_options(settle=timedelta(minutes=5)))
    after = datetime(2026, 3, 10, 2, tzinfo=LOCAL)
    for mean in ("60", "65", "70"):  # recomputed as the backlog's hours are judged
        _day(db, outlet, "a21026", day, mean)
        _minutes_pass(db, "daily_means", 2)
        assert publisher.run_once(db, after)["daily_summary"] == 0
    assert _records(db, "daily_summary") == []
    _minutes_pass(db, "daily_means", 3)  # 5 minutes since the last change
    assert publisher.run_once(db, after)["daily_summary"] == 1
    (v1,) = _records(db, "daily_summary")
    assert v1["content"]["pollutants"][0]["mean"] == "70.000"
    assert publisher.run_once(db, after)["daily_summary"] == 0

    # a late revision: held again, then one more version
    _day(db, outlet, "a21026", day, "75")
    assert publisher.run_once(db, after)["daily_summary"] == 0
    _minutes_pass(db, "daily_means", 5)
    assert publisher.run_once(db, after)["daily_summary"] == 1
    v1, v2 = _records(db, "daily_summary")
    assert (v1["status"], v2["status"]) == ("superseded", "published")
    assert v2["content"]["pollutants"][0]["mean"] == "75.000"


def test_totals_wait_until_the_late_hours_settle(db: psycopg.Connection) -> None:
    """Late hours of a past month hold its totals and tax estimate, and the year-to-date ones of
    the months after it, until no hour before today has changed for the settle time."""
    outlet = add_outlet(db, "MN-SETTLE-2")
    bind_outlet(db, "MN-SETTLE-2", "GB 13223-2011", "coal-boiler-new", date(2020, 1, 1), "P-1")
    enterprise = _enterprise(db, outlet)
    publisher = Publisher(_options(settle=timedelta(minutes=5)))
    at = datetime(2026, 2, 3, 10, tzinfo=LOCAL)
    _hour(db, outlet, "a00000", at, "50")
    _hour(db, outlet, "a21026", at, "100", "40")
    counts = publisher.run_once(db, NOW)  # the first run: February and March are candidates
    assert (counts["emission_totals"], counts["tax_estimate"]) == (0, 0)
    _minutes_pass(db, "hourly_means", 5)
    counts = publisher.run_once(db, NOW)
    assert (counts["emission_totals"], counts["tax_estimate"]) == (2, 1)
    feb, mar = _records(db, "emission_totals")
    assert feb["record_key"] == f"emission_totals:{enterprise}:2026-02"
    assert mar["record_key"] == f"emission_totals:{enterprise}:2026-03"

    for mean in ("200", "300"):  # the hour revised twice in a row
        _hour(db, outlet, "a21026", at, mean, "40")
        assert not any(publisher.run_once(db, NOW).values())
    _minutes_pass(db, "hourly_means", 5)
    counts = publisher.run_once(db, NOW)
    assert (counts["emission_totals"], counts["tax_estimate"]) == (2, 1)
    totals = _records(db, "emission_totals")
    assert [(r["record_key"][-7:], r["version"]) for r in totals] == [
        ("2026-02", 1),
        ("2026-02", 2),
        ("2026-03", 1),
        ("2026-03", 2),
    ]
    # 300 mg/m³ × 50 m³/s × 3600 s / 10⁹ = 0.054 t
    so2 = {p["pollutant"]: p for p in totals[1]["content"]["pollutants"]}["a21026"]
    assert Decimal(so2["month_tonnes"]) == Decimal("0.054")


def test_exceedance_notice_on_open_and_on_close(db: psycopg.Connection) -> None:
    outlet = add_outlet(db, "MN-CASE-1")
    first = datetime(2026, 3, 10, 8, tzinfo=LOCAL)
    details = {
        "limit": "100",
        "unit": "mg/m³",
        "reference_o2": "6",
        "standard": "GB 13223-2011",
        "source_document": "GB 13223-2011 火电厂大气污染物排放标准",
        "clause": "Table 1",
        "limit_confirmed": True,
        "coverage": "60/60",
    }
    row = db.execute(
        "INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, severity,"
        " opened_at, first_at, last_at, max_multiple, details) VALUES ('exceedance', %s,"
        " 'a21026', 'hour', 1, 'standard', 'warning', %s, %s, %s, 0.5, %s) RETURNING id",
        (outlet, first + timedelta(minutes=50), first, first, json.dumps(details)),
    ).fetchone()
    assert row is not None
    case_id = int(row[0])
    db.execute(
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple,"
        " compliant, details) VALUES (%s, %s, 150, 100, 0.5, false, %s)",
        (case_id, first, json.dumps(details)),
    )
    db.execute(
        "INSERT INTO case_events (case_id, actor, action, severity) VALUES (%s, 'evaluator',"
        " 'opened', 'warning')",
        (case_id,),
    )
    publisher = _publisher()
    assert publisher.run_once(db, NOW)["exceedance_notice"] == 1
    (v1,) = _records(db, "exceedance_notice")
    assert v1["record_key"] == f"exceedance_notice:{case_id}"
    assert v1["formed_at"] == first + timedelta(minutes=50)
    c = v1["content"]
    assert (c["state"], c["value"], c["limit"], c["multiple"]) == (
        "open",
        "150.000",
        "100",
        "0.500",
    )
    assert c["limit_source"].startswith("GB 13223-2011") and c["reference_o2"] == "6"
    assert "45" in c["validity_note_zh"] and c["period"] == "hour"
    assert publisher.run_once(db, NOW)["exceedance_notice"] == 0

    db.execute(
        "UPDATE cases SET state = 'closed', closed_at = %s, close_reason = 'internal: call mr X'"
        " WHERE id = %s",
        (first + timedelta(hours=4), case_id),
    )
    db.execute(
        "INSERT INTO case_events (case_id, actor, action, severity, detail) VALUES"
        " (%s, 'alice', 'commented', 'warning', '{\"text\": \"internal: call mr X\"}')",
        (case_id,),
    )
    assert publisher.run_once(db, NOW)["exceedance_notice"] == 1
    v1, v2 = _records(db, "exceedance_notice")
    assert (v1["status"], v2["status"], v2["content"]["state"]) == (
        "superseded",
        "published",
        "closed",
    )
    assert "internal" not in json.dumps(v2["content"], ensure_ascii=False)


def _q(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def test_totals_and_tax_from_flow_and_concentration(db: psycopg.Connection) -> None:
    outlet = add_outlet(db, "MN-TOTAL-1")
    bind_outlet(db, "MN-TOTAL-1", "GB 13223-2011", "coal-boiler-new", date(2020, 1, 1), "P-1")
    enterprise = _enterprise(db, outlet)
    start = datetime(2026, 2, 3, tzinfo=LOCAL)
    # mg/m³ measured, mg/m³ converted to 6 % O₂; flow a00000 in m³/s (HJ 212-2017 Table B.2)
    means = {
        "a21026": ("100", "40"),
        "a21002": ("200", "60"),
        "a21005": ("50", "50"),
        "a34013": ("10", "25"),
    }
    for h in range(10):
        at = start + timedelta(hours=h)
        _hour(db, outlet, "a00000", at, "50")
        for pollutant, (mean, converted) in means.items():
            _hour(db, outlet, pollutant, at, mean, converted)
    _hour(db, outlet, "a21026", start + timedelta(hours=10), "999", "999", valid=False)
    _hour(db, outlet, "a00000", start + timedelta(hours=10), "50")
    quota = create_draft(
        db,
        record_type="emission_quota",
        actor="alice",
        enterprise_id=enterprise,
        content={
            "year": 2026,
            "pollutant": "a21026",
            "pollutant_name": "二氧化硫",
            "permitted_tonnes": "1.8",
            "permit_number": "P-1",
            "issued_on": "2026-01-05",
        },
    )
    approve(db, quota.id, actor="bob")
    publish(db, quota.id, actor="bob")

    publisher = _publisher()
    counts = publisher.run_once(db, NOW)
    # January to March carry the permitted amount; only February has emissions to tax
    assert (counts["emission_totals"], counts["tax_estimate"]) == (3, 1)
    jan, totals, mar = _records(db, "emission_totals")
    assert totals["record_key"] == f"emission_totals:{enterprise}:2026-02"
    assert jan["content"]["pollutants"][0]["month_tonnes"] == "0.000000"
    assert mar["content"]["complete"] is False and mar["content"]["through"] == "2026-03-09"
    assert mar["formed_at"] == datetime(2026, 3, 10, tzinfo=LOCAL)
    assert {p["pollutant"]: p["ytd_tonnes"] for p in mar["content"]["pollutants"]}["a21026"] == (
        "0.180000"
    )
    assert totals["formed_at"] == datetime(2026, 3, 1, tzinfo=LOCAL)
    content = totals["content"]
    assert content["complete"] is True and content["through"] == "2026-02-28"
    by_code = {p["pollutant"]: p for p in content["pollutants"]}
    # by hand: kg per hour = mg/m³ × m³/s × 3600 s / 10⁶; 10 valid hours, the invalid one adds 0
    kg_hour = {code: Decimal(mean) * 50 * 3600 / 10**6 for code, (mean, _) in means.items()}
    assert kg_hour["a21026"] == 18
    for code, kg in kg_hour.items():
        assert Decimal(by_code[code]["month_tonnes"]) == kg * 10 / 1000
        assert Decimal(by_code[code]["ytd_tonnes"]) == kg * 10 / 1000
    so2 = by_code["a21026"]
    assert (Decimal(so2["permitted_tonnes"]), so2["permit_number"]) == (Decimal("1.8"), "P-1")
    assert Decimal(so2["share_of_permit"]) == Decimal("0.1")  # 0.18 t of 1.8 t
    assert (so2["valid_hours"], so2["expected_hours"]) == (10, 28 * 24)
    assert by_code["a21002"]["permitted_tonnes"] is None

    (tax,) = _records(db, "tax_estimate")
    t = tax["content"]
    assert t["region"] == "default"
    items = {i["pollutant"]: i for i in t["items"]}
    eq_values = {"a21026": "0.95", "a21002": "0.95", "a21005": "16.7", "a34013": "2.18"}
    equivalents = {c: _q(kg_hour[c] * 10 / Decimal(v), "0.001") for c, v in eq_values.items()}
    for code, eqs in equivalents.items():
        assert Decimal(items[code]["equivalents"]) == eqs
    # top 3 by equivalents at the outlet: NOx, SO₂, 烟尘; CO (rank 4) is not taxed
    assert [c for c, i in items.items() if i["taxed"]] == ["a21002", "a21026", "a34013"]
    assert (items["a21005"]["rank"], items["a21005"]["tax_yuan"]) == (4, "0.00")
    # reduction: SO₂ 40 vs 100 (60 % below → 50 %), NOx 60 vs 100 (40 % → 75 %),
    # 烟尘 25 vs 30 (17 % → none)
    factors = {"a21026": Decimal("0.5"), "a21002": Decimal("0.75"), "a34013": Decimal(1)}
    expected_total = Decimal(0)
    for code, factor in factors.items():
        assert Decimal(items[code]["reduction_factor"]) == factor
        tax_yuan = _q(equivalents[code] * Decimal("1.2") * factor, "0.01")
        assert Decimal(items[code]["tax_yuan"]) == tax_yuan
        expected_total += tax_yuan
    assert Decimal(t["total_yuan"]) == expected_total
    assert (
        "fee" in t["disclaimer_en"] or "官方" in t["disclaimer_zh"] or "为准" in t["disclaimer_zh"]
    )

    # nothing changed: nothing new, also after a restart (fresh publisher, full pass)
    assert not any(publisher.run_once(db, NOW).values())
    assert not any(_publisher().run_once(db, NOW).values())
    # a revised hour before today re-publishes February
    _hour(db, outlet, "a21026", start, "120", "40")
    counts = publisher.run_once(db, NOW)
    assert (counts["emission_totals"], counts["tax_estimate"]) == (2, 1)  # Feb, and Mar's YTD


def test_tax_estimate_of_a_shandong_cod_discharge(db: psycopg.Connection) -> None:
    # Shandong's adopted decision (2017-12-01): COD 3.0 yuan per pollution equivalent, other
    # water pollutants such as suspended solids 1.4 (the October 2017 draft had 1.4 for all).
    outlet = add_outlet(db, "MN-SD-COD-1", kind="water")
    enterprise = _enterprise(db, outlet)
    db.execute(
        "UPDATE enterprises SET district = '山东省济南市历下区' WHERE id = %s", (enterprise,)
    )
    start = datetime(2026, 2, 3, tzinfo=LOCAL)
    for h in range(10):
        at = start + timedelta(hours=h)
        _hour(db, outlet, "w00000", at, "10")  # L/s
        _hour(db, outlet, "w01018", at, "50")  # COD mg/L
        _hour(db, outlet, "w01012", at, "40")  # SS mg/L
    _publisher().run_once(db, NOW)
    (tax,) = _records(db, "tax_estimate")
    t = tax["content"]
    assert (t["region"], t["region_name_zh"]) == ("37", "山东省")
    items = {i["pollutant"]: i for i in t["items"]}
    # by hand: COD 50 mg/L × 10 L/s × 3600 s = 1.8 kg an hour, 18 kg in 10 hours; one
    # equivalent is 1 kg of COD, so 18 equivalents × 3.0 yuan (no limit bound: no reduction)
    cod = items["w01018"]
    assert (Decimal(cod["emission_kg"]), Decimal(cod["equivalents"])) == (18, 18)
    assert (Decimal(cod["rate_yuan"]), Decimal(cod["tax_yuan"])) == (3, Decimal("54.00"))
    # SS: 40 × 10 × 3600 / 10⁶ × 10 = 14.4 kg; 4 kg an equivalent → 3.6 × 1.4 yuan
    ss = items["w01012"]
    assert (Decimal(ss["equivalents"]), Decimal(ss["rate_yuan"])) == (
        Decimal("3.6"),
        Decimal("1.4"),
    )
    assert Decimal(ss["tax_yuan"]) == Decimal("5.04")
    assert cod["taxed"] and ss["taxed"]
    assert Decimal(t["total_yuan"]) == Decimal("59.04")


def test_rerun_without_changes_adds_nothing(
    db: psycopg.Connection, role_urls: dict[str, str]
) -> None:
    outlet = add_outlet(db, "MN-IDLE-1")
    _day(db, outlet, "a21026", date(2026, 3, 8), "50")
    _hour(db, outlet, "a00000", datetime(2026, 3, 8, 3, tzinfo=LOCAL), "10")
    _hour(db, outlet, "a21026", datetime(2026, 3, 8, 3, tzinfo=LOCAL), "50")
    publisher = _publisher()
    # the publisher as deployed: the alerts process's own database role
    alerts = psycopg.connect(role_urls["alerts"], autocommit=True)
    first = publisher.run_once(alerts, NOW)
    assert first["enterprise_profile"] == 1 and first["daily_summary"] == 1
    assert first["emission_totals"] == 1  # March through yesterday
    total = db.execute("SELECT count(*) FROM disclosure_records").fetchone()
    assert not any(publisher.run_once(alerts, NOW).values())
    assert not any(publisher.run_once(alerts, NOW + timedelta(minutes=5)).values())
    assert db.execute("SELECT count(*) FROM disclosure_records").fetchone() == total
    # the next day the current month's totals gain a day (new version), nothing else changes
    counts = publisher.run_once(alerts, NOW + timedelta(days=1))
    alerts.close()
    assert counts["daily_summary"] == 0 and counts["enterprise_profile"] == 0


def test_publisher_signs_completed_days_once(
    db: psycopg.Connection, role_urls: dict[str, str], tmp_path: Path
) -> None:
    add_outlet(db, "MN-SIGN-1")
    alerts = psycopg.connect(role_urls["alerts"], autocommit=True)  # the process's own role
    key_file = tmp_path / "signing-key.pem"
    unsigned = Publisher(_options(signing_key=None))
    publisher = Publisher(_options(signing_key=key_file))
    assert publisher.run_once(alerts, datetime.now(LOCAL))["enterprise_profile"] == 1
    tomorrow = datetime.now(LOCAL) + timedelta(days=1)
    assert unsigned.sign_days(alerts, tomorrow) == 0
    assert publisher.sign_days(alerts, tomorrow) == 0  # no key file yet: nothing is signed
    key_id = generate_key(key_file)
    assert publisher.sign_days(alerts, tomorrow) == 1
    assert publisher.sign_days(alerts, tomorrow) == 0  # once a day
    alerts.close()
    report = verify(db, load_public_keys([key_file]))
    assert report.ok and report.roots_checked == 1, report.summary()
    assert db.execute("SELECT key_id FROM publication_roots").fetchall() == [(key_id,)]
