"""``/v1/feeds/disclosures.{atom,rss,json}``: new disclosure records, as feeds.

One entry per publication or withdrawal in the publication log, newest first, the latest
:data:`api.queries.disclosures.FEED_SIZE`; optionally for one category, one enterprise or one
district. Titles are bilingual; each entry links to ``/v1/disclosures/{id}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from api import feeds
from api.db import Database, Row, get_database
from api.errors import ERROR_RESPONSES, InvalidParameter
from api.params import reject_nul
from api.queries import disclosures as queries
from api.routes.disclosures import Category, to_disclosure

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/feeds",
    tags=["feeds"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(reject_nul)],
)


def _entry(request: Request, row: Row) -> feeds.Entry:
    d = to_disclosure(row)
    action = str(row["action"])
    prefix = ("撤回：", "Withdrawn: ") if action == "withdraw" else ("", "")
    correction = (
        ("（更正）", " (correction)") if d.version > 1 and action == "publish" else ("", "")
    )
    title = f"{prefix[0]}{d.title.zh}{correction[0]} / {prefix[1]}{d.title.en or d.title.zh}{correction[1]}"
    lines = [
        f"{d.category.name.zh} · {d.record_type.name.zh} / {d.category.name.en} · {d.record_type.name.en}",
        f"形成 Formed: {d.formed.local.isoformat()}",
    ]
    if d.correction_reason:
        lines.append(f"更正原因 Reason for correction: {d.correction_reason}")
    if action == "withdraw" and d.withdrawn is not None:
        lines.append(f"撤回原因 Reason for withdrawal: {d.withdrawn.reason}")
    return feeds.Entry(
        id=feeds.tag_uri(f"disclosure/{d.id}/{action}/{row['seq']}"),
        title=title,
        url=str(request.url_for("get_disclosure", record_id=d.id)),
        published=row["logged_at"],
        updated=row["logged_at"],
        summary="\n".join(lines),
        categories=(d.category.code, d.record_type.code, action),
    )


def _feed(
    request: Request,
    db: Database,
    fmt: feeds.FeedFormat,
    category: str | None,
    enterprise_id: int | None,
    district: str | None,
) -> Response:
    if enterprise_id is not None and district is not None:
        raise InvalidParameter("district", "give either enterprise_id or district, not both")
    filters = {
        k: v
        for k, v in (
            ("category", category),
            ("enterprise_id", enterprise_id),
            ("district", district),
        )
        if v is not None
    }
    query = f"?{urlencode(filters)}" if filters else ""
    rows = db.fetch_all(queries.feed_entries(category, enterprise_id, district))
    scope = " · ".join(f"{k} {v}" for k, v in filters.items())
    feed = feeds.Feed(
        id=feeds.tag_uri(f"feeds/disclosures{query}"),
        title=f"污染源监管信息公开 / Pollution-source supervision information{' · ' + scope if scope else ''}",
        subtitle="sourcewatch — 八大类污染源监管信息 / the eight categories of supervision information",
        home_url=str(request.url_for("list_disclosures")) + query,
        self_urls=feeds.self_urls(request, "disclosure_feed", query),
        entries=[_entry(request, row) for row in rows],
    )
    return feeds.feed_response(request, feed, fmt)


CategoryParam = Annotated[Category | None, Query(description="Only this category's records.")]
EnterpriseParam = Annotated[
    int | None, Query(ge=1, le=2**63 - 1, description="Only this enterprise's records.")
]
DistrictParam = Annotated[
    str | None, Query(min_length=1, max_length=100, description="Only this district's records.")
]


def _endpoint(fmt: feeds.FeedFormat) -> Callable[..., Response]:
    def disclosure_feed(
        request: Request,
        db: Annotated[Database, Depends(get_database)],
        category: CategoryParam = None,
        enterprise_id: EnterpriseParam = None,
        district: DistrictParam = None,
    ) -> Response:
        return _feed(request, db, fmt, category, enterprise_id, district)

    return disclosure_feed


feeds.add_routes(router, "/disclosures", "disclosure_feed", "New disclosure records", _endpoint)
