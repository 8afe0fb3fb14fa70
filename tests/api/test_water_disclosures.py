"""The water disclosures (issue 17) go through the same machinery as the eight categories:
staff authoring with four eyes, publication with its log entry, the public list and feeds, and
the timeliness scoreboard — against the real database, through the API."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from tests.api.test_staff_disclosures import headers, published
from tests.schemas.test_water_types import WATER_EXAMPLES


def test_a_river_chief_is_authored_published_logged_and_fed(
    client: TestClient, db: psycopg.Connection
) -> None:
    editor = headers(db, "li.na", "editor")
    reviewer = headers(db, "wang.qiang", "editor")
    viewer = headers(db, "zhou.min", "viewer")
    body = {"record_type": "river_chief", "content": WATER_EXAMPLES["river_chief"]}
    assert client.post("/v1/staff/disclosures", json=body, headers=viewer).status_code == 403
    bad = {**body, "content": {**WATER_EXAMPLES["river_chief"], "supervision_phone": "none"}}
    refused = client.post("/v1/staff/disclosures", json=bad, headers=editor)
    assert refused.status_code == 422
    assert refused.json()["error"]["parameter"] == "content.supervision_phone"

    record = published(client, editor, reviewer, body)
    assert record["category"]["code"] == "water" and record["status"] == "published"
    assert record["title"]["zh"] == "甬江江北段县级河长：王某某"
    # appointed 2026-03-01 (a Sunday): 20 working days later, by hand: 2–6, 9–13, 16–20,
    # 23–27 March
    assert record["due_on"] == "2026-03-27"

    public = client.get("/v1/disclosures", params={"category": "water"}).json()
    assert [r["id"] for r in public["results"]] == [record["id"]]
    assert public["results"][0]["content"]["level"] == "county"
    feed = client.get("/v1/feeds/disclosures.json", params={"category": "water"}).json()
    assert len(feed["items"]) == 1 and "王某某" in feed["items"][0]["title"]
    log = client.get("/v1/publication/log").json()
    assert any(e["record_id"] == record["id"] and e["action"] == "publish" for e in log["results"])
    verified = client.get("/v1/publication/verify").json()
    assert verified["ok"] is True, verified

    board = client.get("/v1/timeliness", params={"year": 2026}).json()
    (water,) = [r for r in board["results"] if r["code"] == "water"]
    # formed in March, published now (after its due day): late
    assert water["published"] == 1 and water["published_late"] == 1
    assert water["name"] == {"zh": "水环境信息", "en": "Water environment information"}
