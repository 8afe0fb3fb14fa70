"""Browser tests of the case console: real clicks in headless Chromium (Playwright, Debian's
``/usr/bin/chromium``) against the real API under uvicorn, the real broker, ingest worker and
evaluator.

An enforcement officer logs in and watches the inbox; a registry naming its standard is
imported, a data logger publishes an exceedance through the broker, ingest stores it and the
evaluator opens a case, which appears in the open page without a reload (the alert stream).
She then acknowledges, assigns, comments, records the reply, closes it and downloads the
evidence. A form posted without its CSRF token is refused; a wrong password gets the uniform
error and repeated failures are throttled."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from api.portal import vendor_available
from schemas.limits.rules import limits_for_outlet
from sourcewatch.cli import main
from tests.alerts.test_registry_to_case import HEADER, MN, ROW, T0, frames
from tests.api.conftest import World, this_hour
from tests.console.conftest import browser_login, needs_chromium, staff_user
from tests.fixtures.mqtt import publisher, running_worker

pytestmark = [pytest.mark.integration, needs_chromium]

HOUR = timedelta(hours=1)


def test_officer_sees_a_new_exceedance_live_and_works_it(
    db: psycopg.Connection,
    database_url: str,
    role_urls: dict[str, str],
    mqtt_url: str,
    browser_page: Callable[[], Page],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    staff_user(db, "wang.wei", "enforcement")
    page = browser_page()
    browser_login(page, "zhao.lei")
    expect(page.locator("#whoami")).to_contain_text("zhao.lei")
    expect(page.locator("#live")).to_have_text("Live")  # the stream is open
    expect(page.locator("tr[data-case]")).to_have_count(0)

    # The bureau's registry names the standard: the outlet is bound and judged.
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    registry = tmp_path / "registry.csv"
    registry.write_text(HEADER + ROW.format(category="coal-boiler-existing"), encoding="utf-8")
    assert main(["registry", "import", str(registry), "--no-progress"]) == 0
    (outlet,) = db.execute("SELECT id FROM outlets WHERE mn = %s", (MN,)).fetchone() or ()
    (limit,) = [
        lim
        for lim in limits_for_outlet(db, outlet, T0.date())
        if (lim.pollutant, lim.period) == ("a21026", "hour")
    ]
    assert limit.reference_o2 is not None
    sent = frames({0: limit.value * Decimal("1.5"), 1: limit.value / 2}, limit.reference_o2)
    stop = threading.Event()
    evaluator = Evaluator(
        EvaluatorOptions.from_settings(
            AlertsSettings(database_url=role_urls["alerts"], evaluation_sweep_s=0.5)
        )
    )
    judge = threading.Thread(target=evaluator.run, args=(stop,))
    judge.start()
    try:
        with running_worker(mqtt_url, role_urls["ingest"]), publisher(mqtt_url) as publish:
            for raw in sent:
                publish(f"hj212/{MN}/up", raw)
            # no reload: the row arrives through the alert stream
            row = page.locator("tr[data-case]")
            expect(row).to_have_count(1, timeout=60_000)
    finally:
        stop.set()
        judge.join(15)
    expect(row).to_contain_text("Exceedance")
    expect(row).to_contain_text("Unit 1 stack (DA001)")
    expect(row).to_contain_text("+08:00")
    (case_id,) = db.execute("SELECT id FROM cases").fetchone() or ()

    page.click(f"tr[data-case='{case_id}'] a")
    expect(page.locator("h1")).to_contain_text(f"Case #{case_id}")
    # the means against the limit: uPlot where it is bundled (npm ci), else the server's SVG
    expect(page.locator("#limit-line")).to_have_count(1)
    if vendor_available():
        expect(page.locator("#means")).to_have_attribute("data-rendered", "uplot")
        expect(page.locator("#means-uplot canvas")).to_be_visible()
        expect(page.locator("#means-uplot .u-legend")).to_contain_text("Limit (mg/m³)")
    else:
        expect(page.locator("#means-chart")).to_be_visible()
    expect(page.locator("#raw tbody tr").first).to_contain_text("normal (Valid)")
    expect(page.locator("main")).to_contain_text("Asia/Shanghai")

    page.fill("#form-acknowledge input[name=note]", "seen on the console")
    page.click("#form-acknowledge button")
    expect(page.locator("#done")).to_contain_text("Acknowledge")
    expect(page.locator("#acknowledged")).to_contain_text("zhao.lei")
    page.select_option("#form-assign select[name=assignee]", "wang.wei")
    page.click("#form-assign button")
    expect(page.locator("#assignee")).to_have_text("wang.wei")
    page.fill("#form-comment textarea", "called the plant's duty engineer")
    page.click("#form-comment button")
    expect(page.locator("#history")).to_contain_text("called the plant's duty engineer")
    page.fill("#form-reply textarea", "boiler start-up after maintenance")
    page.click("#form-reply button")
    expect(page.locator("#history")).to_contain_text("boiler start-up after maintenance")
    page.fill("#form-close textarea", "start-up documented; no penalty")
    page.click("#form-close button")
    expect(page.locator("#case-state")).to_have_text("Closed")
    expect(page.locator("#closed")).to_contain_text("start-up documented; no penalty")

    with page.expect_download() as download:
        page.click("#evidence")
    data = Path(download.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        assert "SHA256SUMS" in bundle.namelist()
    assert download.value.suggested_filename == f"case-{case_id}-evidence.zip"

    actions = db.execute(
        "SELECT actor, action FROM case_events WHERE case_id = %s AND actor <> 'evaluator'"
        " ORDER BY id",
        (case_id,),
    ).fetchall()
    assert actions == [
        ("zhao.lei", a) for a in ("acknowledged", "assigned", "commented", "replied", "closed")
    ]


def test_a_form_without_its_csrf_token_is_refused(
    db: psycopg.Connection, world: object, browser_page: Callable[[], Page]
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    page = browser_page()
    browser_login(page, "zhao.lei")
    page.goto("/staff/cases/1?lang=en")
    # a forged form: the token field removed before the real click
    page.evaluate("document.querySelector('#form-close input[name=csrf]').remove()")
    page.fill("#form-close textarea", "forged")
    page.click("#form-close button")
    expect(page.locator("#message")).to_contain_text("CSRF")
    assert db.execute("SELECT state FROM cases WHERE id = 1").fetchone() == ("open",)


def test_wrong_password_is_uniform_and_throttled(
    db: psycopg.Connection, browser_page: Callable[[], Page]
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    page = browser_page()
    for username in ("zhao.lei", "nobody"):
        browser_login(page, username, "not the password")
        expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    for _ in range(4):  # the user name's 2nd to 5th failure (SOURCEWATCH_STAFF_LOGIN_…)
        browser_login(page, "zhao.lei", "not the password")
        expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    browser_login(page, "zhao.lei", "not the password")
    expect(page.locator("#login-error")).to_contain_text("Too many failed logins")
    browser_login(page, "zhao.lei")  # even the right password, now
    expect(page.locator("#login-error")).to_contain_text("Too many failed logins")
    assert db.execute("SELECT count(*) FROM staff_sessions").fetchone() == (0,)


def test_the_running_hour_is_drawn_in_progress_not_invalid(
    db: psycopg.Connection, world: World, browser_page: Callable[[], Page]
) -> None:
    """uPlot's shading (console.js): the hour before, invalid, grey; the running hour (26 valid
    minutes so far) light blue; its row in the table of means says In progress."""
    now_hour = this_hour()
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, converted,"
            " valid_count, expected_count, valid, reason, flags)"
            " VALUES (%s, 'a21026', %s, 'min', 150, 150, %s, 60, false, %s, '{}')",
            [
                (world.gas, now_hour - HOUR, 20, "20 valid minutes of 60 (≥45 required)"),
                (world.gas, now_hour, 26, "26 valid minutes of 60 (≥45 required)"),
            ],
        )
    db.execute("UPDATE cases SET first_at = %s, last_at = %s WHERE id = 1", (now_hour, now_hour))
    staff_user(db, "zhao.lei", "viewer")
    page = browser_page()
    browser_login(page, "zhao.lei")
    page.goto("/staff/cases/1?lang=en")
    page.click("#hours summary")
    expect(page.locator("#hours tr.in-progress")).to_contain_text("In progress · 26 valid")
    expect(page.locator("#hours tr.invalid")).to_contain_text("Invalid · 20 valid")
    if not vendor_available():
        expect(page.locator("#means-chart rect.in-progress")).to_have_count(1)
        return
    expect(page.locator("#means")).to_have_attribute("data-rendered", "uplot")
    data = json.loads(page.locator("#means-data").text_content() or "{}")
    colours = page.evaluate(
        """([start, end, hours]) => {
          const over = document.querySelector("#means-uplot .u-over");
          const canvas = document.querySelector("#means-uplot canvas");
          const ctx = canvas.getContext("2d");
          const scale = canvas.width / canvas.clientWidth;
          return hours.map((t) => {  // the middle of the hour, near the top of the plot
            const x = over.offsetLeft + over.clientWidth * (t - 1800 - start) / (end - start);
            return Array.from(ctx.getImageData(x * scale, (over.offsetTop + 4) * scale, 1, 1).data);
          });
        }""",
        [data["start"], data["end"], [p["t"] for p in data["points"][-2:]]],
    )
    (r0, _, b0, a0), (r1, _, b1, a1) = colours  # the fill as drawn, before the page's white
    assert a0 > 0 and b0 - r0 < 50, colours  # grey (208, 215, 222): invalid
    assert a1 > 0 and b1 - r1 > 100, colours  # light blue (84, 174, 255): in progress
