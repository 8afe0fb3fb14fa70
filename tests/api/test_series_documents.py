"""Hourly series written mostly by PostgreSQL (api.series.hour_json_points and hour_csv_lines)
give the same responses as the pydantic models they replaced (issue 16): the same JSON and
the same CSV, over a series with every kind of point (valid, invalid, exceeding, unconvertible,
no limit, a limit that changes in the period, text that CSV must quote). Numbers are the
stored numeric's digits (written by PostgreSQL, api.queries.measurements) where the models
have the float's: the same number; in the CSV every other cell is the same byte for byte."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.app import create_app
from api.queries import measurements as queries
from api.queries.limits import limit_calendar
from api.render import csv_cell, csv_lines
from api.responses import HourPoint, Period, Series, SeriesMeta, instant
from api.series import converter, hour_csv_lines, hour_json_points, key_of
from api.settings import ApiSettings
from tests.api.conftest import World

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 1, tzinfo=UTC)
HOURS = 600  # two pollutants: 1,200 points, more than one page of 1,000


def _series(db: psycopg.Connection, outlet: int) -> None:
    """Hourly means from START: SO₂ (hourly limit, with the outlet's own hourly limit from
    2026-09-15) and O₂ (no limit), with nulls, invalid hours and awkward reasons."""
    rng = random.Random(16)
    rows = []
    for h in range(HOURS):
        at = START + timedelta(hours=h)
        for pollutant in ("a21026", "a19001"):
            valid = h % 7 != 3
            mean = Decimal(f"{rng.uniform(0, 160):.4f}") if h % 11 else None
            converted = None if h % 5 == 0 else Decimal(f"{rng.uniform(0, 200):.6f}")
            reason = None
            if not valid:
                reason = f'{h % 45} valid minutes < 45; "flagged", 注意\nsecond line'
            if h % 17 == 5:  # text a spreadsheet would run as a formula, and negative means
                reason = '=HYPERLINK("http://example.org")' if h % 2 else "-5 minutes missing"
                mean = -mean if mean is not None else None
            flags = {} if h % 13 == 0 else {"N": 60 - h % 9, "D": h % 9}
            rows.append(
                (
                    outlet,
                    pollutant,
                    at,
                    "min" if h % 3 else "rtd",
                    mean,
                    None if h % 4 else Decimal("1.23456789012345678901"),
                    converted,
                    None if h % 6 == 0 else Decimal("9.5"),
                    45 + h % 16,
                    valid,
                    reason,
                    Jsonb(flags),
                )
            )
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, "
            "zs_reported, converted, o2_mean, valid_count, expected_count, valid, reason, "
            "flags) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 60, %s, %s, %s)",
            rows,
        )
    db.execute(
        "INSERT INTO outlet_limits (outlet_id, pollutant, value, unit, period, reference_o2, "
        "source_document, clause, valid_from) VALUES (%s, 'a21026', 50, 'mg/m³', 'hour', 6, "
        "'排污许可证 91330100000000001A001P', '表 1', '2026-09-15')",
        (outlet,),
    )


NUMBERS = {"mean": "mean", "converted": "converted", "zs_reported": "zs_reported", "o2": "o2_mean"}


def assert_same_csv(written: bytes, models_csv: bytes, rows: list[dict]) -> None:
    """``written`` is ``models_csv`` but for its numbers, the stored numerics' own digits
    (``rows``, dict rows of the points) where the models write the float's; the same number."""
    got = list(csv.reader(io.StringIO(written.decode(), newline="")))
    was = list(csv.reader(io.StringIO(models_csv.decode(), newline="")))
    header = got[0]
    assert header == was[0] and len(got) == len(was) == len(rows) + 1
    value = header.index("exceedance_value")
    numbers = [header.index(name) for name in NUMBERS] + [value]
    expected = []
    for new, old, row in zip(got[1:], was[1:], rows, strict=True):
        for name, column in NUMBERS.items():
            stored = row[column]
            assert new[header.index(name)] == ("" if stored is None else str(stored)), name
        if new[value]:  # the judged value: the converted or the measured mean, as stored
            assert new[value] in (new[header.index("converted")], new[header.index("mean")])
        for i in numbers:
            assert (new[i] == "") == (old[i] == ""), header[i]
            assert new[i] == "" or float(new[i]) == float(old[i]), header[i]
        expected.append([new[i] if i in numbers else cell for i, cell in enumerate(old)])
    # every other cell, quoting and line ends included, byte for byte
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *expected])
    assert written == out.getvalue().encode()


