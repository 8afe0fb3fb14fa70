"""What every list endpoint does: count, page, and answer in JSON or CSV from the same rows."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Response
from pydantic import BaseModel

from api.db import Database, Row, Statement
from api.exports import spooled_csv
from api.params import Format, Pagination
from api.render import MAX_AGE_DATA, csv_response, json_response
from api.responses import Meta, Page

__all__ = ["list_response"]


def list_response(
    request: Request,
    db: Database,
    *,
    fmt: Format,
    pagination: Pagination,
    count: Statement,
    select: Callable[[int | None, int], Statement],
    convert: Callable[[Row], BaseModel],
    model: type[BaseModel],
    filename: str,
    max_age: int = MAX_AGE_DATA,
) -> Response:
    """``select(limit, offset)`` builds the page query; CSV without ``limit`` has every row
    (spooled, then streamed: :mod:`api.exports`)."""
    limit, offset = pagination.window(fmt)
    if limit is None:
        statement = select(None, 0)
        return spooled_csv(
            request, db, statement, convert, model, filename=filename, max_age=max_age
        )
    counted, page_rows = db.run(count, select(limit, offset))
    items = [convert(row) for row in page_rows]
    if fmt == "csv":
        return csv_response(model, items, filename=filename, max_age=max_age)
    found = int(counted[0]["found"])
    more = offset + len(items) < found
    next_url = str(request.url.include_query_params(page=pagination.page + 1)) if more else None
    meta = Meta(page=pagination.page, limit=limit, found=found, next=next_url)
    return json_response(request, Page[model](meta=meta, results=items), max_age=max_age)  # type: ignore[valid-type]
