"""Reading published days for the API: the days available, their manifests, and the only
mapping from a requested path onto a file (it must be listed in the manifest)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from api.dumps.columns import (
    CHECKSUMS,
    DAY_NAME,
    MANIFEST,
)

# --- Reading (for the API) ----------------------------------------------------------------------

MEDIA_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".gz": "application/gzip",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    "": "text/plain; charset=utf-8",  # SHA256SUMS
}


def available_days(out: Path) -> list[date]:
    """Days with a published dump under ``out``, newest first."""
    try:
        entries = list(out.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    days: list[date] = []
    for entry in entries:
        if DAY_NAME.fullmatch(entry.name) and (entry / MANIFEST).is_file():
            try:
                days.append(date.fromisoformat(entry.name))
            except ValueError:
                continue
    return sorted(days, reverse=True)


def read_manifest(out: Path, day: date) -> dict[str, Any] | None:
    """The day's manifest, or None when there is no (readable) dump of that day."""
    try:
        data = json.loads((out / day.isoformat() / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True, slots=True)
class ServedFile:
    path: Path
    sha256: str
    media_type: str


def dump_file(out: Path, day: date, relative: str) -> ServedFile | None:
    """The file of the day's dump named ``relative``, when the manifest lists it (a data file,
    publication-roots.json) or it is the manifest or SHA256SUMS; None for anything else, so no
    request reaches another file."""
    manifest = read_manifest(out, day)
    if manifest is None:
        return None
    listed: dict[str, str | None] = {MANIFEST: None, CHECKSUMS: None}
    roots = manifest.get("publication_roots")
    for entry in [*manifest.get("files", ()), roots]:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            listed[entry["path"]] = str(entry.get("sha256", ""))
    if relative not in listed:
        return None
    folder = (out / day.isoformat()).resolve()
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        return None
    sha256 = listed[relative] or _digest_plain(path)
    suffix = "" if relative == CHECKSUMS else path.suffix
    return ServedFile(path, sha256, MEDIA_TYPES.get(suffix, "application/octet-stream"))


def _digest_plain(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
