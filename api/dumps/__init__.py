"""Bulk downloads: one local calendar day of data as files, partitioned by enterprise.

For a day (Asia/Shanghai) :func:`dump_day` writes::

    <out>/<YYYY-MM-DD>/enterprise=<id>/hourly.csv       hourly means, valid and invalid
    <out>/<YYYY-MM-DD>/enterprise=<id>/hourly.parquet   the same rows
    <out>/<YYYY-MM-DD>/enterprise=<id>/raw.csv.gz       the measurements as sent, with flags
    <out>/<YYYY-MM-DD>/enterprise=<id>/raw.parquet      the same rows
    <out>/<YYYY-MM-DD>/enterprise=<id>/completeness.csv      the day's transmission and
    <out>/<YYYY-MM-DD>/enterprise=<id>/completeness.parquet  validity rates per outlet
    <out>/<YYYY-MM-DD>/publication-roots.json           the publication log's signed roots
    <out>/<YYYY-MM-DD>/manifest.json                    files, sizes, rows, SHA-256, schemas
    <out>/<YYYY-MM-DD>/SHA256SUMS                       ``sha256sum -c`` format, every file

Hourly means are those of the hours that had ended when the dump was written (``now``,
:mod:`schemas.core.periods`): a day dumped before it ends (``--day`` today) leaves out its
running hour rather than publish the validity of its data so far ("26 valid minutes of 60") as
if it were final; the dump of the day once it has ended, as cron writes it, has every hour.

An enterprise gets a partition when one of its outlets has an hourly mean or a measurement that
starts in the day. Everything is read in one REPEATABLE READ snapshot, so the files agree with
each other and with the manifest. Rows stream from a server-side cursor: the CSV is written as
they arrive, the Parquet file one row group per batch, so a big day never sits in memory (the
completeness rows come from :func:`schemas.completeness.rates.rates`, one batch per outlet).

Cells: times in UTC (``…Z``) and local (``…+08:00``) side by side; decimals as stored in the
CSV (exact) and as float64 in Parquet; booleans ``true``/``false``; jsonb cells as compact
JSON; NULL as an empty cell.

Publication is atomic and idempotent: the day is written into a temporary folder next to it,
then swapped in with one ``renameat2(RENAME_EXCHANGE)`` (two renames where the system has no
such call); re-running a day replaces it whole. :func:`dump_file` is the only way the API maps
a request onto a file: a path must be listed in the day's manifest.
"""

from __future__ import annotations

from api.dumps.columns import (
    CHECKSUMS,
    FORMAT,
    LICENCE,
    MANIFEST,
    TABLES,
    Column,
    day_bounds,
)
from api.dumps.reader import ServedFile, available_days, dump_file, read_manifest
from api.dumps.roots import ROOTS
from api.dumps.writer import DumpedFile, DumpError, DumpManifest, dump_day

__all__ = [
    "CHECKSUMS",
    "FORMAT",
    "LICENCE",
    "MANIFEST",
    "ROOTS",
    "TABLES",
    "Column",
    "DumpError",
    "DumpManifest",
    "DumpedFile",
    "ServedFile",
    "available_days",
    "day_bounds",
    "dump_day",
    "dump_file",
    "read_manifest",
]
