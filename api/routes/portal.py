"""``/portal/``: the public portal pages, in Chinese (default) or English (``?lang=en``).

* ``/portal/`` — enterprises (search by name) on a map drawn from their coordinates (no tile
  server) and in a list;
* ``/portal/enterprises/{id}`` — the enterprise, its outlets' live status, hourly charts against
  the limit (invalid hours shaded), each outlet's transmission and validity rates of last month
  and this month (docs/completeness.md), the latest exceedances and links to the eight
  categories;
* ``/portal/static/…`` — our CSS and JavaScript, and the locally bundled uPlot;
* ``/`` — redirects to ``/portal/`` (the address uvicorn prints is the service's root).

The lists are rendered here; the status, charts and exceedances are the web components of
``/widgets/sourcewatch-widgets.js`` reading the ``/v1`` API. Not part of the OpenAPI schema.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api import convert
from api.db import Database, Row, get_database
from api.errors import NotFound
from api.params import reject_nul
from api.portal import Lang, asset_response, page_response, svgmap
from api.queries import disclosures as disclosure_queries
from api.queries import enterprises as queries
from api.queries import outlets as outlet_queries
from api.responses import LOCAL_TZ, Outlet
from schemas.completeness.rates import rates
from schemas.disclosure.categories import EIGHT_CATEGORIES

__all__ = ["home", "router"]

RECORDS_SHOWN = 200  # current records listed on an enterprise page

router = APIRouter(prefix="/portal", include_in_schema=False, dependencies=[Depends(reject_nul)])

home = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
LangParam = Annotated[Lang, Query(description="zh (default) or en.")]


def _url(path: str, params: dict[str, str | int | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return f"{path}?{query}" if query else path


def _other(lang: Lang) -> Lang:
    return "en" if lang == "zh" else "zh"


@home.get("/")
def root(lang: LangParam = "zh") -> RedirectResponse:
    """The service's root is the portal (the language kept)."""
    return RedirectResponse(_url("/portal/", {"lang": lang if lang != "zh" else None}), 307)


@router.get("/", response_class=HTMLResponse)
def index(
    db: Annotated[Database, Depends(get_database)],
    lang: LangParam = "zh",
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """Enterprise list with a map and a name search."""
    q = (q or "").strip() or None
    f = queries.EnterpriseFilter(q=q)
    counted, rows = db.run(
        queries.count(f), queries.select(f, "id", PAGE_SIZE, (page - 1) * PAGE_SIZE)
    )
    found = int(counted[0]["found"])
    enterprises = [convert.enterprise(row) for row in rows]
    places = [
        (e.id, e.name.model_dump()[lang] or e.name.zh or e.name.en or str(e.id), lon, lat)
        for e in enterprises
        if e.location is not None
        for lon, lat in [(e.location.longitude, e.location.latitude)]
    ]
    base: dict[str, str | int | None] = {"lang": lang, "q": q}
    return page_response(
        "portal_index.html",
        lang,
        enterprises=enterprises,
        found=found,
        q=q,
        map=svgmap.draw(places),
        switch_url=_url(
            "/portal/", {**base, "lang": _other(lang), "page": page if page > 1 else None}
        ),
        previous_url=_url("/portal/", {**base, "page": page - 1}) if page > 1 else None,
        next_url=_url("/portal/", {**base, "page": page + 1}) if page * PAGE_SIZE < found else None,
    )


@router.get("/enterprises/{enterprise_id}", response_class=HTMLResponse)
def enterprise_page(
    db: Annotated[Database, Depends(get_database)],
    enterprise_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    lang: LangParam = "zh",
) -> Response:
    """One enterprise: facts, live status, hourly charts per outlet, exceedances, categories."""
    found, outlet_rows, category_rows, record_rows = db.run(
        queries.one(enterprise_id),
        outlet_queries.select(outlet_queries.OutletFilter(enterprise_id=enterprise_id), None, 0),
        disclosure_queries.categories(),
        disclosure_queries.select(
            disclosure_queries.DisclosureFilter(enterprise_id=enterprise_id), RECORDS_SHOWN, 0
        ),
    )
    if not found:
        raise NotFound(f"no enterprise {enterprise_id}", parameter="enterprise_id")
    enterprise = convert.enterprise(found[0])
    name = enterprise.name.model_dump()[lang] or enterprise.name.zh or str(enterprise_id)
    outlets = [convert.outlet(row) for row in outlet_rows]
    return page_response(
        "portal_enterprise.html",
        lang,
        enterprise=enterprise,
        name=name,
        outlets=outlets,
        completeness=_completeness(db, outlets),
        categories=_categories(category_rows, record_rows),
        switch_url=_url(f"/portal/enterprises/{enterprise_id}", {"lang": _other(lang)}),
    )


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _completeness(db: Database, outlets: list[Outlet]) -> list[dict[str, Any]]:
    """Per outlet, the headline rates of last month and this month (local) so far."""
    today = datetime.now(LOCAL_TZ).date()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    out: list[dict[str, Any]] = []
    for outlet in outlets:
        found = db.call(
            lambda conn, oid=outlet.id: rates(conn, oid, "month", last_month, today)  # type: ignore[misc]
        )
        headline = {r.period_start.astimezone(LOCAL_TZ).date(): r for r in found if r.headline}
        for month in (last_month, this_month):
            rate = headline.get(month)
            last = min(_next_month(month) - timedelta(days=1), today)
            out.append(
                {
                    "outlet_id": outlet.id,
                    "outlet": outlet.name.model_dump(),
                    "month": f"{month.year}-{month.month:02d}",
                    "first": month.isoformat(),
                    "last": last.isoformat(),
                    "rate": None
                    if rate is None
                    else {
                        "transmission": _percent(rate.transmission_rate),
                        "validity": _percent(rate.validity_rate),
                        "product": _percent(rate.transmission_validity_rate),
                        "met": rate.meets_target,
                    },
                }
            )
    return out


def _next_month(first: date) -> date:
    return (first + timedelta(days=31)).replace(day=1)


def _categories(category_rows: list[Row], record_rows: list[Row]) -> list[dict[str, Any]]:
    """The eight categories with the enterprise's current records in each, newest first; the
    water disclosures only when the enterprise has some."""
    records: dict[str, list[dict[str, Any]]] = {}
    for row in record_rows:
        records.setdefault(row["category"], []).append(
            {
                "id": row["id"],
                "zh": row["title_zh"],
                "en": row["title_en"] or row["title_zh"],
                "published": row["published_at"].astimezone(LOCAL_TZ).date().isoformat(),
                "version": row["version"],
            }
        )
    return [
        {
            "code": c["code"],
            "zh": c["name_zh"],
            "en": c["name_en"],
            "records": records.get(c["code"], []),
        }
        for c in category_rows
        if c["code"] in EIGHT_CATEGORIES or c["code"] in records
    ]


@router.get("/static/vendor/{name}")
def vendor_asset(name: Annotated[str, Path(max_length=100)]) -> Response:
    """The bundled charting library (uPlot), served from ``api/portal/node_modules``."""
    return asset_response(name, vendor=True)


@router.get("/static/{name}")
def static_asset(name: Annotated[str, Path(max_length=100)]) -> Response:
    """Our own CSS and JavaScript."""
    return asset_response(name)
