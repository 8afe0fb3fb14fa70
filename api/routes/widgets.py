"""``/widgets/``: embeddable widgets for government portals (iframe pages and a script tag).

Iframe pages, bilingual (``lang=zh`` default, ``lang=en``), embeddable from any site
(``Content-Security-Policy: frame-ancestors *``, no ``X-Frame-Options``)::

    /widgets/enterprise-status?enterprise_id=1
    /widgets/outlet-chart?outlet_id=1&pollutant=a21026&days=7
    /widgets/exceedances?enterprise_id=1&limit=10

Each page holds one web component from ``/widgets/sourcewatch-widgets.js`` and tells its parent
window through ``postMessage`` (``{source: "sourcewatch", type: "rendered", widget, rows, chart,
height}``) when it rendered, so the host page can size the iframe. The same script, put on any
page, defines ``<sourcewatch-status>``, ``<sourcewatch-chart>`` and
``<sourcewatch-exceedances>``, which read the ``/v1`` API of the origin the script came from.

Parameters are checked here: a bad one is a 422 and an unknown enterprise, outlet or pollutant a
404/422, in the API's one JSON error shape. Not part of the OpenAPI schema.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.db import Database, get_database
from api.errors import InvalidParameter, NotFound
from api.params import reject_nul
from api.portal import STATIC, Lang, page_response, texts, vendor_available
from api.queries import enterprises as enterprise_queries
from api.queries import outlets as outlet_queries
from api.queries import pollutants as pollutant_queries

__all__ = ["router"]

router = APIRouter(prefix="/widgets", include_in_schema=False, dependencies=[Depends(reject_nul)])

EMBEDDABLE = "*"  # frame-ancestors: any site may embed the widgets
SCRIPT_MAX_AGE = 300
_CONFIG_SLOT = "/*@config*/ null"

Id = Annotated[int, Query(ge=1, le=2**63 - 1)]
LangParam = Annotated[Lang, Query(description="zh (default) or en.")]


def _enterprise_exists(db: Database, enterprise_id: int) -> None:
    if db.fetch_one(enterprise_queries.one(enterprise_id)) is None:
        raise NotFound(f"no enterprise {enterprise_id}", parameter="enterprise_id")


def _outlet_exists(db: Database, outlet_id: int) -> None:
    if db.fetch_one(outlet_queries.one(outlet_id)) is None:
        raise NotFound(f"no outlet {outlet_id}", parameter="outlet_id")


def _widget(element: str, lang: Lang, attributes: dict[str, str]) -> Response:
    return page_response(
        "widget.html",
        lang,
        frame_ancestors=EMBEDDABLE,
        element=element,
        attributes=attributes,
    )


@router.get("/enterprise-status")
def enterprise_status(
    db: Annotated[Database, Depends(get_database)],
    enterprise_id: Id,
    lang: LangParam = "zh",
) -> Response:
    """An enterprise's outlets with their live status and latest data time."""
    _enterprise_exists(db, enterprise_id)
    return _widget("sourcewatch-status", lang, {"enterprise-id": str(enterprise_id)})


@router.get("/outlet-chart")
def outlet_chart(
    db: Annotated[Database, Depends(get_database)],
    outlet_id: Id,
    lang: LangParam = "zh",
    pollutant: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{1,20}$")] = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> Response:
    """An outlet's hourly means (one pollutant, or all) against the limit, invalid hours shaded."""
    _outlet_exists(db, outlet_id)
    attributes = {"outlet-id": str(outlet_id), "days": str(days)}
    if pollutant is not None:
        if db.fetch_one(pollutant_queries.one(pollutant)) is None:
            raise InvalidParameter("pollutant", f"unknown HJ 212 code {pollutant!r}")
        attributes["pollutant"] = pollutant
    return _widget("sourcewatch-chart", lang, attributes)


@router.get("/exceedances")
def exceedances(
    db: Annotated[Database, Depends(get_database)],
    enterprise_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    outlet_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    lang: LangParam = "zh",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """The latest exceedance notices (of an enterprise, an outlet, or all)."""
    attributes = {"limit": str(limit)}
    if enterprise_id is not None:
        _enterprise_exists(db, enterprise_id)
        attributes["enterprise-id"] = str(enterprise_id)
    if outlet_id is not None:
        _outlet_exists(db, outlet_id)
        attributes["outlet-id"] = str(outlet_id)
    return _widget("sourcewatch-exceedances", lang, attributes)


@functools.cache
def _script(vendor: bool) -> str:
    data = texts()
    config = {
        "labels": data["labels"],
        "attribution": data["attribution"],
        "licence": data["licence"],
        "licence_url": data["licence_url"],
        "vendor": vendor,
    }
    source = (STATIC / "sourcewatch-widgets.js").read_text(encoding="utf-8")
    if _CONFIG_SLOT not in source:
        raise RuntimeError("sourcewatch-widgets.js lost its configuration slot")
    return source.replace(_CONFIG_SLOT, json.dumps(config, ensure_ascii=True, sort_keys=True))


@router.get("/sourcewatch-widgets.js")
def widgets_script() -> Response:
    """The web components, with their bilingual labels and licence text built in."""
    return Response(
        _script(vendor_available()),
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": f"public, max-age={SCRIPT_MAX_AGE}",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )
