"""JSON or CSV from the same rows (datasette's renderer, CAMPD's content negotiation).

* JSON: the response model, with a weak ``ETag`` (a digest of the body, weak because gzip may
  re-encode it) and ``Cache-Control``; a matching ``If-None-Match`` gets 304 with no body.
* CSV: one line per result, the columns derived from the result model (nested objects flatten
  to ``name_zh``, ``datetime_utc``, ``limit_value`` …; lists and maps are JSON in one cell),
  streamed. A download of every row (no ``limit``) is spooled first and streamed from the
  spool, so that the database pool is never held by a slow client (:mod:`api.exports`).
"""

from __future__ import annotations

import hashlib
import io
import json
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Union, get_args, get_origin

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from zlib_ng import zlib_ng

from schemas.core import csvcells

__all__ = [
    "CSV_MEDIA_TYPE",
    "CSV_RESPONSE",
    "GZIP_ENCODER_LEVEL",
    "GZIP_LEVEL",
    "GZIP_MINIMUM_SIZE",
    "GZIP_PAGE_LEVEL",
    "MAX_AGE_DATA",
    "MAX_AGE_REFERENCE",
    "PRIVATE",
    "csv_cell",
    "csv_columns",
    "csv_headers",
    "csv_lines",
    "csv_response",
    "csv_stream",
    "gzip_encoder",
    "json_body_response",
    "json_response",
    "private",
    "private_json",
]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# The gzip middleware's level (api.app, the standard library's zlib through Starlette): every
# response but the long bodies below. Level 4: a JSON page of 1,000 hourly points (838 kB)
# compresses to 41.0 kB in about 3 ms and a year's CSV (3.1 MB) to 237 kB in about 16 ms, where
# level 5 (the third round's choice over Starlette's 9) gave 38.0 kB and 236 kB in 13 % and 22 %
# more CPU time (bench/README.md, sixth round).
GZIP_LEVEL = 4
# The level of the long bodies compressed where they are written (gzip_encoder), with zlib-ng
# (the zlib-ng package: the same gzip format, any client's zlib decodes it): at level 5 a page
# is 39.5 kB in about 1.5 ms and a year 230 kB in about 8.5 ms, fewer bytes than the standard
# library's level 4 in 35-40 % less CPU time (bench/README.md, seventh round: hourly series).
GZIP_ENCODER_LEVEL = 5
# A JSON page of hourly points (837 kB) at level 4 instead: 40.2 kB against 39.5 kB (+1.8 %) in
# a quarter less CPU (1.5 against 2.1 ms at load 7.5); a year's CSV would lose 3.8 % at 4, so
# downloads keep 5 (bench/README.md, ninth round).
GZIP_PAGE_LEVEL = 4
GZIP_MINIMUM_SIZE = 1000  # bytes: smaller responses are not compressed
MAX_AGE_DATA = 60  # s: series, lists, latest values
MAX_AGE_REFERENCE = 3600  # s: code tables
# Staff answers: never cached by proxies, and they depend on who asks.
PRIVATE = {"Cache-Control": "private, no-store", "Vary": "Accept, Authorization"}

# OpenAPI: endpoints that can answer in CSV.
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON (default) or CSV (`format=csv` or `Accept: text/csv`).",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    304: {"description": "Not modified (the `If-None-Match` ETag still matches)."},
}


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, or ``*``)."""
    if not header:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def json_response(request: Request, model: BaseModel, *, max_age: int = MAX_AGE_DATA) -> Response:
    """The model as JSON, with ETag and Cache-Control; 304 when the client's copy is current."""
    next_url = getattr(getattr(model, "meta", None), "next", None)
    return _json_body(request, model.model_dump_json().encode(), max_age, next_url)


def json_body_response(
    request: Request, body: bytes, *, next_url: str | None = None, max_age: int = MAX_AGE_DATA
) -> Response:
    """:func:`json_response` for a body already written (a long series written mostly by
    PostgreSQL: :func:`api.series.hour_json_points`), gzipped here (:func:`gzip_encoder` at
    :data:`GZIP_PAGE_LEVEL`), in the endpoint's thread. Call it from a sync endpoint only (it compresses in the calling
    thread)."""
    return _json_body(request, body, max_age, next_url, gzip_here=True)


