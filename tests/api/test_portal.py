"""Portal pages and widgets over HTTP: bilingual, embeddable, parameters checked, assets served.

What the browser renders from them is tested in test_portal_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from api.app import create_app
from api.portal import texts, vendor_available
from api.routes import portal, widgets
from api.settings import ApiSettings
from schemas.disclosure import workflow as wf
from tests.api.conftest import World, error_of
from tests.api.test_completeness import upload

LOCAL = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def client(role_urls: dict[str, str]) -> Iterator[TestClient]:
    """One app for the whole module (it reads whatever ``world`` put in the database)."""
    settings = ApiSettings(database_url=role_urls["api"], api_rate_limit_per_minute=10_000)
    with TestClient(create_app(settings)) as c:
        yield c


def _html(response: Any) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return str(response.text)


def test_portal_index_in_chinese_by_default(client: TestClient, world: World) -> None:
    response = client.get("/portal/")
    html = _html(response)
    assert '<html lang="zh-CN">' in html
    assert "重点监控企业" in html and "企业分布图" in html and "共 3 家企业" in html
    assert "杭州热电有限公司" in html and "宁波污水处理厂" in html and "无坐标化工厂" in html
    assert "国控" in html and "省控" in html
    # two enterprises have coordinates: two points on the map, linking to their pages
    assert len(re.findall(r'<a href="/portal/enterprises/\d+\?lang=zh" class="point"', html)) == 2
    assert f'/portal/enterprises/{world.hangzhou}?lang=zh" class="point"' in html
    assert "°E" in html and "°N" in html  # graticule, no tile server
    assert "tile" not in html.lower()
    assert 'href="/portal/?lang=en"' in html  # language switch
    assert texts()["licence"]["zh"] in html
    assert response.headers["content-security-policy"] == "frame-ancestors 'self'"


def test_portal_index_in_english(client: TestClient, world: World) -> None:
    html = _html(client.get("/portal/", params={"lang": "en"}))
    assert '<html lang="en">' in html
    assert "Key-monitored enterprises" in html and "3 enterprises" in html
    assert "Hangzhou Thermal Power Co." in html and "National" in html
    assert "重点监控企业" not in html
    assert str(escape(texts()["licence"]["en"])) in html


def test_the_service_root_leads_to_the_portal(client: TestClient, world: World) -> None:
    # uvicorn prints the root's address: it must not be a 404
    root = client.get("/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (307, "/portal/")
    english = client.get("/?lang=en", follow_redirects=False)
    assert english.headers["location"] == "/portal/?lang=en"
    assert "Key-monitored enterprises" in client.get("/?lang=en").text
    assert client.get("/?lang=fr").status_code == 422


def test_portal_search(client: TestClient, world: World) -> None:
    html = _html(client.get("/portal/", params={"q": "ningbo", "lang": "en"}))
    assert "1 enterprises" in html
    assert "Ningbo Wastewater Treatment Plant" in html and "Hangzhou" not in html
    html = _html(client.get("/portal/", params={"q": "没有这家"}))
    assert "没有符合条件的企业" in html


def test_enterprise_page(client: TestClient, db: psycopg.Connection, world: World) -> None:
    response = client.get(f"/portal/enterprises/{world.hangzhou}")
    html = _html(response)
    assert "<h1>杭州热电有限公司</h1>" in html and "西湖区" in html
    assert f'<sourcewatch-chart class="outlet" outlet-id="{world.gas}" lang="zh">' in html
    assert f'<sourcewatch-exceedances enterprise-id="{world.hangzhou}" lang="zh">' in html
    assert f'<sourcewatch-status enterprise-id="{world.hangzhou}" lang="zh">' in html
    assert '<script src="/widgets/sourcewatch-widgets.js" defer>' in html
    assert ("uPlot.iife.min.js" in html) == vendor_available()
    assert "八大类污染源监管信息" in html
    eight = "SELECT code, name_zh FROM disclosure_categories WHERE code <> 'water'"
    for code, name in db.execute(eight):
        link = f"/v1/disclosures?enterprise_id={world.hangzhou}&amp;category={code}"
        assert link in html and name in html
    assert html.count("暂无公开信息") == 8
    assert "水环境信息" not in html  # water disclosures only where the enterprise has some
    assert f'href="/portal/enterprises/{world.hangzhou}?lang=en"' in html

    html = _html(client.get(f"/portal/enterprises/{world.hangzhou}", params={"lang": "en"}))
    assert "<h1>Hangzhou Thermal Power Co.</h1>" in html
    assert "The eight categories of supervision information" in html
    assert "Hourly means against the limit" in html and "Latest exceedances" in html


def test_enterprise_page_shows_the_outlets_transmission_rates(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    """Last month's headline rates of an outlet, as the completeness API gives them."""
    today = datetime.now(LOCAL).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    upload(db, world.gas, datetime.combine(last_month, time(), LOCAL).astimezone(UTC))
    month = f"{last_month:%Y-%m}"
    api = client.get(
        f"/v1/outlets/{world.gas}/completeness",
        params={"period": "month", "from": last_month.isoformat(), "to": last_month.isoformat()},
    ).json()["results"]
    (rate,) = [r for r in api if r["headline"]]
    html = _html(client.get(f"/portal/enterprises/{world.hangzhou}"))
    (row,) = re.findall(
        rf'<tr data-outlet="{world.gas}" data-month="{month}">(.*?)</tr>', html, re.DOTALL
    )
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    shown = [f"{rate[k] * 100:.1f} %" for k in ("transmission_rate", "validity_rate")]
    shown.append(f"{rate['transmission_validity_rate'] * 100:.1f} %")
    assert cells[2:5] == shown
    assert cells[5] == ("是" if rate["meets_target"] else "否")
    assert "数据传输有效率" in html
    this_month = rf'<tr data-outlet="{world.gas}" data-month="{today:%Y-%m}">'
    assert len(re.findall(this_month, html)) == 1
    english = _html(client.get(f"/portal/enterprises/{world.hangzhou}", params={"lang": "en"}))
    assert "Transmission-validity rate" in english


