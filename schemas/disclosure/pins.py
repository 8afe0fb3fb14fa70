"""Pinned roots: daily roots of the publication log saved outside the database, against which
the log must still verify (:func:`schemas.disclosure.verification.verify`) and which the
signer must extend (:func:`schemas.disclosure.verification.sign_roots`).

Whoever can write the database could empty the log and build another one; roots saved earlier
by someone else (a citizen, a mirror, the signer itself) are what such a log cannot match. A
pinned root is ``(day, last_seq, root_hash)``. :func:`parse_pins` reads them from

* text, one root per line: ``2026-11-27 1234 <64 hex digits>`` (spaces or tabs; ``#``
  comments and blank lines ignored) — the format :func:`pin_line` writes, and the format of
  the signer's own record (:func:`signed_roots_file`);
* the JSON of the public roots fetched earlier: the page of ``GET /v1/publication/roots``
  (``{"results": [...]}``), a bare list, or ``publication-roots.json`` of the daily dumps
  (``{"roots": [...]}``); each object needs ``day``, ``last_seq`` and ``root_hash``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

__all__ = [
    "PinError",
    "PinnedRoot",
    "append_pins",
    "parse_pins",
    "pin_line",
    "read_pins",
    "signed_roots_file",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")


class PinError(Exception):
    """A pinned-roots file cannot be read, or two pins of one day disagree."""


@dataclass(frozen=True, slots=True)
class PinnedRoot:
    day: date
    last_seq: int
    root_hash: bytes

    def describe(self) -> str:
        return f"the root of {self.day} (entry {self.last_seq}, {self.root_hash.hex()[:16]}…)"


def pin_line(day: date, last_seq: int, root_hash: bytes) -> str:
    """One pinned root as a line of text (without the newline)."""
    return f"{day.isoformat()}\t{last_seq}\t{root_hash.hex()}"


def _pin(day: Any, last_seq: Any, root_hash: Any, where: str) -> PinnedRoot:
    try:
        parsed_day = date.fromisoformat(str(day))
        seq = int(last_seq)
        digest = str(root_hash).strip().lower()
    except (TypeError, ValueError):
        raise PinError(f"{where}: not a (day, last_seq, root_hash) root") from None
    if isinstance(last_seq, bool) or seq < 1 or not _HEX64.fullmatch(digest):
        raise PinError(f"{where}: last_seq must be ≥ 1 and root_hash 64 hex digits")
    return PinnedRoot(parsed_day, seq, bytes.fromhex(digest))


def _from_json(data: Any, source: str) -> list[PinnedRoot]:
    if isinstance(data, dict):
        data = data.get("results", data.get("roots"))
    if not isinstance(data, list):
        raise PinError(f"{source}: JSON pins are a list of roots, or an object with 'results'")
    pins = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise PinError(f"{source}: root {i + 1} is not an object")
        pins.append(_pin(item.get("day"), item.get("last_seq"), item.get("root_hash"), source))
    return pins


def parse_pins(text: str, source: str = "pins") -> list[PinnedRoot]:
    """The roots in ``text`` (lines or JSON, see the module), by day; pins repeated alike are
    kept once, two different pins of one day are an error."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            pins = _from_json(json.loads(stripped), source)
        except json.JSONDecodeError as exc:
            raise PinError(f"{source}: not JSON ({exc.msg}, line {exc.lineno})") from None
    else:
        pins = []
        for n, line in enumerate(text.splitlines(), 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) != 3:
                raise PinError(f"{source}, line {n}: give 'YYYY-MM-DD last_seq root_hash'")
            pins.append(_pin(fields[0], fields[1], fields[2], f"{source}, line {n}"))
    return _unique(pins, source)


def _unique(pins: Iterable[PinnedRoot], source: str) -> list[PinnedRoot]:
    by_day: dict[date, PinnedRoot] = {}
    for pin in pins:
        seen = by_day.setdefault(pin.day, pin)
        if seen != pin:
            raise PinError(f"{source}: two different roots of {pin.day}")
    return [by_day[d] for d in sorted(by_day)]


def read_pins(paths: Sequence[Path]) -> list[PinnedRoot]:
    """The roots pinned in every file (a missing file is an error)."""
    pins: list[PinnedRoot] = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PinError(f"cannot read {path}: {exc}") from None
        pins.extend(parse_pins(text, str(path)))
    return _unique(pins, "the pinned roots")


def signed_roots_file(key_file: Path) -> Path:
    """Where the signer records every root it signs: beside its private key,
    ``<key file>.roots`` (keep it with the key; it is public data)."""
    return key_file.with_name(key_file.name + ".roots")


def append_pins(path: Path, pins: Iterable[PinnedRoot]) -> None:
    """Add roots to a pinned-roots file, flushed to disk."""
    lines = "".join(pin_line(p.day, p.last_seq, p.root_hash) + "\n" for p in pins)
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(lines)
        f.flush()
        os.fsync(f.fileno())