# --- Compression ------------------------------------------------------------------------------
# The gzip middleware (api.app, at GZIP_LEVEL above GZIP_MINIMUM_SIZE) compresses every response
# but one that already has a Content-Encoding. Long bodies built in an endpoint's worker thread
# are compressed there instead, with gzip_encoder: a JSON page of an hourly series (the
# middleware would hand a body over 128 KiB to a thread of its own and back, two more waits for
# a scheduler slot on a loaded machine) and a spooled download (compressed once as it is
# written, where the middleware would compress and flush each chunk as it is sent). These
# use zlib-ng, the middleware the standard library's zlib.


def gzip_encoder(
    request: Request, headers: dict[str, str], level: int = GZIP_ENCODER_LEVEL
) -> zlib_ng._Compress | None:
    """A gzip compressor (zlib-ng's ``compressobj`` at ``level``, a gzip stream any zlib
    decodes) when the client accepts gzip, the response's ``headers`` then marked as the
    middleware marks them (``Content-Encoding``, ``Vary``); None otherwise."""
    if "gzip" not in request.headers.get("Accept-Encoding", ""):
        return None
    headers["Content-Encoding"] = "gzip"
    headers["Vary"] = (
        f"{headers['Vary']}, Accept-Encoding" if "Vary" in headers else "Accept-Encoding"
    )
    return zlib_ng.compressobj(level, zlib_ng.DEFLATED, 16 + zlib_ng.MAX_WBITS)


def _json_body(
    request: Request, body: bytes, max_age: int, next_url: str | None, *, gzip_here: bool = False
) -> Response:
    etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}", "Vary": "Accept"}
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if gzip_here and len(body) >= GZIP_MINIMUM_SIZE:
        compressor = gzip_encoder(request, headers, GZIP_PAGE_LEVEL)
        if compressor is not None:
            body = compressor.compress(body) + compressor.flush()
    return Response(body, media_type="application/json", headers=headers)


# --- CSV ----------------------------------------------------------------------------------------


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (``X``, ``X | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            if (model := _model_in(arg)) is not None:
                return model
    return None


def csv_columns(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The field paths of a model, nested models flattened, in declaration order."""
    paths: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        nested = _model_in(info.annotation)
        if nested is not None:
            paths += csv_columns(nested, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


# json.dumps(data, ensure_ascii=False, separators=(",", ":")) without building an encoder per call
_JSON_CELL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def csv_cell(data: Any, path: tuple[str, ...]) -> str:
    """The cell of the column ``path`` of a document (a leaf's text; maps and lists as JSON)."""
    for part in path:
        if not isinstance(data, dict):
            return ""
        data = data.get(part)
    if data is None:
        return ""
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, dict | list):
        return _JSON_CELL.encode(data)
    return str(data)


def csv_lines(
    model: type[BaseModel], items: Iterable[BaseModel | Mapping[str, Any]], batch: int = 500
) -> Iterator[bytes]:
    """The CSV of ``items`` (instances of ``model``, or documents in the shape of their
    ``model_dump(mode="json")``): the header line, then ``batch`` lines at a time, UTF-8."""
    columns = csv_columns(model)
    buffer = io.StringIO()
    writer = csvcells.writer(buffer)
    writer.writerow("_".join(path) for path in columns)
    for count, item in enumerate(items, 1):
        data = item.model_dump(mode="json") if isinstance(item, BaseModel) else item
        writer.writerow([csv_cell(data, path) for path in columns])
        if count % batch == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def csv_response(
    model: type[BaseModel],
    items: Iterable[BaseModel | Mapping[str, Any]],
    *,
    filename: str,
    max_age: int = MAX_AGE_DATA,
    batch: int = 500,
) -> StreamingResponse:
    """Stream ``items`` (instances of ``model``, or documents in the shape of their
    ``model_dump(mode="json")``) as CSV, UTF-8, header line first."""
    return csv_stream(csv_lines(model, items, batch), filename=filename, max_age=max_age)


def csv_stream(
    lines: Iterable[bytes], *, filename: str, max_age: int = MAX_AGE_DATA
) -> StreamingResponse:
    """A CSV download of ``lines`` already written (e.g. by a writer specialised to one model)."""
    return StreamingResponse(
        lines, media_type=CSV_MEDIA_TYPE, headers=csv_headers(filename, max_age)
    )


def csv_headers(filename: str, max_age: int = MAX_AGE_DATA) -> dict[str, str]:
    """The headers of a CSV download."""
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept",
    }


def private_json(model: BaseModel, *, status_code: int = 200) -> Response:
    """``model`` as a staff answer: JSON, never cached (:data:`PRIVATE`)."""
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=PRIVATE,
    )


def private(response: Response) -> Response:
    """``response`` marked as a staff answer (:data:`PRIVATE`)."""
    response.headers.update(PRIVATE)
    return response
