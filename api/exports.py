"""Downloads of every row (CSV without ``limit``) that never pin the database to a slow client.

Issue 15: a CSV download used to keep a pooled connection and its transaction open while the
client read, so eight slow clients made every endpoint 503. Now:

* the rows are read through a server-side cursor and written as CSV to a spool (memory up to
  8 MiB, then a temporary file, at most ``SOURCEWATCH_API_EXPORT_MAX_BYTES``); the connection
  goes back to the pool as soon as the last row is read, before the first byte is sent;
* the client then reads the spool at its own pace, for at most
  ``SOURCEWATCH_API_STREAM_MAX_SECONDS`` (then the connection is closed);
* a client that accepts gzip gets the download compressed once, as it is spooled
  (:func:`api.render.gzip_encoder`), not chunk by chunk as it is sent;
* one client address may have at most ``SOURCEWATCH_API_STREAMS_PER_CLIENT`` such downloads
  (spooling or streaming) at once; beyond that 429 with ``Retry-After``;
* and the API's connections have ``idle_in_transaction_session_timeout`` set
  (:data:`IDLE_IN_TRANSACTION_S`), so that no transaction is left open for long whatever
  happens.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from api.db import Database, Row, Statement
from api.errors import ApiError, InvalidParameter
from api.render import CSV_MEDIA_TYPE, MAX_AGE_DATA, csv_headers, csv_lines, gzip_encoder
from api.settings import ApiSettings

__all__ = [
    "IDLE_IN_TRANSACTION_S",
    "ExportSlots",
    "TooManyStreams",
    "spooled_csv",
    "spooled_lines",
]

IDLE_IN_TRANSACTION_S = 30  # the API's connections: no transaction idles longer
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # then a temporary file
# bytes per read of the spool as it is sent, each a hop to the thread pool: a year of hourly
# points without gzip (3 MB) in 12 reads, not 47 (bench/README.md, eighth round)
CHUNK = 256 * 1024
TUPLE_BATCH = 2000  # rows of text per chunk of an hourly download (Database.stream_tuples)
RETRY_AFTER_S = 10


class TooManyStreams(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            429,
            "too_many_streams",
            f"at most {limit} downloads of every row at once from one address; wait for one to"
            " finish, or page with limit",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


def _size(limit: int) -> str:
    """``limit`` bytes in MiB, or in KiB below one MiB (not "0 MiB")."""
    return f"{limit // 1048576} MiB" if limit >= 1048576 else f"{limit // 1024} KiB"


class ExportTooLarge(InvalidParameter):
    def __init__(self, limit: int) -> None:
        super().__init__(
            "limit",
            f"this download would be larger than {_size(limit)}: ask for a shorter"
            " period, page with limit, or use the daily dumps (/v1/dumps)",
            bare=True,
        )


class ExportSlots:
    """How many downloads each client address has open (thread-safe: endpoints run in the
    thread pool)."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> bool:
        with self._lock:
            if self._open.get(client, 0) >= self.per_client:
                return False
            self._open[client] = self._open.get(client, 0) + 1
            return True

    def release(self, client: str) -> None:
        with self._lock:
            left = self._open.get(client, 0) - 1
            if left > 0:
                self._open[client] = left
            else:
                self._open.pop(client, None)

    def open(self, client: str) -> int:
        with self._lock:
            return self._open.get(client, 0)


class _BoundedStream(StreamingResponse):
    """A streaming response cut off after ``max_seconds``; ``done`` runs once it ends."""

    def __init__(
        self,
        content: Iterator[bytes],
        *,
        max_seconds: float,
        done: Callable[[], None],
        **kw: object,
    ) -> None:
        super().__init__(content, **kw)  # type: ignore[arg-type]
        self.max_seconds = max_seconds
        self.done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            with anyio.move_on_after(self.max_seconds):
                await super().__call__(scope, receive, send)
        finally:
            self.done()


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    while chunk := spool.read(CHUNK):
        yield chunk


def spooled_csv(
    request: Request,
    db: Database,
    statement: Statement,
    convert: Callable[[Row], BaseModel | Mapping[str, Any]],
    model: type[BaseModel],
    *,
    filename: str,
    max_age: int = MAX_AGE_DATA,
) -> StreamingResponse:
    """Every row of ``statement`` as CSV, spooled, then streamed without a connection."""
    return spooled_lines(
        request,
        db,
        statement,
        lambda rows: csv_lines(model, map(convert, rows)),
        filename=filename,
        max_age=max_age,
    )


def spooled_lines(
    request: Request,
    db: Database,
    statement: Statement,
    lines: Callable[[Iterator[Any]], Iterable[bytes]],
    *,
    filename: str,
    max_age: int = MAX_AGE_DATA,
    tuples: bool = False,
    timezone: str | None = None,
) -> StreamingResponse:
    """:func:`spooled_csv` with the CSV written by ``lines`` from the rows (a writer
    specialised to one kind of row, e.g. :func:`api.series.hour_csv_lines`, which takes them
    as tuples: ``tuples``), read in a transaction whose TimeZone is ``timezone`` if given."""
    settings: ApiSettings = request.app.state.settings
    slots: ExportSlots = request.app.state.export_slots
    client = request.client.host if request.client else "unknown"
    if not slots.acquire(client):
        raise TooManyStreams(slots.per_client)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (closed in done)

    def done() -> None:
        spool.close()
        slots.release(client)

    headers = csv_headers(filename, max_age)
    compressor = gzip_encoder(request, headers)
    try:
        rows = (
            db.stream_tuples(statement, batch=TUPLE_BATCH, timezone=timezone)
            if tuples
            else db.stream(statement, timezone=timezone)
        )
        written = 0
        with contextlib.closing(rows):
            for chunk in lines(rows):
                written += len(chunk)
                if written > settings.api_export_max_bytes:
                    raise ExportTooLarge(settings.api_export_max_bytes)
                spool.write(chunk if compressor is None else compressor.compress(chunk))
        if compressor is not None:
            spool.write(compressor.flush())
        spool.seek(0)
    except BaseException:
        done()
        raise
    return _BoundedStream(
        _chunks(spool),
        max_seconds=settings.api_stream_max_seconds,
        done=done,
        media_type=CSV_MEDIA_TYPE,
        headers=headers,
    )
