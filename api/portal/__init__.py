"""What the portal pages and the widgets share: bilingual texts, templates and browser assets.

Files here, beside this module (shipped in the wheel):

* ``texts.json`` — every user-facing label in Chinese and English, the attribution and the data
  and licence text;
* ``templates/*.html`` — Jinja2 templates of the portal pages and the iframe widgets;
* ``static/`` — our own CSS and JavaScript (the web components, ``sourcewatch-widgets.js``);
* ``node_modules/uplot/dist/`` — uPlot, installed from ``package-lock.json`` by
  ``npm ci --prefix api/portal`` (``make install``, the Dockerfile's node stage). Without it the
  charts degrade to tables and every page still works.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import jinja2
from fastapi import Response
from fastapi.responses import FileResponse, HTMLResponse

from api.errors import NotFound
from api.responses import LOCAL_TZ

__all__ = [
    "HERE",
    "Lang",
    "asset_response",
    "label",
    "page_response",
    "texts",
    "vendor_available",
]

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
UPLOT_DIST = HERE / "node_modules" / "uplot" / "dist"
# Served name → file: the vendored library, nothing else from node_modules.
VENDOR = {
    "uPlot.iife.min.js": UPLOT_DIST / "uPlot.iife.min.js",
    "uPlot.min.css": UPLOT_DIST / "uPlot.min.css",
}
_STATIC_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(css|js)")
_MEDIA = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
ASSET_MAX_AGE = 3600

Lang = Literal["zh", "en"]


@functools.cache
def texts() -> dict[str, Any]:
    """The contents of ``texts.json``."""
    data: dict[str, Any] = json.loads((HERE / "texts.json").read_text(encoding="utf-8"))
    return data


def label(key: str, lang: Lang, **values: object) -> str:
    """The label ``key`` in ``lang`` (``{name}`` placeholders filled from ``values``)."""
    text: str = texts()["labels"][key][lang]
    return text.format(**values) if values else text


def vendor_available() -> bool:
    """Whether the charting library is installed (``npm ci`` ran)."""
    return all(path.is_file() for path in VENDOR.values())


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def page_response(
    template: str, lang: Lang, *, frame_ancestors: str = "'self'", **context: Any
) -> HTMLResponse:
    """Render ``template`` with the labels of ``lang``; ``frame_ancestors`` says who may embed
    the page (``*`` for widgets, only this origin for the portal)."""

    def t(key: str, **values: object) -> str:
        return label(key, lang, **values)

    html = (
        _environment()
        .get_template(template)
        .render(
            lang=lang,
            t=t,
            texts=texts(),
            vendor=vendor_available(),
            report_year=datetime.now(LOCAL_TZ).year,
            **context,
        )
    )
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": f"frame-ancestors {frame_ancestors}",
            "Cache-Control": "public, max-age=60",
            "Content-Language": "zh-CN" if lang == "zh" else "en",
        },
    )


def asset_response(name: str, *, vendor: bool = False) -> Response:
    """A file of ``static/`` (or the vendored library) by its bare name; anything else is 404."""
    if vendor:
        path = VENDOR.get(name)
        if path is None or not path.is_file():
            raise NotFound(f"no such asset: {name} (run `npm ci --prefix api/portal`)")
    else:
        if not _STATIC_NAME.fullmatch(name) or not (STATIC / name).is_file():
            raise NotFound(f"no such asset: {name}")
        path = STATIC / name
    return FileResponse(
        path,
        media_type=_MEDIA[path.suffix],
        headers={
            "Cache-Control": f"public, max-age={ASSET_MAX_AGE}",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )
