"""``/v1/dumps``: the daily bulk files (``sourcewatch dump`` writes them, :mod:`api.dumps`).

The list names each published day with the URLs of its manifest and checksums; a file is
served only when the day's manifest lists it (or it is the manifest or ``SHA256SUMS``), so no
request can reach any other file of the server.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api import dumps as daily_dumps
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, NotFound
from api.params import Format, Pagination, output_format, pagination, reject_nul
from api.render import CSV_RESPONSE, csv_response, etag_matches, json_response
from api.responses import Meta, Page

__all__ = ["DumpDay", "router"]

MAX_AGE_FILE = 3600  # s: a day's files change only when the day is dumped again
MAX_AGE_LIST = 300

router = APIRouter(
    prefix="/v1/dumps",
    tags=["bulk downloads"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(reject_nul)],
)


class DumpDay(BaseModel):
    """One published day of bulk files."""

    day: date = Field(description="Local (Asia/Shanghai) calendar day.", examples=["2026-11-27"])
    generated_at: datetime | None = Field(description="When the dump was written (UTC).")
    enterprises: int = Field(description="Enterprises with a partition (enterprise=<id>/).")
    files: int = Field(description="Data files (CSV and Parquet) in the dump.")
    bytes: int = Field(description="Total size of the data files.")
    hourly_rows: int = Field(description="Hourly means (valid and invalid) in the dump.")
    raw_rows: int = Field(description="Raw measurements in the dump.")
    manifest: str = Field(description="URL of manifest.json: files, sizes, rows, SHA-256, schemas.")
    checksums: str = Field(description="URL of SHA256SUMS (`sha256sum -c` format).")


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file: `manifest.json`, `SHA256SUMS`, or a data file the manifest "
        "lists (`enterprise=<id>/hourly.csv`, `hourly.parquet`, `raw.csv.gz`, `raw.parquet`).",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
            "application/gzip": {"schema": {"type": "string", "format": "binary"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    304: {"description": "Not modified (the `If-None-Match` ETag, the file's SHA-256, matches)."},
    **NOT_FOUND_RESPONSE,
}


def _dump_dir(request: Request) -> Path:
    return Path(request.app.state.settings.dump_dir)


def _summary(request: Request, day: date, manifest: dict[str, Any]) -> DumpDay:
    files = [f for f in manifest.get("files", ()) if isinstance(f, dict)]

    def rows(table: str) -> int:
        return sum(
            int(f.get("rows", 0))
            for f in files
            if f.get("table") == table and f.get("format") != "parquet"
        )

    generated = manifest.get("generated_at")
    return DumpDay(
        day=day,
        generated_at=datetime.fromisoformat(generated) if isinstance(generated, str) else None,
        enterprises=len({f.get("enterprise_id") for f in files}),
        files=len(files),
        bytes=sum(int(f.get("bytes", 0)) for f in files),
        hourly_rows=rows("hourly"),
        raw_rows=rows("raw"),
        manifest=str(
            request.url_for("get_dump_file", day=day.isoformat(), path=daily_dumps.MANIFEST)
        ),
        checksums=str(
            request.url_for("get_dump_file", day=day.isoformat(), path=daily_dumps.CHECKSUMS)
        ),
    )


@router.get(
    "",
    response_model=Page[DumpDay],
    responses=CSV_RESPONSE,
    summary="List the days with bulk downloads",
)
def list_dumps(
    request: Request,
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
) -> Response:
    """Published days, newest first, each with the URLs of its manifest and checksums. Every
    day holds, per enterprise, its hourly means and raw measurements as CSV and Parquet."""
    folder = _dump_dir(request)
    days = daily_dumps.available_days(folder)
    limit, offset = page.window(fmt)
    chosen = days[offset:] if limit is None else days[offset : offset + limit]
    items = []
    for day in chosen:
        manifest = daily_dumps.read_manifest(folder, day)
        if manifest is not None:  # vanished since the listing: a re-dump is being swapped in
            items.append(_summary(request, day, manifest))
    if fmt == "csv":
        return csv_response(DumpDay, items, filename="dumps.csv", max_age=MAX_AGE_LIST)
    size = page.size
    more = offset + size < len(days)
    next_url = str(request.url.include_query_params(page=page.page + 1)) if more else None
    meta = Meta(page=page.page, limit=size, found=len(days), next=next_url)
    return json_response(request, Page[DumpDay](meta=meta, results=items), max_age=MAX_AGE_LIST)


@router.get(
    "/{day}/{path:path}",
    response_class=Response,
    response_model=None,
    responses=_FILE_RESPONSES,
    summary="One file of a day's bulk download",
)
def get_dump_file(
    request: Request,
    day: Annotated[date, PathParam(description="Local calendar day, YYYY-MM-DD.")],
    path: Annotated[
        str,
        PathParam(
            max_length=200,
            description="`manifest.json`, `SHA256SUMS`, or a path listed in the manifest, "
            "e.g. `enterprise=1/hourly.csv`.",
        ),
    ],
) -> Response:
    """The file, with its SHA-256 as a strong ETag. Anything the manifest does not list is 404."""
    folder = _dump_dir(request)
    found = daily_dumps.dump_file(folder, day, path)
    if found is None:
        if daily_dumps.read_manifest(folder, day) is None:
            raise NotFound(f"no bulk download for {day.isoformat()}", parameter="day")
        raise NotFound(
            f"{path[:80]!r} is not a file of the {day.isoformat()} download (see its "
            f"manifest.json)",
            parameter="path",
        )
    etag = f'"{found.sha256}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={MAX_AGE_FILE}"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    name = f"sourcewatch-{day.isoformat()}-{path.replace('/', '-').replace('=', '-')}"
    inline = path in (daily_dumps.MANIFEST, daily_dumps.CHECKSUMS)
    return FileResponse(
        found.path,
        media_type=found.media_type,
        headers=headers,
        filename=name,
        content_disposition_type="inline" if inline else "attachment",
    )
