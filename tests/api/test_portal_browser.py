"""Headless Chromium renders the portal page and the widgets embedded in a page of another origin.

The real API runs under uvicorn on a free port with the ``world`` data; a second tiny HTTP
server on another port (so another origin) serves a host page that embeds two iframe widgets
and the three web components of ``/widgets/sourcewatch-widgets.js``. The host page writes what
it saw into ``<pre id="report">`` (iframes report through ``postMessage``, components through
their ``sourcewatch:rendered`` event, read in their open shadow roots), and Chromium's
``--dump-dom`` gives it back. Screenshots are saved in the test's tmp dir (the path is printed).

With uPlot installed (``npm ci --prefix api/portal``) the charts are uPlot canvases; without it
they are the table fallback, and that is what is asserted then. Skipped without
``/usr/bin/chromium`` (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.portal import vendor_available
from tests.api.conftest import World, utc
from tests.fixtures.processes import run_guarded

CHROMIUM = Path("/usr/bin/chromium")
HOUR = timedelta(hours=1)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium is not installed (/usr/bin/chromium; Debian: apt-get install chromium)",
)

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A government portal</title></head>
<body style="font-family:sans-serif;margin:12px">
<h1>A government portal embedding sourcewatch</h1>
<iframe id="frame-chart" src="{api}/widgets/outlet-chart?outlet_id={gas}&amp;pollutant=a21026&amp;lang=en"
        width="760" height="420" style="border:0"></iframe>
<iframe id="frame-exceedances" src="{api}/widgets/exceedances?enterprise_id={hangzhou}"
        width="760" height="260" style="border:0"></iframe>
<sourcewatch-status enterprise-id="{hangzhou}" lang="en"></sourcewatch-status>
<sourcewatch-chart outlet-id="{gas}" pollutant="a21026"></sourcewatch-chart>
<sourcewatch-exceedances enterprise-id="{hangzhou}" lang="en"></sourcewatch-exceedances>
<pre id="report"></pre>
<script>
  var report = {{origin: location.origin, frames: [], components: []}};
  function write() {{ document.getElementById("report").textContent = JSON.stringify(report); }}
  window.addEventListener("message", function (e) {{
    if (e.origin === "{api}" && e.data && e.data.source === "sourcewatch") {{
      report.frames.push(e.data); write();
    }}
  }});
  document.addEventListener("sourcewatch:rendered", function (e) {{
    var root = e.target.shadowRoot;
    report.components.push({{
      tag: e.target.localName, detail: e.detail,
      canvases: root.querySelectorAll("canvas").length,
      fallback: root.querySelectorAll("table.sw-fallback").length,
      rows: Array.prototype.map.call(root.querySelectorAll("tr[data-case], tr[data-outlet]"),
                                     function (r) {{ return r.textContent; }}),
      footer: (root.querySelector(".sw-foot") || {{}}).textContent || ""
    }});
    write();
  }});
</script>
<script src="{api}/widgets/sourcewatch-widgets.js"></script>
</body></html>
"""


class _HostPage(BaseHTTPRequestHandler):
    def __init__(self, body: bytes, *args: Any) -> None:
        self.body = body
        super().__init__(*args)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def host_url(api_url: str, world: World) -> Iterator[str]:
    """Another origin (another port) serving a page that embeds the widgets."""
    with _host(HOST_PAGE.format(api=api_url, gas=world.gas, hangzhou=world.hangzhou)) as url:
        yield url


@contextmanager
def _host(page: str) -> Iterator[str]:
    """``page`` served from another origin (another port); its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_HostPage, page.encode()))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _chromium(url: str, screenshot: Path, profile: Path) -> str:
    """Load ``url`` headless; save a screenshot; return the DOM after scripts ran."""
    common = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        f"--user-data-dir={profile}",
        "--window-size=1000,1700",
        "--virtual-time-budget=5000",
        f"--screenshot={screenshot}",
        "--dump-dom",
        url,
    ]
    done = run_guarded(common)  # Chromium's start under load: a hang guard, not 60 s
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _report(dom: str) -> dict[str, Any]:
    found = re.search(r'<pre id="report">(.*?)</pre>', dom, re.DOTALL)
    assert found and found.group(1), dom[-3000:]
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


def _exceedances(api_url: str, enterprise: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{api_url}/v1/exceedances?enterprise_id={enterprise}") as r:
        results: list[dict[str, Any]] = json.load(r)["results"]
    return results


def test_widgets_render_on_another_origin(
    api_url: str, host_url: str, world: World, tmp_path: Path
) -> None:
    expected_chart = "uplot" if vendor_available() else "table"
    notices = _exceedances(api_url, world.hangzhou)
    assert len(notices) == 2  # the open and the closed exceedance (not the outage)
    shot = tmp_path / "host-page.png"
    report = _report(_chromium(host_url, shot, tmp_path / "profile-host"))
    print(f"\nscreenshot of the host page: {shot}")  # noqa: T201 (where to look)
    assert shot.stat().st_size > 10_000
    assert report["origin"] != api_url  # really another origin

    frames = {f["widget"]: f for f in report["frames"]}
    assert frames["chart"]["rows"] == 3 and frames["chart"]["chart"] == expected_chart
    assert frames["exceedances"]["rows"] == len(notices)
    assert all(f["height"] > 50 for f in frames.values())

    components = {c["tag"]: c for c in report["components"]}
    assert set(components) == {
        "sourcewatch-status",
        "sourcewatch-chart",
        "sourcewatch-exceedances",
    }
    assert all("error" not in c["detail"] for c in components.values()), components
    status = components["sourcewatch-status"]
    assert len(status["rows"]) == 1 and "Stack 1 (DA001)" in status["rows"][0]
    assert "Exceeding" in status["rows"][0]  # an open exceedance case on the gas outlet
    chart = components["sourcewatch-chart"]
    assert chart["detail"] == {
        "widget": "chart",
        "rows": 3,
        "chart": expected_chart,
        "pollutants": ["a21026"],
    }
    if vendor_available():
        assert chart["canvases"] >= 1 and chart["fallback"] == 0
    else:
        assert chart["canvases"] == 0 and chart["fallback"] == 1
    assert "数据来源" in chart["footer"] and "CC BY 4.0" in chart["footer"]  # zh by default
    rows = components["sourcewatch-exceedances"]["rows"]
    assert len(rows) == len(notices)
    assert all("Stack 1 (DA001)" in row for row in rows)
    assert any("Open" in row for row in rows) and any("Closed" in row for row in rows)
    assert "Data licence" in components["sourcewatch-exceedances"]["footer"]


def test_portal_page_renders_charts_and_exceedances(
    api_url: str, db: psycopg.Connection, world: World, tmp_path: Path
) -> None:
    # An O2 hourly mean (no limit): its chart comes after SO2's, which has one.
    db.execute(
        "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, valid_count,"
        " expected_count, valid) VALUES (%s, 'a19001', %s, 'min', 10.1, 60, 60, true)",
        (world.gas, utc(1)),
    )
    shot = tmp_path / "portal-enterprise.png"
    url = f"{api_url}/portal/enterprises/{world.hangzhou}?lang=en"
    dom = _chromium(url, shot, tmp_path / "profile-portal")
    print(f"\nscreenshot of the portal page: {shot}")  # noqa: T201 (where to look)
    assert shot.stat().st_size > 10_000
    expected_chart = "uplot" if vendor_available() else "table"
    chart = re.search(rf'<sourcewatch-chart [^>]*outlet-id="{world.gas}"[^>]*>', dom)
    assert chart, dom[-3000:]
    assert f'data-rendered="{expected_chart}"' in chart.group(0)
    assert 'data-rows="4"' in chart.group(0)
    assert 'data-pollutants="a21026 a19001"' in chart.group(0)
    exceedances = re.search(r"<sourcewatch-exceedances [^>]*>", dom)
    assert exceedances and 'data-rows="2"' in exceedances.group(0)
    status = re.search(r"<sourcewatch-status [^>]*>", dom)
    assert status and 'data-rows="1"' in status.group(0)
    assert "The eight categories of supervision information" in dom


IN_PROGRESS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The hour in progress</title></head>
<body>
<sourcewatch-chart outlet-id="{gas}" pollutant="a21026" lang="{lang}"></sourcewatch-chart>
<pre id="report"></pre>
<script>
  document.addEventListener("sourcewatch:rendered", function (e) {{
    var rows = e.target.shadowRoot.querySelectorAll("table.sw-series tr");
    document.getElementById("report").textContent = JSON.stringify({{
      detail: e.detail,
      head: rows[0].lastElementChild.textContent,
      rows: Array.prototype.slice.call(rows, 1).map(function (r) {{
        return {{cls: r.className, state: r.lastElementChild.textContent}};
      }})
    }});
  }});
</script>
<script src="{api}/widgets/sourcewatch-widgets.js"></script>
</body></html>
"""


@pytest.mark.parametrize(("lang", "label"), [("zh", "进行中"), ("en", "In progress")])
def test_the_hour_in_progress_is_shown_as_such_not_as_invalid(
    api_url: str, db: psycopg.Connection, world: World, tmp_path: Path, lang: str, label: str
) -> None:
    now = datetime.now(UTC)
    running = now.replace(minute=0, second=0, microsecond=0)
    if running + HOUR - now < timedelta(seconds=30):  # the page must load within the hour
        time.sleep((running + HOUR - now).total_seconds())
        now, running = datetime.now(UTC), running + HOUR
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, "
            "converted, valid_count, expected_count, valid, reason) VALUES "
            "(%s, 'a21026', %s, 'min', 60, 70, %s, 60, %s, %s)",
            [
                (world.gas, running - 2 * HOUR, 58, True, None),
                (world.gas, running - HOUR, 20, False, "20 valid minutes of 60 (≥45 required)"),
                (world.gas, running, 26, False, "26 valid minutes of 60 (≥45 required)"),
            ],
        )
    db.execute(
        "UPDATE outlet_activity SET last_data_at = %s WHERE outlet_id = %s", (now, world.gas)
    )
    with _host(IN_PROGRESS_PAGE.format(api=api_url, gas=world.gas, lang=lang)) as url:
        report = _report(_chromium(url, tmp_path / "in-progress.png", tmp_path / "profile"))
    assert report["detail"]["rows"] == 3, report
    assert report["head"] == ("状态" if lang == "zh" else "Status")  # not "Valid"
    valid, invalid, in_progress = report["rows"]
    assert valid["cls"] == "" and invalid["cls"] == "sw-invalid"
    assert invalid["state"].startswith("无效" if lang == "zh" else "Invalid")
    assert in_progress == {"cls": "sw-progress", "state": label}  # not "invalid: 26 valid …"
