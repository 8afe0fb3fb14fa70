"""Disclosure records: the public view (published versions, or what was published at a past
time, from the publication log) and the staff view (every version, drafts included).

The public view never shows drafts, approvals or who reviewed what; it shows each version's
formed and published times, its deadline, corrections with their reasons and withdrawals with
theirs — but not the content or the files of a withdrawn version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset, where

__all__ = [
    "FEED_SIZE",
    "PUBLIC_STATUSES",
    "DisclosureFilter",
    "attachment",
    "categories",
    "comparisons",
    "count",
    "feed_entries",
    "one",
    "record_types",
    "select",
    "versions",
]

PUBLIC_STATUSES = ("published", "superseded", "withdrawn")

_COLUMNS = sql.SQL(
    "r.id, r.record_key, r.version, r.record_type, r.category, r.enterprise_id, r.outlet_id,"
    " r.title_zh, r.title_en, r.content, r.origin, r.status, r.formed_at, r.due_on,"
    " r.published_at, r.supersedes, r.correction_reason, r.withdrawn_at, r.withdrawn_reason,"
    " c.name_zh AS category_name_zh, c.name_en AS category_name_en,"
    " t.name_zh AS type_name_zh, t.name_en AS type_name_en,"
    " e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en, e.district,"
    " (SELECT coalesce(jsonb_agg(jsonb_build_object('filename', a.filename, 'media_type',"
    " a.media_type, 'size_bytes', a.size_bytes, 'sha256', encode(a.sha256, 'hex'))"
    " ORDER BY a.sha256), '[]') FROM disclosure_attachments a WHERE a.record_id = r.id)"
    " AS attachments,"
    " (SELECT jsonb_build_object('seq', l.seq, 'entry_hash', encode(l.entry_hash, 'hex'))"
    " FROM publication_log l WHERE l.record_id = r.id AND l.action = 'publish'"
    " ORDER BY l.seq LIMIT 1) AS log"
)
_STAFF_COLUMNS = sql.SQL(
    ", r.created_at, r.created_by, r.updated_at, r.updated_by, r.approved_at, r.approved_by,"
    " r.published_by, r.withdrawn_by"
)
_FROM = sql.SQL(
    "FROM disclosure_records r"
    " JOIN disclosure_categories c ON c.code = r.category"
    " JOIN disclosure_record_types t ON t.code = r.record_type"
    " LEFT JOIN enterprises e ON e.id = r.enterprise_id"
)
# What was public at %(as_of)s: per record, the version of its latest log entry up to then,
# if that entry published it (a withdrawal takes the record off the list).
_AS_OF = sql.SQL(
    "r.id IN (SELECT record_id FROM (SELECT DISTINCT ON (record_key) record_id, action"
    " FROM publication_log WHERE logged_at <= %(as_of)s ORDER BY record_key, seq DESC) x"
    " WHERE x.action = 'publish')"
)


@dataclass(frozen=True, slots=True)
class DisclosureFilter:
    category: str | None = None
    record_type: str | None = None
    enterprise_id: int | None = None
    published_since: datetime | None = None
    published_until: datetime | None = None
    as_of: datetime | None = None
    status: str | None = None  # staff view: one status; public view: ignored
    staff: bool = False


def _where(f: DisclosureFilter) -> tuple[sql.Composable, dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for name, column in (
        ("category", "r.category"),
        ("record_type", "r.record_type"),
        ("enterprise_id", "r.enterprise_id"),
    ):
        value = getattr(f, name)
        if value is not None:
            conditions.append(sql.SQL("{} = {}").format(sql.SQL(column), sql.Placeholder(name)))
            params[name] = value
    if f.published_since is not None:
        conditions.append(sql.SQL("r.published_at >= %(since)s"))
        params["since"] = f.published_since
    if f.published_until is not None:
        conditions.append(sql.SQL("r.published_at < %(until)s"))
        params["until"] = f.published_until
    if f.staff:
        if f.status is not None:
            conditions.append(sql.SQL("r.status = %(status)s"))
            params["status"] = f.status
    elif f.as_of is not None:
        conditions.append(_AS_OF)
        params["as_of"] = f.as_of
    else:
        conditions.append(sql.SQL("r.status = 'published'"))
    return where(conditions), params


def count(f: DisclosureFilter) -> Statement:
    condition, params = _where(f)
    return Statement(sql.SQL("SELECT count(*) AS found {} {}").format(_FROM, condition), params)


def select(f: DisclosureFilter, limit: int | None, offset: int) -> Statement:
    condition, params = _where(f)
    columns = _COLUMNS + _STAFF_COLUMNS if f.staff else _COLUMNS
    order = "r.updated_at DESC, r.id DESC" if f.staff else "r.published_at DESC, r.id DESC"
    query = sql.SQL("SELECT {} {} {} ORDER BY {} {}").format(
        columns, _FROM, condition, sql.SQL(order), limit_offset(limit, offset)
    )
    return Statement(query, params)


def _visible(staff: bool, alias: str = "r") -> sql.Composable:
    """The public view sees only versions that were published (staff see every version)."""
    if staff:
        return sql.SQL("")
    return sql.SQL(" AND {}.status = ANY({})").format(
        sql.Identifier(alias), sql.Literal(list(PUBLIC_STATUSES))
    )


def one(record_id: int, *, staff: bool = False) -> Statement:
    """One version."""
    columns = _COLUMNS + _STAFF_COLUMNS if staff else _COLUMNS
    query = sql.SQL("SELECT {} {} WHERE r.id = %(id)s{}").format(columns, _FROM, _visible(staff))
    return Statement(query, {"id": record_id})


def versions(record_id: int, *, staff: bool = False) -> Statement:
    """Every version of the record that version ``record_id`` belongs to, oldest first; no
    rows when that version is unknown (or, publicly, was never published)."""
    columns = _COLUMNS + _STAFF_COLUMNS if staff else _COLUMNS
    query = sql.SQL(
        "SELECT {} {} WHERE r.record_key = (SELECT v.record_key FROM disclosure_records v"
        " WHERE v.id = %(id)s{}){} ORDER BY r.version"
    ).format(columns, _FROM, _visible(staff, "v"), _visible(staff))
    return Statement(query, {"id": record_id})


def attachment(record_id: int, sha256: bytes, *, staff: bool = False) -> Statement:
    """A file of a version; publicly, only of a version that is (or was) public and was not
    withdrawn."""
    hidden = sql.SQL("") if staff else sql.SQL(" AND r.status <> 'withdrawn'")
    query = sql.SQL(
        "SELECT a.filename, a.media_type, a.content FROM disclosure_attachments a"
        " JOIN disclosure_records r ON r.id = a.record_id"
        " WHERE a.record_id = %(id)s AND a.sha256 = %(sha)s{}{}"
    ).format(_visible(staff), hidden)
    return Statement(query, {"id": record_id, "sha": sha256})


def categories() -> Statement:
    return Statement(
        sql.SQL(
            "SELECT code, ordinal, name_zh, name_en, deadline_days, source_document"
            " FROM disclosure_categories ORDER BY ordinal"
        )
    )


def record_types() -> Statement:
    return Statement(
        sql.SQL(
            "SELECT t.code, t.category, t.name_zh, t.name_en, t.origin,"
            " coalesce(t.deadline_days, c.deadline_days) AS deadline_days,"
            " CASE WHEN t.deadline_days IS NULL THEN c.source_document"
            " ELSE t.source_document END AS source_document,"
            " CASE WHEN t.deadline_days IS NULL THEN c.confirmed ELSE t.confirmed END AS confirmed,"
            " t.note FROM disclosure_record_types t JOIN disclosure_categories c"
            " ON c.code = t.category ORDER BY t.category, t.code"
        )
    )


FEED_SIZE = 50


def feed_entries(
    category: str | None, enterprise_id: int | None, district: str | None
) -> Statement:
    """The latest publications and withdrawals (publication log order), newest first."""
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for name, column, value in (
        ("category", "r.category", category),
        ("enterprise_id", "r.enterprise_id", enterprise_id),
        ("district", "e.district", district),
    ):
        if value is not None:
            conditions.append(sql.SQL("{} = {}").format(sql.SQL(column), sql.Placeholder(name)))
            params[name] = value
    query = sql.SQL(
        "SELECT l.seq, l.action, l.logged_at, {} {} JOIN publication_log l ON l.record_id = r.id"
        " {} ORDER BY l.seq DESC LIMIT {}"
    ).format(_COLUMNS, _FROM, where(conditions), sql.Literal(FEED_SIZE))
    return Statement(query, params)


def comparisons(outlet_id: int) -> Statement:
    """Published supervisory-monitoring results of an outlet (by outlet, or by the outlet code
    of the enterprise's record) beside the online daily mean of the same pollutant and day."""
    query = sql.SQL(
        "SELECT r.id, r.title_zh, r.title_en, r.content, r.published_at,"
        " d.mean AS online_mean, d.converted AS online_converted, d.valid AS online_valid,"
        " d.valid_count AS online_valid_hours, d.expected_count AS online_expected_hours,"
        " d.reason AS online_reason"
        " FROM outlets o JOIN disclosure_records r ON r.record_type = 'supervisory_monitoring'"
        " AND r.status = 'published' AND (r.outlet_id = o.id OR (r.outlet_id IS NULL"
        " AND r.enterprise_id = o.enterprise_id AND r.content ->> 'outlet_code' = o.code))"
        " LEFT JOIN daily_means d ON d.outlet_id = o.id AND d.pollutant = r.content ->> 'pollutant'"
        " AND d.day = (r.content ->> 'monitored_on')::date"
        " WHERE o.id = %(outlet)s ORDER BY r.content ->> 'monitored_on' DESC, r.id DESC"
    )
    return Statement(query, {"outlet": outlet_id})
