"""``/v1/feeds/publication-roots.{atom,rss,json}``: the publication log's signed daily roots,
as feeds, so that anyone can mirror them as they are signed.

One entry per root, newest first, the latest :data:`FEED_SIZE`; its id is stable per day and
its link verifies the log against that root (``/v1/publication/verify?pin=…``). The summary
holds what a verifier keeps: the signed message (day, last entry, root hash), the signature
and the key id. Every root and the keys are also in each daily dump
(``publication-roots.json``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from api import feeds
from api.db import Database, get_database
from api.errors import ERROR_RESPONSES
from api.params import reject_nul
from schemas.disclosure import ledger

__all__ = ["FEED_SIZE", "router"]

FEED_SIZE = 50

router = APIRouter(
    prefix="/v1/feeds",
    tags=["feeds"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(reject_nul)],
)


def _entry(request: Request, root: ledger.Root) -> feeds.Entry:
    pin = f"{root.day.isoformat()}:{root.last_seq}:{root.root_hash.hex()}"
    url = str(request.url_for("publication_verify").include_query_params(pin=pin))
    summary = "\n".join(
        [
            (
                f"已签名的日根 / Signed root of {root.day.isoformat()} (Asia/Shanghai): "
                f"{root.entry_count} entries, the last is entry {root.last_seq}"
            ),
            f"signed_message: {root.message.decode()!r}",
            f"signature (Ed25519, hex): {root.signature.hex()}",
            f"key_id: {root.key_id} (/v1/publication/keys)",
        ]
    )
    return feeds.Entry(
        id=feeds.tag_uri(f"publication-root/{root.day.isoformat()}"),
        title=f"发布日志日根 {root.day.isoformat()} / Publication log root {root.day.isoformat()}",
        url=url,
        published=root.signed_at,
        updated=root.signed_at,
        summary=summary,
        categories=("publication-root", root.key_id),
    )


def _feed(request: Request, db: Database, fmt: feeds.FeedFormat) -> Response:
    def newest(conn: Any) -> list[ledger.Root]:
        return list(reversed(ledger.roots(conn)))[:FEED_SIZE]

    feed = feeds.Feed(
        id=feeds.tag_uri("feeds/publication-roots"),
        title="发布日志签名日根 / Signed roots of the publication log",
        subtitle="sourcewatch — 每日签名，供镜像与核验 / signed daily, to mirror and verify against",
        home_url=str(request.url_for("publication_roots")),
        self_urls=feeds.self_urls(request, "publication_roots_feed"),
        entries=[_entry(request, root) for root in db.call(newest)],
    )
    return feeds.feed_response(request, feed, fmt)


def _endpoint(fmt: feeds.FeedFormat) -> Callable[..., Response]:
    def publication_roots_feed(
        request: Request, db: Annotated[Database, Depends(get_database)]
    ) -> Response:
        return _feed(request, db, fmt)

    return publication_roots_feed


feeds.add_routes(
    router,
    "/publication-roots",
    "publication_roots_feed",
    "Signed roots of the publication log",
    _endpoint,
)