def _filter(outlet: int, end: datetime) -> queries.SeriesFilter:
    """The hourly points of ``outlet`` from START to ``end``."""
    return queries.SeriesFilter(
        outlet_id=outlet,
        start=START,
        end=end,
        first_day=START.astimezone(SH).date(),
        end_day=end.astimezone(SH).date(),
        timezone="Asia/Shanghai",
        flag_standard="HJ 212-2017",
    )


def _models(
    db: psycopg.Connection, outlet: int, end: datetime
) -> tuple[list[HourPoint], list[dict]]:
    """The points as the pydantic path builds them (api.series.converter), and their rows."""
    f = _filter(outlet, end)
    statement = queries.points("hour", f, after=None, limit=None)
    with db.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(statement.query, statement.params).fetchall()
    calendar = limit_calendar(db, outlet, date(2026, 9, 1), date(2026, 10, 31))
    to_model = converter("hour", calendar, SH)
    points = [to_model(r) for r in rows]
    # each point's JSON, written mostly by PostgreSQL: the models' JSON, its numbers with the
    # stored numerics' digits (the same numbers: == compares 60 and 60.0 as equal)
    json_rows = queries.hour_json_rows(f, local_tz="Asia/Shanghai", after=None, limit=None)
    texts = list(hour_json_points(calendar, db.execute(json_rows.query, json_rows.params)))
    assert [json.loads(t) for t in texts] == [p.model_dump(mode="json") for p in points]
    for text, row in zip(texts, rows, strict=True):
        exact = json.loads(text, parse_float=Decimal)
        for name, column in NUMBERS.items():
            assert exact[name] == row[column], name  # the stored value, not a float's
            assert type(exact[name]) is not float
    assert any(b'"zs_reported":1.23456789012345678901,' in t for t in texts)
    # the CSV writer specialised to hourly rows, in batches of another size than the models'
    text = queries.hour_csv_rows(f, local_tz="Asia/Shanghai", after=None, limit=None)
    text_rows = db.execute(text.query, text.params).fetchall()
    written = b"".join(hour_csv_lines(calendar, text_rows, batch=7))
    assert_same_csv(written, b"".join(csv_lines(HourPoint, points, 500)), rows)
    assert b"'=HYPERLINK" in written and b"'-5 minutes" in written
    assert b",1.23456789012345678901," in written  # the numeric's digits, not the float's
    return points, rows  # type: ignore[return-value]


def test_hourly_json_pages_and_csv_are_those_of_the_models(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    _series(db, world.gas)
    end = START + timedelta(hours=HOURS)
    period = f"resolution=hour&start={START.isoformat()}&end={end.isoformat()}"
    period = period.replace("+", "%2B")
    models, rows = _models(db, world.gas, end)
    assert len(models) == 2 * HOURS
    assert {p.exceedance.exceeds for p in models if p.exceedance} == {True, False}
    assert any(p.limit is None for p in models) and any(not p.valid for p in models)

    url = f"/v1/outlets/{world.gas}/measurements?{period}&limit=1000"
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        first = sum(len(p) for p in pages)
        page_models = models[first : first + len(body["results"])]
        expected = Series[HourPoint](meta=SeriesMeta(**body["meta"]), results=page_models)
        assert json.loads(response.content) == json.loads(expected.model_dump_json())
        pages.append(body["results"])
        url = body["meta"]["next"]
    assert [len(p) for p in pages] == [1000, 2 * HOURS - 1000]

    download = client.get(f"/v1/outlets/{world.gas}/measurements?{period}&format=csv")
    assert download.status_code == 200
    assert_same_csv(download.content, b"".join(csv_lines(HourPoint, models, 500)), rows)
    page = client.get(f"/v1/outlets/{world.gas}/measurements?{period}&format=csv&limit=7")
    assert_same_csv(page.content, b"".join(csv_lines(HourPoint, models[:7], 500)), rows[:7])
    link = page.headers["Link"]
    assert link.startswith("<") and link.endswith('>; rel="next"')
    second = client.get(link[1:].split(">;")[0])
    assert_same_csv(second.content, b"".join(csv_lines(HourPoint, models[7:14], 500)), rows[7:14])


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 9, 1, 16, tzinfo=UTC),  # a local midnight
        datetime(2026, 12, 31, 23, 59, 59, 500, tzinfo=UTC),  # microseconds
        datetime(1988, 7, 1, 3, tzinfo=UTC),  # Chinese daylight saving time: +09:00
        datetime(1969, 12, 31, 20, tzinfo=UTC),
        datetime(1900, 1, 1, tzinfo=UTC),  # local mean time, +08:05:43: written +08:05
        datetime(2026, 3, 1, 4, 30, 0, 120000, tzinfo=UTC),  # a fraction PostgreSQL trims
        datetime(2026, 12, 31, 16, tzinfo=UTC),  # the local new year
    ],
)
@pytest.mark.parametrize("zone", [None, "Asia/Shanghai", "America/New_York"])
def test_instant_cells_are_the_isoformat_of_the_models(
    db: psycopg.Connection, moment: datetime, zone: str | None
) -> None:
    """PostgreSQL writes an instant's CSV cells and JSON as the models have them, whatever the
    session's TimeZone: the published zone's (the fast path, for whole seconds and offsets in
    whole minutes), the server's or another (the slow path)."""
    if zone is not None:
        db.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
    params = {"m": moment, "local_tz": "Asia/Shanghai"}
    query = sql.SQL("SELECT {}, {}").format(
        queries.instant_cells(sql.Placeholder("m")), queries.instant_json(sql.Placeholder("m"))
    )
    written, written_json = db.execute(query, params).fetchone()
    point = Period(start=instant(moment), end=instant(moment))
    assert written == "{},{}".format(
        *(csv_cell(point.model_dump(mode="json"), ("start", k)) for k in ("utc", "local"))
    )
    assert written_json == point.start.model_dump_json()


