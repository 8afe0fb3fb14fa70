"""``/v1/feeds/exceedances.{atom,rss,json}``: exceedance notices opened and closed, as feeds.

One entry per transition (opened or closed), newest first, the latest
:data:`api.queries.cases.FEED_SIZE`; optionally for one enterprise or one district. Titles are
bilingual; each entry links to ``/v1/exceedances/{id}`` and carries the quality notice.
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
from api.queries import cases as queries
from api.routes.cases import QUALITY_NOTICE, ExceedanceNotice, notice

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/feeds",
    tags=["feeds"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(reject_nul)],
)

_PERIOD = {"hour": ("小时均值", "hourly mean"), "day": ("日均值", "daily mean")}


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _title(action: str, n: ExceedanceNotice) -> str:
    zh_period, en_period = _PERIOD.get(n.period, ("均值", "mean"))
    pollutant_zh = n.pollutant.name.zh or n.pollutant.code
    pollutant_en = n.pollutant.name.en or n.pollutant.code
    outlet_zh = n.outlet.name.zh or n.outlet.code or str(n.outlet.id)
    outlet_en = n.outlet.name.en or n.outlet.name.zh or n.outlet.code or str(n.outlet.id)
    enterprise_en = n.enterprise.name.en or n.enterprise.name.zh
    if action == "closed":
        zh = f"超标结束：{n.enterprise.name.zh} {outlet_zh} {pollutant_zh}{zh_period}"
        en = f"Exceedance closed: {enterprise_en} {outlet_en} {pollutant_en} {en_period}"
    else:
        zh = f"超标：{n.enterprise.name.zh} {outlet_zh} {pollutant_zh}{zh_period}超过限值"
        en = f"Exceedance: {enterprise_en} {outlet_en} {pollutant_en} {en_period} above the limit"
    return f"{zh} / {en}"


def _summary(action: str, n: ExceedanceNotice) -> str:
    limit = n.limit
    unit = limit.unit or ""
    source = ", ".join(p for p in (limit.source_document, limit.clause) if p) or "–"
    o2 = f" @ {_fmt(limit.reference_o2)}% O₂" if limit.reference_o2 is not None else ""
    first, last = n.first_period.start.local.isoformat(), n.last_period.end.local.isoformat()
    lines = [
        f"限值 Limit: {_fmt(limit.value)} {unit}{o2} ({source})",
        f"最大超标倍数 Highest multiple: {_fmt(n.max_multiple)}",
        f"时段 Periods: {first} – {last}",
    ]
    if action == "closed":
        lines.append(f"关闭原因 Close reason: {n.close_reason or '–'}")
    lines.append(f"{QUALITY_NOTICE.zh}。{QUALITY_NOTICE.en}.")
    return "\n".join(lines)


def _entry(request: Request, row: Row) -> feeds.Entry:
    n = notice(row)
    action = str(row["action"])
    return feeds.Entry(
        id=feeds.tag_uri(f"exceedance/{n.id}/{action}/{row['event_id']}"),
        title=_title(action, n),
        url=str(request.url_for("get_exceedance", case_id=n.id)),
        published=row["at"],
        updated=row["at"],
        summary=_summary(action, n),
        categories=(
            action,
            n.pollutant.code,
            *([n.enterprise.district] if n.enterprise.district else []),
        ),
    )


def _feed(
    request: Request,
    db: Database,
    fmt: feeds.FeedFormat,
    enterprise_id: int | None,
    district: str | None,
) -> Response:
    if enterprise_id is not None and district is not None:
        raise InvalidParameter("district", "give either enterprise_id or district, not both")
    filters = {
        k: v for k, v in (("enterprise_id", enterprise_id), ("district", district)) if v is not None
    }
    query = f"?{urlencode(filters)}" if filters else ""
    specific = f"feeds/exceedances{query}"  # percent-encoded: a valid tag URI
    rows = db.fetch_all(queries.feed_events(enterprise_id, district))
    home = str(request.url_for("list_exceedances")) + query
    scope_zh = scope_en = ""
    if enterprise_id is not None:
        scope_zh = scope_en = f" · enterprise {enterprise_id}"
    elif district is not None:
        scope_zh, scope_en = f" · {district}", f" · district {district}"
    feed = feeds.Feed(
        id=feeds.tag_uri(specific),
        title=f"超标公告{scope_zh} / Exceedance notices{scope_en}",
        subtitle=f"sourcewatch — {QUALITY_NOTICE.zh}。{QUALITY_NOTICE.en}.",
        home_url=home,
        self_urls=feeds.self_urls(request, "exceedance_feed", query),
        entries=[_entry(request, row) for row in rows],
    )
    return feeds.feed_response(request, feed, fmt)


EnterpriseParam = Annotated[
    int | None, Query(ge=1, le=2**63 - 1, description="Only this enterprise's notices.")
]
DistrictParam = Annotated[
    str | None, Query(min_length=1, max_length=100, description="Only this district's notices.")
]


def _endpoint(fmt: feeds.FeedFormat) -> Callable[..., Response]:
    def exceedance_feed(
        request: Request,
        db: Annotated[Database, Depends(get_database)],
        enterprise_id: EnterpriseParam = None,
        district: DistrictParam = None,
    ) -> Response:
        return _feed(request, db, fmt, enterprise_id, district)

    return exceedance_feed


feeds.add_routes(router, "/exceedances", "exceedance_feed", "Exceedance notices", _endpoint)
