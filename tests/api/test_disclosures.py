"""The public side of disclosure records: categories, lists and filters, feeds — against the
real database, with records published through the workflow."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from schemas.disclosure import workflow as wf
from tests.api.conftest import World, error_of

ATOM = "{http://www.w3.org/2005/Atom}"
NOTICE = {
    "inspected_on": "2026-11-02",
    "inspection_type": "double_random",
    "inspecting_body": "宁波市生态环境执法支队",
    "findings": "污水处理设施运行正常",
    "violations_found": False,
}


@pytest.fixture
def records(db: psycopg.Connection, world: World) -> dict[str, int]:
    """An inspection result of Ningbo (published, then corrected) and one of Hangzhou
    (published, then withdrawn)."""
    ids = {}
    for name, enterprise in (("ningbo", world.ningbo), ("hangzhou", world.hangzhou)):
        draft = wf.create_draft(
            db,
            record_type="inspection_result",
            content=NOTICE,
            actor="li.na",
            enterprise_id=enterprise,
        )
        wf.approve(db, draft.id, actor="wang.qiang")
        ids[name] = wf.publish(db, draft.id, actor="li.na").id
    fix = wf.correct(
        db,
        ids["ningbo"],
        actor="li.na",
        reason="检查日期有误",
        content={**NOTICE, "inspected_on": "2026-11-03"},
    )
    wf.approve(db, fix.id, actor="wang.qiang")
    ids["ningbo_v2"] = wf.publish(db, fix.id, actor="li.na").id
    wf.withdraw(db, ids["hangzhou"], actor="li.na", reason="重复公开")
    return ids


def test_categories_are_the_eight_and_water_with_fields_and_clocks(client: TestClient) -> None:
    answer = client.get("/v1/disclosure-categories")
    assert answer.status_code == 200 and "max-age" in answer.headers["cache-control"]
    body = answer.json()
    assert [c["ordinal"] for c in body] == list(range(1, 10))
    assert body[6]["code"] == "penalty" and body[6]["name"]["zh"] == "行政处罚"
    assert body[8]["code"] == "water" and body[8]["name"]["zh"] == "水环境信息"
    types = {t["code"]: t for c in body for t in c["record_types"]}
    assert len(types) == 19
    water = ["drinking_water", "river_chief", "river_lake_protection", "river_remediation"]
    assert [t["code"] for t in body[8]["record_types"]] == [*water, "water_resources"]
    penalty = types["penalty_decision"]
    assert penalty["deadline_working_days"] == 7 and penalty["deadline_confirmed"] is True
    assert penalty["deadline_source"].startswith("国办发〔2018〕118号")
    labels = {f["name"]: f["label"] for f in penalty["fields"]}
    assert labels["decision_number"]["zh"] and labels["decision_number"]["en"]
    assert all(f["label"]["zh"] and f["label"]["en"] for t in types.values() for f in t["fields"])


def test_public_list_current_versions_and_filters(
    client: TestClient, world: World, records: dict[str, int]
) -> None:
    body = client.get("/v1/disclosures").json()
    assert [r["id"] for r in body["results"]] == [records["ningbo_v2"]]
    assert body["results"][0]["content"]["inspected_on"] == "2026-11-03"
    assert (
        client.get("/v1/disclosures", params={"enterprise_id": world.hangzhou}).json()["meta"][
            "found"
        ]
        == 0
    )
    assert (
        client.get("/v1/disclosures", params={"category": "penalty"}).json()["meta"]["found"] == 0
    )
    csv = client.get("/v1/disclosures", params={"format": "csv"})
    assert csv.status_code == 200 and "检查日期有误" in csv.text
    assert client.get(f"/v1/disclosures/{records['hangzhou']}").json()["status"] == "withdrawn"
    future = datetime.now(UTC).isoformat()
    assert (
        client.get("/v1/disclosures", params={"published_since": future}).json()["meta"]["found"]
        == 0
    )


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"category": "weather"}, "category"),
        ({"record_type": "gossip"}, "record_type"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"enterprise_id": "0"}, "enterprise_id"),
        ({"limit": "1001"}, "limit"),
    ],
)
def test_bad_parameters(client: TestClient, params: dict[str, str], parameter: str) -> None:
    error_of(client.get("/v1/disclosures", params=params), 422, parameter)


def test_unknown_and_unpublished_versions_are_404(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    draft = wf.create_draft(
        db,
        record_type="inspection_result",
        content=NOTICE,
        actor="li.na",
        enterprise_id=world.ningbo,
    )
    error_of(client.get(f"/v1/disclosures/{draft.id}"), 404, "record_id")
    error_of(client.get("/v1/disclosures/999999/versions"), 404, "record_id")
    error_of(client.get(f"/v1/disclosures/{draft.id}/attachments/{'0' * 64}"), 404, "sha256")


def test_feeds_of_publications_and_withdrawals(client: TestClient, records: dict[str, int]) -> None:
    response = client.get("/v1/feeds/disclosures.atom")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/atom+xml"
    )
    root = ET.fromstring(response.content)
    entries = root.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
    assert len(entries) == 4  # publish, publish, publish (correction), withdraw
    assert titles[0].startswith("撤回：") and "Withdrawn: " in titles[0]
    assert "（更正）" in titles[1] and "(correction)" in titles[1]
    assert all(
        e.findtext(f"{ATOM}id", "").startswith("tag:sourcewatch,2026:disclosure/") for e in entries
    )
    rss = ET.fromstring(
        client.get("/v1/feeds/disclosures.rss", params={"category": "inspection"}).content
    )
    assert len(rss.findall("channel/item")) == 4
    feed = client.get("/v1/feeds/disclosures.json", params={"category": "penalty"}).json()
    assert feed["version"] == "https://jsonfeed.org/version/1.1" and feed["items"] == []
    error_of(
        client.get("/v1/feeds/disclosures.atom", params={"enterprise_id": 1, "district": "x"}),
        422,
        "district",
    )


def test_supervisory_results_beside_online_daily_means(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    def supervisory(day: str, value: str, **where: object) -> int:
        content = {
            "monitored_on": day,
            "point": "1号烟囱",
            "outlet_code": "DA001",
            "pollutant": "a21026",
            "pollutant_name": "二氧化硫",
            "value": value,
            "unit": "mg/m³",
            "limit_value": "100",
            "standard": "GB 13223-2011",
            "monitoring_body": "杭州市环境监测中心站",
        }
        draft = wf.create_draft(
            db,
            record_type="supervisory_monitoring",
            content=content,
            actor="li.na",
            enterprise_id=world.hangzhou,
            **where,  # type: ignore[arg-type]
        )
        wf.approve(db, draft.id, actor="wang.qiang")
        return wf.publish(db, draft.id, actor="li.na").id

    by_outlet = supervisory("2026-11-02", "75", outlet_id=world.gas)  # online converted: 90
    by_code = supervisory("2026-11-03", "120")  # online mean that day is not valid
    unmatched = supervisory("2026-11-20", "50")  # no online mean that day
    answer = client.get(f"/v1/outlets/{world.gas}/comparisons")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "现场监测数据为准" in body["preference"]["zh"]
    rows = {r["record_id"]: r for r in body["results"]}
    assert [r["record_id"] for r in body["results"]] == [unmatched, by_code, by_outlet]
    assert rows[by_outlet]["online"]["converted"] == 90.0
    assert rows[by_outlet]["relative_difference"] == 0.2  # (90 − 75) / 75
    assert rows[by_code]["evaluation"] == "exceeding"
    assert (
        rows[by_code]["online"]["valid"] is False and rows[by_code]["relative_difference"] is None
    )
    assert rows[unmatched]["online"] is None
    assert client.get(f"/v1/outlets/{world.water}/comparisons").json()["results"] == []
    error_of(client.get("/v1/outlets/999/comparisons"), 404, "outlet_id")


def test_withdrawn_content_is_no_longer_served(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    """Issue 15: a withdrawn version (say, a penalty published against the wrong enterprise)
    and its file stayed downloadable, from the record and from the public log."""
    draft = wf.create_draft(
        db,
        record_type="inspection_result",
        content={**NOTICE, "findings": "发现偷排（误记）"},
        actor="li.na",
        enterprise_id=world.hangzhou,
    )
    pdf = b"%PDF-1.4\n% the wrong report\n"
    attachment = wf.attach(
        db, draft.id, actor="li.na", filename="报告.pdf", media_type="application/pdf", data=pdf
    )
    wf.approve(db, draft.id, actor="wang.qiang")
    wf.publish(db, draft.id, actor="li.na")
    file_url = f"/v1/disclosures/{draft.id}/attachments/{attachment.sha256}"
    assert client.get(file_url).status_code == 200
    wf.withdraw(db, draft.id, actor="li.na", reason="误发")

    error_of(client.get(file_url), 404, "sha256")
    shown = client.get(f"/v1/disclosures/{draft.id}").json()
    assert shown["status"] == "withdrawn" and shown["withdrawn"]["reason"] == "误发"
    assert shown["content"] is None and shown["attachments"] == []
    assert shown["title"]["zh"]  # what was withdrawn stays named
    [version] = client.get(f"/v1/disclosures/{draft.id}/versions").json()
    assert version["content"] is None and version["attachments"] == []
    then = client.get("/v1/disclosures", params={"as_of": shown["published"]["utc"]}).json()
    assert [(r["id"], r["content"]) for r in then["results"]] == [(draft.id, None)]
    csv = client.get(
        "/v1/disclosures", params={"as_of": shown["published"]["utc"], "format": "csv"}
    )
    assert "偷排" not in csv.text

    log = client.get("/v1/publication/log").json()["results"]
    assert [(e["action"], e["withheld"]) for e in log] == [
        ("publish", "withdrawn"),
        ("withdraw", "withdrawn"),
    ]
    assert all(e["canonical"] is None and e["content"] is None for e in log)
    assert all(len(e["content_sha256"]) == 64 for e in log)  # the chain still checks out
    assert "偷排" not in str(log) and attachment.sha256 not in str(log)
    staff = client.get("/v1/publication/log").text
    assert "li.na" not in staff and "wang.qiang" not in staff  # no staff names in public


def test_the_public_log_names_no_staff(
    client: TestClient, records: dict[str, int], db: psycopg.Connection
) -> None:
    log = client.get("/v1/publication/log")
    assert "li.na" not in log.text and "wang.qiang" not in log.text
    audit = db.execute(
        "SELECT actor FROM staff_audit WHERE action = 'disclosure.publish' ORDER BY id"
    ).fetchall()
    assert {a for (a,) in audit} == {"li.na"}  # who published stays with the auditors