def test_a_numeric_that_is_no_number_is_an_empty_csv_cell(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    """``-Infinity`` or ``NaN`` in a stored mean (the evaluator writes none) is an empty cell, as
    JSON's null: a cell starting with ``-`` must not reach a spreadsheet unneutralised."""
    at = START + timedelta(hours=1)
    db.execute(
        "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, zs_reported,"
        " o2_mean, valid_count, expected_count, valid, flags)"
        " VALUES (%s, 'a19001', %s, 'min', 5, '-Infinity', 'NaN', 60, 60, true, '{}')",
        (world.gas, at),
    )
    period = (
        f"resolution=hour&start={START.isoformat()}&end={(at + timedelta(hours=1)).isoformat()}"
    )
    response = client.get(
        f"/v1/outlets/{world.gas}/measurements?{period.replace('+', '%2B')}&format=csv"
    )
    assert response.status_code == 200, response.text
    header, row = list(csv.reader(io.StringIO(response.text, newline="")))
    assert (row[header.index("mean")], row[header.index("zs_reported")]) == ("5", "")
    assert row[header.index("o2")] == ""
    assert "Infinity" not in response.text and "NaN" not in response.text
    page = client.get(f"/v1/outlets/{world.gas}/measurements?{period.replace('+', '%2B')}")
    (point,) = page.json()["results"]
    assert (point["zs_reported"], point["o2"]) == (None, None)


def _plain_and_gzipped(client: TestClient, outlet: int, query: str) -> tuple[str, Any, bytes, Any]:
    """The hourly series of ``outlet`` asked for without and with gzip: the URL, the plain
    response, and the raw (still compressed) body and headers of the gzipped one."""
    end = START + timedelta(hours=HOURS)
    period = f"resolution=hour&start={START.isoformat()}&end={end.isoformat()}"
    url = f"/v1/outlets/{outlet}/measurements?{period.replace('+', '%2B')}&{query}"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        assert response.status_code == 200
        return url, plain, b"".join(response.iter_raw()), response.headers


def test_a_download_is_gzipped_once_as_spooled(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    """A client that accepts gzip gets the spooled CSV compressed (once, while spooled: one
    gzip stream, no middleware's second pass); it decodes to the bytes a client without gzip
    gets, with the headers the gzip middleware gives."""
    _series(db, world.gas)
    _, plain, raw, headers = _plain_and_gzipped(client, world.gas, "format=csv")
    assert headers["content-encoding"] == "gzip"
    vary = [v.strip() for v in headers["vary"].split(",")]
    assert vary == [v.strip() for v in plain.headers["vary"].split(",")]
    assert "Accept" in vary and "Accept-Encoding" in vary
    assert headers["content-disposition"] == plain.headers["content-disposition"]
    assert gzip.decompress(raw) == plain.content
    assert len(raw) < len(plain.content) // 5


def test_a_json_page_is_gzipped_in_the_endpoint_as_the_middleware_would(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    """An hourly JSON page is compressed by the endpoint (api.render.json_body_response) when
    the client accepts gzip: one gzip stream that decodes to the identity page's bytes, with
    the same ETag and the headers the gzip middleware gives."""
    _series(db, world.gas)
    url, plain, raw, headers = _plain_and_gzipped(client, world.gas, "limit=1000")
    assert headers["content-encoding"] == "gzip"
    assert headers["content-length"] == str(len(raw))
    assert headers["vary"] == plain.headers["vary"]
    assert "Accept-Encoding" in headers["vary"]
    assert (headers["etag"], headers["link"]) == (plain.headers["etag"], plain.headers["link"])
    assert gzip.decompress(raw) == plain.content
    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": headers["etag"]})
    assert again.status_code == 304


def test_a_json_page_names_its_pollutants_known_or_not_as_the_models(
    world: World, db: psycopg.Connection
) -> None:
    """The page's rows are sorted and cut before the pollutants' names are joined to them
    (api.queries.measurements.hour_json_rows): a code the pollutants table does not know still
    has its point, named by nothing, as the models have it; the page of a cursor too."""
    for h in range(3):
        for code in ("a21026", "zz9001"):  # the second: in no code table
            db.execute(
                "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, "
                "valid_count, expected_count, valid) VALUES (%s, %s, %s, 'min', 42.5, 45, 60, "
                "true)",
                (world.gas, code, START + timedelta(hours=h)),
            )
    f = _filter(world.gas, START + timedelta(hours=3))
    calendar = limit_calendar(db, world.gas, date(2026, 9, 1), date(2026, 9, 2))
    to_model = converter("hour", calendar, SH)
    pages = [(None, ["a21026", "zz9001"] * 2), ((START, "zz9001"), ["a21026", "zz9001", "a21026"])]
    for key, codes in pages:
        limit = len(codes)
        statement = queries.points("hour", f, after=key, limit=limit)
        with db.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(statement.query, statement.params).fetchall()
        json_rows = queries.hour_json_rows(f, local_tz="Asia/Shanghai", after=key, limit=limit)
        texts = list(hour_json_points(calendar, db.execute(json_rows.query, json_rows.params)))
        points = [to_model(r).model_dump(mode="json") for r in rows]
        assert [json.loads(t) for t in texts] == points
        assert [p["pollutant"]["code"] for p in points] == codes
        unknown = [p["pollutant"] for p in points if p["pollutant"]["code"] == "zz9001"]
        assert unknown and all(p["name"] == {"zh": None, "en": None} for p in unknown)
        known = [p["pollutant"] for p in points if p["pollutant"]["code"] == "a21026"]
        assert known and all(p["name"]["zh"] for p in known)


def test_a_cursor_key_is_in_utc_whatever_zone_the_row_was_read_in() -> None:
    """Hourly pages are read in a transaction in the published zone (timestamptz values come
    back as datetimes in it); the cursor's key is written in UTC, as before."""
    start = datetime(2026, 9, 1, 8, tzinfo=SH)
    assert key_of("hour", {"period_start": start, "pollutant": "a21026"}) == (
        "2026-09-01T00:00:00+00:00",
        "a21026",
    )
    assert key_of("day", {"day": date(2026, 9, 1), "pollutant": "a21026"}) == (
        "2026-09-01",
        "a21026",
    )


def test_a_download_cut_off_while_its_rows_still_stream_ends_its_query(
    settings: ApiSettings, world: World, db: psycopg.Connection
) -> None:
    """An hourly download's rows stream from the server while they are written
    (Database.stream_tuples); a download refused part way (larger than the most one may be)
    cancels its statement, and its connection goes back to the pool idle and usable."""
    start, hours = datetime(2020, 1, 1, tzinfo=UTC), 6000  # more rows than one chunk
    db.execute(
        "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, valid_count,"
        " expected_count, valid) SELECT %s, 'a21026', %s + g * interval '1 hour', 'min', 40,"
        " 60, 60, true FROM generate_series(0, %s - 1) g",
        (world.gas, start, hours),
    )

    def url(end: datetime) -> str:
        period = f"resolution=hour&start={start.isoformat()}&end={end.isoformat()}"
        return f"/v1/outlets/{world.gas}/measurements?{period.replace('+', '%2B')}"

    every = url(start + timedelta(hours=hours))
    small = settings.model_copy(update={"api_export_max_bytes": 64 * 1024})
    with TestClient(create_app(small)) as client:
        # The pool makes its first connection in the background (api.app opens it without
        # waiting): a request that finds none waits, and the pool grows by one more, whose
        # set-up (schemas.core.db's configure: a statement, then a commit) may be under way
        # when the sessions are counted below: one not idle that is not the download's. So
        # the download takes a connection that is ready.
        client.app.state.pool.wait()
        refused = client.get(f"{every}&format=csv")
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["parameter"] == "limit"
        assert "would be larger than 64 KiB: ask for" in refused.json()["error"]["message"]
        busy = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'sourcewatch.api' AND state <> 'idle'"
        ).fetchone()  # this session's database: other sessions' APIs may share the server
        assert busy == (0,)
        page = client.get(f"{every}&limit=1000")
        assert page.status_code == 200 and page.json()["meta"]["found"] == hours
        day = client.get(f"{url(start + timedelta(hours=24))}&format=csv")
        assert day.status_code == 200 and day.text.count("\r\n") == 25
