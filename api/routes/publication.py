"""``/v1/publication``: the hash-chained publication log, its signed daily roots, the public
keys that verify them, and a verification of the whole log by the service itself.

Anyone can check the log without trusting the service: save the keys once, fetch the entries
and roots, and recompute (the byte layouts are documented in
:mod:`schemas.disclosure.ledger`)::

    content_sha256 = SHA-256(canonical)
    entry_hash     = SHA-256("sourcewatch-log-v1\\n{seq}\\n{logged_at}\\n{action}\\n"
                             "{prev_hash hex}\\n{content_sha256 hex}")
    signature      = Ed25519 over "sourcewatch-root-v1\\n{day}\\n{last_seq}\\n{root_hash hex}"
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from psycopg import sql
from pydantic import BaseModel, Field, StringConstraints

from api.db import Database, Row, Statement, get_database
from api.errors import ERROR_RESPONSES, InvalidParameter, ServiceUnavailable
from api.params import MAX_LIMIT, Format, Pagination, output_format, pagination, reject_nul
from api.queries.common import limit_offset
from api.render import CSV_RESPONSE, MAX_AGE_DATA, MAX_AGE_REFERENCE, json_response
from api.responses import Instant, Page, instant
from api.routes.common import list_response
from schemas.disclosure import ledger, verification
from schemas.disclosure.keys import public_key_from_raw, public_key_pem
from schemas.disclosure.pins import PinError, PinnedRoot, parse_pins

__all__ = ["VERIFY_CACHE_S", "router"]

router = APIRouter(
    prefix="/v1/publication",
    tags=["publication"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(reject_nul)],
)

VERIFY_CACHE_S = 60.0  # a verification recomputes the whole log: at most one a minute
MAX_SEQ = 2**63 - 1
DEFAULT_LOG_LIMIT = 100
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: CSV_RESPONSE[304]}


# --- Models ---------------------------------------------------------------------------------


class LogEntry(BaseModel):
    """One publication or withdrawal of a record version, as hashed into the chain."""

    seq: int = Field(description="Position in the log, from 1, without gaps.")
    logged_at: Instant = Field(
        description="The record version's published_at (publish) or withdrawn_at (withdraw)."
    )
    day: date = Field(description="Asia/Shanghai day whose signed root covers the entry.")
    record_id: int = Field(description="Id of the record version (one row per version).")
    record_key: str
    version: int
    action: Literal["publish", "withdraw"]
    form: int = Field(description="Canonical form: 2 hashes due_on and names no staff; 1 before.")
    withheld: Literal["withdrawn", "staff_names"] | None = Field(
        description="Why `canonical` is not shown: `withdrawn` — the version was withdrawn, "
        "only its hash stays public (`content` is null too); `staff_names` — a form-1 entry, "
        "whose canonical text named staff users (`content` is shown without the names). "
        "Null: shown in full."
    )
    canonical: str | None = Field(
        description="The exact RFC 8785 canonical JSON that was hashed (hash its UTF-8 bytes); "
        "null when withheld."
    )
    content: dict[str, Any] | None = Field(
        description="The same canonical content, as JSON; null for a withdrawn version."
    )
    content_sha256: str = Field(
        description="SHA-256 of `canonical`, hex: what entry_hash covers, shown in any case."
    )
    prev_hash: str = Field(description="entry_hash of the previous entry (zeros for entry 1).")
    entry_hash: str = Field(description="SHA-256 over the documented entry layout, hex.")


class LogMeta(BaseModel):
    after_seq: int = Field(description="Entries after this seq were asked for.")
    limit: int = Field(description="Most entries per page.")
    last_seq: int | None = Field(description="The newest entry of the log; null when empty.")
    next: str | None = Field(None, description="URL of the next page; null on the last one.")


class LogPage(BaseModel):
    meta: LogMeta
    results: list[LogEntry]


class SignedRoot(BaseModel):
    """The signed root of one Asia/Shanghai day: the entry_hash of the day's last entry."""

    day: date
    last_seq: int = Field(description="Seq of the day's last entry.")
    entry_count: int = Field(description="Entries logged that day (up to last_seq).")
    root_hash: str = Field(description="entry_hash of entry last_seq, hex.")
    key_id: str = Field(description="The signing key (see /v1/publication/keys).")
    algorithm: Literal["ed25519"] = "ed25519"
    signed_message: str = Field(description="The exact text the signature is over (UTF-8).")
    signature: str = Field(description="Ed25519 signature, hex (64 bytes).")
    signed_at: Instant


