"""``sourcewatch verify --from URL``: check a sourcewatch service's publication log from its
public API alone, with a public key and roots saved earlier — what a citizen can do without
the database.

It reads every page of ``/v1/publication/log`` and ``/v1/publication/roots`` and checks, with
the functions ``sourcewatch verify`` uses on the database (:mod:`schemas.disclosure.verification`):
the chain (no gap, each ``prev_hash``, each ``entry_hash`` recomputed from the documented
layout), each shown canonical text against its ``content_sha256`` (a withdrawn version's or a
form-1 entry's text is withheld: its hash is still chained), every root (the ``entry_hash`` of
its day's last entry, the day's count, the Ed25519 signature with a key *you* saved), that the
log leads to every pinned root, and that every completed day has its root. What it cannot
check is the records themselves against the log (that needs the database).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.disclosure.ledger import ZERO_HASH, LedgerEntry, Root
from schemas.disclosure.pins import PinnedRoot
from schemas.disclosure.verification import (
    DEFAULT_SIGN_GRACE,
    VerifyFailure,
    VerifyReport,
    chain_failure,
    check_complete,
    check_pins,
    check_roots,
)

__all__ = ["Fetch", "RemoteError", "http_fetch", "verify_remote"]

Fetch = Callable[[str, Mapping[str, str | int]], Any]
"""(path, query parameters) → the decoded JSON answer."""

_PAGE = 1000
_TIMEOUT_S = 30.0


class RemoteError(Exception):
    """The service could not be read, or answered something that is not its documented JSON."""


def http_fetch(base_url: str) -> Fetch:
    """A :data:`Fetch` that GETs ``base_url`` + path over HTTP(S)."""
    base = base_url.rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        raise RemoteError(f"{base_url!r}: give the service's http:// or https:// address")

    def fetch(path: str, params: Mapping[str, str | int]) -> Any:
        url = f"{base}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": "sourcewatch-verify"}
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as answer:
                return json.load(answer)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise RemoteError(f"GET {url}: {exc}") from exc

    return fetch


def _hex(value: Any, size: int, what: str) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raise RemoteError(f"{what} is not hex") from None
    if len(raw) != size:
        raise RemoteError(f"{what} is not {size} bytes")
    return raw


def _entry(item: Mapping[str, Any]) -> tuple[LedgerEntry, bool]:
    """The entry, and whether its canonical text is shown."""
    try:
        canonical = item.get("canonical")
        logged_at = datetime.fromisoformat(str(item["logged_at"]["utc"]))
        entry = LedgerEntry(
            seq=int(item["seq"]),
            logged_at=logged_at.astimezone(UTC),
            record_id=int(item["record_id"]),
            record_key=str(item["record_key"]),
            version=int(item["version"]),
            action=item["action"],
            canonical=b"" if canonical is None else str(canonical).encode(),
            content_sha256=_hex(item["content_sha256"], 32, "content_sha256"),
            prev_hash=_hex(item["prev_hash"], 32, "prev_hash"),
            entry_hash=_hex(item["entry_hash"], 32, "entry_hash"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RemoteError(f"a log entry is not as documented ({exc})") from None
    return entry, canonical is not None


def _root(item: Mapping[str, Any]) -> Root:
    try:
        return Root(
            day=date.fromisoformat(str(item["day"])),
            last_seq=int(item["last_seq"]),
            root_hash=_hex(item["root_hash"], 32, "root_hash"),
            entry_count=int(item["entry_count"]),
            key_id=str(item["key_id"]),
            signature=_hex(item["signature"], 64, "signature"),
            signed_at=datetime.fromisoformat(str(item["signed_at"]["utc"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RemoteError(f"a root is not as documented ({exc})") from None


def _roots(fetch: Fetch) -> list[Root]:
    found: list[Root] = []
    page = 1
    while True:
        body = fetch("/v1/publication/roots", {"limit": _PAGE, "page": page})
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise RemoteError("/v1/publication/roots did not answer a page of roots")
        found.extend(_root(r) for r in results)
        if not results or not body.get("meta", {}).get("next"):
            return found
        page += 1


def verify_remote(
    fetch: Fetch,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    *,
    pinned: Sequence[PinnedRoot] = (),
    now: datetime | None = None,
    sign_grace: timedelta = DEFAULT_SIGN_GRACE,
) -> VerifyReport:
    """Check the log the service publishes (see the module); the first thing that does not
    match. ``trusted_keys``: the keys you saved (key id → public key). Raises
    :class:`RemoteError` when the service cannot be read."""
    checked: dict[int, tuple[bytes, date]] = {}
    expected_seq, expected_prev, failure = 1, ZERO_HASH, None
    while failure is None:
        body = fetch("/v1/publication/log", {"after_seq": expected_seq - 1, "limit": _PAGE})
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise RemoteError("/v1/publication/log did not answer a page of entries")
        for item in results:
            entry, shown = _entry(item)
            failure = chain_failure(entry, expected_seq, expected_prev, content=shown)
            if failure is not None:
                break
            checked[entry.seq] = (entry.entry_hash, entry.day)
            expected_seq, expected_prev = entry.seq + 1, entry.entry_hash
        if not results:
            break
    last_seq = max(checked, default=None)
    key_ids = tuple(sorted(trusted_keys))
    if failure is not None:
        return VerifyReport(False, len(checked), 0, failure, last_seq, trusted_key_ids=key_ids)
    signed = {r.day: r for r in _roots(fetch)}
    root_failure, n_roots, covered = check_roots(signed.values(), checked, trusted_keys)
    failure = root_failure or check_pins(pinned, checked, signed, max(checked, default=0))
    if failure is None:
        failure = check_complete(checked, signed, now or datetime.now(UTC), sign_grace)
    return _report(failure, checked, n_roots, covered, key_ids, len(pinned))


def _report(
    failure: VerifyFailure | None,
    checked: Mapping[int, tuple[bytes, date]],
    n_roots: int,
    covered: int,
    key_ids: tuple[str, ...],
    pins: int,
) -> VerifyReport:
    return VerifyReport(
        failure is None,
        len(checked),
        n_roots,
        failure,
        max(checked, default=None),
        sum(1 for seq in checked if seq > covered),
        key_ids,
        pins_checked=pins if failure is None else 0,
    )
