"""The staff console's pages (``/staff/``): bilingual texts, templates and how a page is sent.

Like the portal (:mod:`api.portal`): Jinja2 templates beside this module, every label in
Chinese and English in ``texts.json``, the language from ``?lang=`` (remembered in a cookie),
Chinese by default. Staff pages are never cached or framed, and every time on them is shown in
Asia/Shanghai with the zone named (:func:`local`).
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from api.portal import vendor_available
from schemas.cases.kinds import KIND_LABELS as CASE_KIND_LABELS
from schemas.cases.kinds import SEVERITY_LABELS
from schemas.core.localtime import LOCAL_TZ
from schemas.system_alerts import KIND_LABELS as ALERT_KIND_LABELS

__all__ = ["LANG_COOKIE", "Lang", "label", "lang_of", "local", "number", "page"]

HERE = Path(__file__).resolve().parent
LANG_COOKIE = "sw_lang"

Lang = Literal["zh", "en"]

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


@functools.cache
def texts() -> dict[str, Any]:
    """``texts.json``, with the names of case kinds, severities and system alert kinds from
    their one home (``schemas.cases.kinds``, ``schemas.system_alerts``), as the notifications
    name them."""
    data: dict[str, Any] = json.loads((HERE / "texts.json").read_text(encoding="utf-8"))
    for prefix, names in (
        ("kind_", CASE_KIND_LABELS),
        ("severity_", SEVERITY_LABELS),
        ("alert_kind_", ALERT_KIND_LABELS),
    ):
        for code, (zh, en) in names.items():
            data["labels"][prefix + code] = {"zh": zh, "en": en}
    return data


def label(key: str, lang: Lang, **values: object) -> str:
    """The label ``key`` in ``lang`` (``{name}`` placeholders filled from ``values``)."""
    text: str = texts()["labels"][key][lang]
    return text.format(**values) if values else text


def lang_of(request: Request) -> Lang:
    """``?lang=`` when given, else the remembered choice, else Chinese."""
    for value in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if value == "en":
            return "en"
        if value == "zh":
            return "zh"
    return "zh"


def local(value: datetime | None, *, seconds: bool = False) -> str:
    """A time as Asia/Shanghai wall time with the offset (``2026-11-27 09:00 +08:00``)."""
    if value is None:
        return "—"
    shown = value.astimezone(LOCAL_TZ)
    return shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " +08:00"


def number(value: Decimal | float | None, places: int = 2) -> str:
    if value is None:
        return "—"
    return f"{float(value):.{places}f}"


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local
    env.filters["number"] = number
    return env


def page(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` in the request's language; never cached, never framed."""
    lang = lang_of(request)

    def t(key: str, **values: object) -> str:
        return label(key, lang, **values)

    context.setdefault("user", None)
    context.setdefault("csrf", "")
    query = dict(request.query_params)
    query["lang"] = "en" if lang == "zh" else "zh"
    html = (
        _environment()
        .get_template(template)
        .render(
            lang=lang,
            t=t,
            path=request.url.path,
            switch_query=urlencode(query),
            vendor=vendor_available(),  # uPlot, bundled with the portal
            **context,
        )
    )
    response = HTMLResponse(
        html,
        status_code=status_code,
        headers={
            **HEADERS,
            "Content-Language": "zh-CN" if lang == "zh" else "en",
            **(headers or {}),
        },
    )
    if request.query_params.get("lang") in ("zh", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/staff")
    return response