class PublicKey(BaseModel):
    key_id: str = Field(description="First 16 hex digits of SHA-256 of the raw public key.")
    algorithm: Literal["ed25519"] = "ed25519"
    public_key: str = Field(description="The raw 32-byte public key, hex.")
    public_key_pem: str = Field(description="The public key, PEM (SubjectPublicKeyInfo).")
    created_at: Instant
    retired_at: Instant | None = Field(description="Signs no new roots since; null: in use.")


class Failure(BaseModel):
    kind: Literal["entry", "root", "record"] = Field(
        description="An entry of the log, a signed root, or a record version published or "
        "withdrawn without its entry."
    )
    reason: str
    seq: int | None
    day: date | None
    record_id: int | None
    record_key: str | None


class Verification(BaseModel):
    """The service's own recomputation of the log (cached for 60 s), and the roots you pinned."""

    ok: bool
    summary: str
    entries_checked: int
    roots_checked: int
    pins_checked: int = Field(0, description="Your pinned roots (`pin=`) the log leads to.")
    unsigned_entries: int = Field(description="Entries after the newest signed root.")
    last_seq: int | None
    first_failure: Failure | None = Field(description="The first thing that does not match.")
    trusted_key_ids: list[str] = Field(description="Keys roots were checked against.")
    checked_at: Instant


# --- Log ------------------------------------------------------------------------------------


_STAFF_NAMES = ("published_by", "withdrawn_by")


def _log_entry(e: ledger.LedgerEntry, withdrawn: bool) -> LogEntry:
    form = e.form
    withheld: Literal["withdrawn", "staff_names"] | None = None
    canonical: str | None = e.canonical.decode()
    content: dict[str, Any] | None = e.content()
    if withdrawn:
        withheld, canonical, content = "withdrawn", None, None
    elif form == 1 and content is not None:
        withheld, canonical = "staff_names", None
        content = {k: v for k, v in content.items() if k not in _STAFF_NAMES}
    return LogEntry(
        seq=e.seq,
        logged_at=instant(e.logged_at),
        day=e.day,
        record_id=e.record_id,
        record_key=e.record_key,
        version=e.version,
        action=e.action,
        form=form,
        withheld=withheld,
        canonical=canonical,
        content=content,
        content_sha256=e.content_sha256.hex(),
        prev_hash=e.prev_hash.hex(),
        entry_hash=e.entry_hash.hex(),
    )


@router.get(
    "/log",
    response_model=LogPage,
    responses=_NOT_MODIFIED,
    summary="Entries of the publication log",
)
def publication_log(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    after_seq: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="Only entries after this seq (default 0).")
    ] = 0,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LIMIT, description="Entries per page, 1–1000 (default 100)."),
    ] = DEFAULT_LOG_LIMIT,
) -> Response:
    """Every publication and withdrawal of a record version in seq order, with the canonical
    content that was hashed and the hashes; page on with `meta.next` (`after_seq`). The
    content of a withdrawn version is withheld (its hash stays), and no entry names staff."""

    def read(conn: Any) -> tuple[list[ledger.LedgerEntry], int | None, set[int]]:
        found = ledger.entries(conn, after_seq=after_seq, limit=limit)
        last = conn.execute("SELECT max(seq) AS last FROM publication_log").fetchone()
        withdrawn = ledger.withdrawn_versions(conn, [e.record_id for e in found])
        return found, None if last is None or last[0] is None else int(last[0]), withdrawn

    found, last_seq, withdrawn = db.call(read)
    next_url = None
    if found and last_seq is not None and found[-1].seq < last_seq:
        next_url = str(request.url.include_query_params(after_seq=found[-1].seq, limit=limit))
    meta = LogMeta(after_seq=after_seq, limit=limit, last_seq=last_seq, next=next_url)
    page = LogPage(meta=meta, results=[_log_entry(e, e.record_id in withdrawn) for e in found])
    return json_response(request, page, max_age=MAX_AGE_DATA)


# --- Roots and keys -------------------------------------------------------------------------


def _roots(limit: int | None, offset: int) -> Statement:
    return Statement(
        sql.SQL(
            "SELECT day, last_seq, root_hash, entry_count, key_id, signature, signed_at "
            "FROM publication_roots ORDER BY day {}"
        ).format(limit_offset(limit, offset))
    )


def _root(row: Row) -> SignedRoot:
    root_hash = bytes(row["root_hash"])
    message = ledger.root_message(row["day"], int(row["last_seq"]), root_hash)
    return SignedRoot(
        day=row["day"],
        last_seq=int(row["last_seq"]),
        entry_count=int(row["entry_count"]),
        root_hash=root_hash.hex(),
        key_id=row["key_id"],
        signed_message=message.decode(),
        signature=bytes(row["signature"]).hex(),
        signed_at=instant(row["signed_at"]),
    )


@router.get(
    "/roots",
    response_model=Page[SignedRoot],
    responses=CSV_RESPONSE,
    summary="Signed daily roots of the publication log",
)
def publication_roots(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
) -> Response:
    """One root per Asia/Shanghai day with entries, oldest first: the entry_hash of the day's
    last entry, signed with Ed25519 over `signed_message`. Keep copies: a root that later
    differs from yours, or a log that no longer leads to it, shows the log was rewritten."""
    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=Statement(sql.SQL("SELECT count(*) AS found FROM publication_roots")),
        select=_roots,
        convert=_root,
        model=SignedRoot,
        filename="publication-roots.csv",
    )


def _keys(limit: int | None, offset: int) -> Statement:
    return Statement(
        sql.SQL(
            "SELECT key_id, public_key, created_at, retired_at FROM signing_keys "
            "ORDER BY created_at, key_id {}"
        ).format(limit_offset(limit, offset))
    )


def _key(row: Row) -> PublicKey:
    raw = bytes(row["public_key"])
    return PublicKey(
        key_id=row["key_id"],
        public_key=raw.hex(),
        public_key_pem=public_key_pem(public_key_from_raw(raw)),
        created_at=instant(row["created_at"]),
        retired_at=instant(row["retired_at"]) if row["retired_at"] is not None else None,
    )


@router.get(
    "/keys",
    response_model=Page[PublicKey],
    responses=CSV_RESPONSE,
    summary="Public keys that verify the roots",
)
def publication_keys(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
) -> Response:
    """The Ed25519 public keys of the service, oldest first. Save them (e.g. as PEM files for
    `sourcewatch verify --public-key`): a root signed by a key you did not save is suspect."""
    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=Statement(sql.SQL("SELECT count(*) AS found FROM signing_keys")),
        select=_keys,
        convert=_key,
        model=PublicKey,
        filename="publication-keys.csv",
        max_age=MAX_AGE_REFERENCE,
    )


# --- Verification ---------------------------------------------------------------------------


@dataclass
class _Cached:
    at: float
    ttl: float
    result: Verification


_cache_lock = threading.Lock()  # guards the cached result
_run_lock = threading.Lock()  # one verification at a time, per process


def _failure(f: verification.VerifyFailure) -> Failure:
    return Failure(
        kind=f.kind,
        reason=f.reason,
        seq=f.seq,
        day=f.day,
        record_id=f.record_id,
        record_key=f.record_key,
    )


def _verification(report: verification.VerifyReport) -> Verification:
    failure = None if report.first_failure is None else _failure(report.first_failure)
    return Verification(
        ok=report.ok,
        summary=report.summary(),
        entries_checked=report.entries_checked,
        roots_checked=report.roots_checked,
        unsigned_entries=report.unsigned_entries,
        last_seq=report.last_seq,
        first_failure=failure,
        trusted_key_ids=list(report.trusted_key_ids),
        checked_at=instant(datetime.now(UTC)),
    )


MAX_PINS = 100
PIN_PATTERN = (
    r"^(19|2[01])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]):[1-9][0-9]{0,17}:[0-9a-f]{64}$"
)


def _pins(values: list[str]) -> list[PinnedRoot]:
    if len(values) > MAX_PINS:
        raise InvalidParameter("pin", f"at most {MAX_PINS} pinned roots per request")
    try:
        return parse_pins("\n".join(v.replace(":", " ") for v in values), "pin")
    except PinError as exc:
        raise InvalidParameter("pin", str(exc).removeprefix("pin: ")) from None


def _with_pins(db: Database, result: Verification, pinned: list[PinnedRoot]) -> Verification:
    """The cached verification and, now, whether the log leads to each pinned root."""

    def check(conn: Any) -> verification.VerifyFailure | None:
        found, last = ledger.entry_hashes(conn, [p.last_seq for p in pinned])
        signed = {r.day: r for r in ledger.roots(conn)}
        return verification.check_pins(pinned, found, signed, last)

    failure = db.call(check)
    if failure is None:
        return result.model_copy(update={"pins_checked": len(pinned)})
    return result.model_copy(
        update={
            "ok": False,
            "summary": f"FAILED: {failure.describe()}",
            "first_failure": result.first_failure or _failure(failure),
        }
    )


@router.get(
    "/verify",
    response_model=Verification,
    responses=_NOT_MODIFIED,
    summary="Verify the whole publication log",
)
def publication_verify(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    pin: Annotated[
        list[Annotated[str, StringConstraints(pattern=PIN_PATTERN)]],
        Query(
            description="A root you saved earlier, `YYYY-MM-DD:last_seq:root_hash` (from "
            "/v1/publication/roots); repeatable, at most 100. The log must still lead to it.",
        ),
    ] = [],  # noqa: B006 (FastAPI copies the default)
) -> Response:
    """Recomputes every entry (chain, hashes, and the content from the records as they are
    now), every root and its signature against the service's keys, that every completed day
    has its signed root, and that every published record version is in the log; names the
    first thing that does not match. The result is cached for 60 s, or ten times as long as
    the verification took; your `pin=` roots are compared with the log on every request. An
    independent check uses your own saved keys and roots (`sourcewatch verify --public-key
    … --pinned …`)."""
    for value in pin:
        if not re.fullmatch(PIN_PATTERN, value):
            raise InvalidParameter("pin", f"{value[:80]!r} is not YYYY-MM-DD:last_seq:root_hash")
    pinned = _pins(pin)
    state = request.app.state
    with _cache_lock:
        cached: _Cached | None = getattr(state, "publication_verification", None)
    if cached is None or time.monotonic() - cached.at >= cached.ttl:
        # One run at a time; meanwhile others get the previous result (or a 503 to retry),
        # so a long log never ties up the server's threads.
        if _run_lock.acquire(blocking=False):
            try:
                started = time.monotonic()
                with db.connection(snapshot=True) as conn:
                    report = verification.verify(conn)
                took = time.monotonic() - started
                # A long verification is repeated less often: at most 10 % of the time.
                cached = _Cached(
                    time.monotonic(), max(VERIFY_CACHE_S, 10 * took), _verification(report)
                )
                with _cache_lock:
                    state.publication_verification = cached
            finally:
                _run_lock.release()
        elif cached is None:
            raise ServiceUnavailable("the publication log is being verified; try again shortly")
    age = time.monotonic() - cached.at
    result = _with_pins(db, cached.result, pinned) if pinned else cached.result
    return json_response(request, result, max_age=max(0, int(cached.ttl - age)))