@pytest.mark.parametrize(
    ("path", "params", "status", "parameter"),
    [
        ("/portal/", {"lang": "fr"}, 422, "lang"),
        ("/portal/", {"page": "0"}, 422, "page"),
        ("/portal/", {"q": "x" * 101}, 422, "q"),
        ("/portal/enterprises/999999", {}, 404, "enterprise_id"),
        ("/portal/enterprises/abc", {}, 422, "enterprise_id"),
        ("/widgets/enterprise-status", {}, 422, "enterprise_id"),
        ("/widgets/enterprise-status", {"enterprise_id": "abc"}, 422, "enterprise_id"),
        ("/widgets/enterprise-status", {"enterprise_id": "0"}, 422, "enterprise_id"),
        ("/widgets/enterprise-status", {"enterprise_id": "999999"}, 404, "enterprise_id"),
        ("/widgets/outlet-chart", {}, 422, "outlet_id"),
        ("/widgets/outlet-chart", {"outlet_id": "999999"}, 404, "outlet_id"),
        ("/widgets/outlet-chart", {"outlet_id": "OUTLET", "pollutant": "a21026"}, 422, None),
        ("/widgets/exceedances", {"enterprise_id": "999999"}, 404, "enterprise_id"),
        ("/widgets/exceedances", {"limit": "1000"}, 422, "limit"),
        ("/widgets/exceedances", {"lang": "de"}, 422, "lang"),
        ("/portal/static/nope.js", {}, 404, None),
        ("/portal/static/vendor/other.js", {}, 404, None),
    ],
)
def test_bad_parameters_get_the_json_error(
    client: TestClient,
    path: str,
    params: dict[str, str],
    status: int,
    parameter: str | None,
) -> None:
    error_of(client.get(path, params=params), status, parameter)


def test_chart_widget_checks_the_pollutant(client: TestClient, world: World) -> None:
    base = {"outlet_id": str(world.gas)}
    error_of(
        client.get("/widgets/outlet-chart", params={**base, "pollutant": "a2;1"}), 422, "pollutant"
    )
    error_of(
        client.get("/widgets/outlet-chart", params={**base, "pollutant": "zz999"}), 422, "pollutant"
    )
    error_of(client.get("/widgets/outlet-chart", params={**base, "days": "32"}), 422, "days")


@pytest.mark.parametrize(
    ("path", "element"),
    [
        ("/widgets/enterprise-status?enterprise_id={hangzhou}", "sourcewatch-status"),
        ("/widgets/outlet-chart?outlet_id={gas}&pollutant=a21026", "sourcewatch-chart"),
        ("/widgets/exceedances?enterprise_id={hangzhou}", "sourcewatch-exceedances"),
        ("/widgets/exceedances", "sourcewatch-exceedances"),
    ],
)
def test_iframe_widgets_are_embeddable(
    client: TestClient, world: World, path: str, element: str
) -> None:
    url = path.format(hangzhou=world.hangzhou, gas=world.gas)
    response = client.get(url)
    html = _html(response)
    assert response.headers["content-security-policy"] == "frame-ancestors *"
    assert "x-frame-options" not in response.headers
    assert f"<{element} " in html and 'lang="zh"' in html
    assert "postMessage" in html
    english = _html(client.get(url + ("&" if "?" in url else "?") + "lang=en"))
    assert '<html lang="en">' in english and 'lang="en"></' in english


def test_chart_widget_passes_its_parameters(client: TestClient, world: World) -> None:
    html = _html(
        client.get(
            "/widgets/outlet-chart",
            params={"outlet_id": world.gas, "pollutant": "a21026", "days": 3, "lang": "en"},
        )
    )
    assert (
        f'<sourcewatch-chart outlet-id="{world.gas}" days="3" pollutant="a21026" lang="en">' in html
    )


def test_widget_script(client: TestClient) -> None:
    response = client.get("/widgets/sourcewatch-widgets.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    script = response.text
    assert "/*@config*/" not in script
    for name in ("sourcewatch-status", "sourcewatch-chart", "sourcewatch-exceedances"):
        assert f'customElements.define("{name}"' in script
    # both languages and the licence travel with the script
    assert "Latest exceedances" in script and "\\u6700\\u65b0\\u8d85\\u6807" in script
    assert "CC BY 4.0" in script
    # no third-party network calls: the only absolute URL is the licence's (a link)
    assert set(re.findall(r"https?://[^\s\"')]+", script)) == {texts()["licence_url"]}


def test_assets(client: TestClient) -> None:
    css = client.get("/portal/static/portal.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    vendor = client.get("/portal/static/vendor/uPlot.iife.min.js")
    if vendor_available():
        assert vendor.status_code == 200 and "uPlot" in vendor.text
        assert client.get("/portal/static/vendor/uPlot.min.css").status_code == 200
    else:
        error_of(vendor, 404)


def test_pages_stay_out_of_the_openapi_schema() -> None:
    """The schemathesis run covers the JSON API only: no page or widget route is in the spec."""
    routes = [*portal.router.routes, *widgets.router.routes]
    assert len(routes) == 8
    assert all(getattr(route, "include_in_schema", True) is False for route in routes)


def test_enterprise_page_lists_published_records(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    content = {
        "inspected_on": "2026-11-02",
        "inspection_type": "double_random",
        "inspecting_body": "杭州市生态环境执法支队",
        "findings": "<b>设施正常</b>",
        "violations_found": False,
    }
    draft = wf.create_draft(
        db,
        record_type="inspection_result",
        content=content,
        actor="li.na",
        enterprise_id=world.hangzhou,
        title_zh="<script>现场检查</script>",
    )
    wf.approve(db, draft.id, actor="wang.qiang")
    wf.publish(db, draft.id, actor="li.na")
    html = _html(client.get(f"/portal/enterprises/{world.hangzhou}"))
    assert f'<a href="/v1/disclosures/{draft.id}">&lt;script&gt;现场检查&lt;/script&gt;</a>' in html
    assert "<script>现场检查" not in html
    assert html.count("暂无公开信息") == 7


def test_pages_link_the_disclosure_services(client: TestClient, world: World) -> None:
    html = _html(client.get("/portal/"))
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    for href in (
        f"/v1/reports/annual/{year}?format=html",
        f"/v1/timeliness?year={year}",
        "/v1/publication/verify",
        "/v1/feeds/disclosures.atom",
    ):
        assert f'href="{href}"' in html, href
        assert client.get(href).status_code == 200, href
    assert "信息公开年度报告" in html
    assert "Annual disclosure report" in _html(client.get("/portal/", params={"lang": "en"}))
