"""Syndication feeds: Atom 1.0 (RFC 4287) and RSS 2.0 through feedgen, JSON Feed 1.1 by hand.

A feed is a :class:`Feed` of :class:`Entry` objects, each with a stable ``tag:`` URI (RFC 4151)
as its id, so a reader never shows the same notice twice. Every time in a feed comes from the
data (never "now"), so the same data give the same bytes and the same ``ETag``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]

from api.render import etag_matches

__all__ = [
    "EPOCH",
    "FEED_MAX_AGE",
    "JSON_FEED_VERSION",
    "MEDIA_TYPES",
    "TAG_AUTHORITY",
    "Entry",
    "Feed",
    "FeedFormat",
    "add_routes",
    "atom",
    "feed_response",
    "json_feed",
    "render",
    "rss",
    "self_urls",
    "tag_uri",
]

FeedFormat = Literal["atom", "rss", "json"]
MEDIA_TYPES: dict[str, str] = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
TAG_AUTHORITY = "sourcewatch,2026"  # tag:<authority>,<date>:<specific> — never changes
FEED_MAX_AGE = 60  # s, like the other public data reads
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # `updated` of a feed with no entries (stable)
GENERATOR = "sourcewatch"


def tag_uri(specific: str) -> str:
    return f"tag:{TAG_AUTHORITY}:{specific}"


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    title: str
    url: str
    published: datetime
    updated: datetime
    summary: str
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Feed:
    id: str
    title: str
    subtitle: str
    home_url: str  # the HTML or JSON resource the feed is about
    self_urls: dict[str, str]  # format → URL of the feed in that format
    language: str = "zh-CN"
    author: str = GENERATOR
    entries: list[Entry] = field(default_factory=list)

    @property
    def updated(self) -> datetime:
        return max((e.updated for e in self.entries), default=EPOCH)


# Characters XML 1.0 cannot carry (control characters, surrogates, U+FFFE/U+FFFF): dropped from
# the text of Atom and RSS (a `district` filter or a stored name may hold them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _generator(feed: Feed, fmt: FeedFormat) -> Any:
    fg = FeedGenerator()
    fg.id(feed.id)
    fg.title(_text(feed.title))
    fg.subtitle(_text(feed.subtitle))  # RSS: the required channel <description>
    fg.author({"name": feed.author})
    fg.language(feed.language)
    fg.generator(GENERATOR)
    fg.link(href=feed.home_url, rel="alternate")
    fg.link(href=feed.self_urls[fmt], rel="self")
    fg.updated(feed.updated)
    fg.lastBuildDate(feed.updated)
    for entry in reversed(feed.entries):  # feedgen prepends: keep newest first
        fe = fg.add_entry()
        fe.guid(entry.id, permalink=False)  # also the Atom <id>
        fe.title(_text(entry.title))
        fe.link(href=entry.url, rel="alternate")
        fe.published(entry.published)
        fe.updated(entry.updated)
        fe.summary(_text(entry.summary))  # Atom <summary>, RSS <description>
        for category in entry.categories:
            fe.category(term=_text(category))
    return fg


def atom(feed: Feed) -> bytes:
    return bytes(_generator(feed, "atom").atom_str(pretty=True))


def rss(feed: Feed) -> bytes:
    return bytes(_generator(feed, "rss").rss_str(pretty=True))


def json_feed(feed: Feed) -> bytes:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""
    data: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": feed.title,
        "description": feed.subtitle,
        "home_page_url": feed.home_url,
        "feed_url": feed.self_urls["json"],
        "language": feed.language,
        "authors": [{"name": feed.author}],
        "items": [
            {
                "id": e.id,
                "url": e.url,
                "title": e.title,
                "content_text": e.summary,
                "date_published": e.published.astimezone(UTC).isoformat(),
                "date_modified": e.updated.astimezone(UTC).isoformat(),
                "tags": list(e.categories),
            }
            for e in feed.entries
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=1).encode()


def render(feed: Feed, fmt: FeedFormat) -> bytes:
    return {"atom": atom, "rss": rss, "json": json_feed}[fmt](feed)


def feed_response(request: Request, feed: Feed, fmt: FeedFormat) -> Response:
    """The feed with a weak ETag and Cache-Control; 304 when the client's copy is current."""
    body = render(feed, fmt)
    etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={FEED_MAX_AGE}"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


# Each feed is served in the three formats: (format, media type in the OpenAPI document, JSON
# schema type of the body, name in the route's summary).
_FORMATS: tuple[tuple[FeedFormat, str, str, str], ...] = (
    ("atom", "application/atom+xml", "string", "Atom 1.0"),
    ("rss", "application/rss+xml", "string", "RSS 2.0"),
    ("json", "application/feed+json", "object", "JSON Feed 1.1"),
)


def self_urls(request: Request, name: str, query: str = "") -> dict[str, str]:
    """Format → URL of the feed routed by :func:`add_routes` under ``name``, with ``query``."""
    return {fmt: str(request.url_for(f"{name}_{fmt}")) + query for fmt, *_ in _FORMATS}


def add_routes(
    router: APIRouter,
    path: str,
    name: str,
    summary: str,
    endpoint_for: Callable[[FeedFormat], Callable[..., Response]],
) -> None:
    """Route ``{path}.atom``, ``.rss`` and ``.json``, named ``{name}_{format}``.

    ``endpoint_for(format)`` gives the endpoint of one format; its parameters are the feed's
    query parameters, as in any FastAPI route.
    """
    for fmt, media, schema, label in _FORMATS:
        router.add_api_route(
            f"{path}.{fmt}",
            endpoint_for(fmt),
            methods=["GET"],
            name=f"{name}_{fmt}",
            response_class=Response,
            responses={
                200: {"description": "The feed.", "content": {media: {"schema": {"type": schema}}}},
                304: {"description": "Not modified (the `If-None-Match` ETag still matches)."},
            },
            summary=f"{summary} as {label}",
        )
