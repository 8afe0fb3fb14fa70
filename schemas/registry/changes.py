"""Staff changes to the registry, one enterprise or outlet at a time, each audited with before
and after in the transaction that makes it (the staff API and the console call these).

A change is validated by the same models as the registry file (:class:`EnterpriseIn`,
:class:`OutletIn`): the stored record with the change applied must be a valid record. An
outlet's HJ 212 password is never written to the audit log (only whether it changed).
Deactivating an enterprise deactivates its outlets (an enterprise has no state of its own: its
record and history stay); a deactivated outlet is no longer expected to report and is left out
of the checks. Errors::

    RegistryError          (schemas.registry.entries) a change the rules refuse
    ├── UnknownRecord      no enterprise or outlet with this id
    └── DuplicateRecord    the USCC or MN is already another record's
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import ValidationError

from schemas.limits.rules import LimitsError
from schemas.registry.entries import (
    BINDING_COLUMNS,
    ENTERPRISE_COLUMNS,
    OUTLET_COLUMNS,
    EnterpriseIn,
    ImportReport,
    OutletIn,
    RegistryError,
    bind_named,
    import_registry,
)
from schemas.registry.files import field_message
from schemas.staff.audit import audit

__all__ = [
    "DuplicateRecord",
    "InvalidChange",
    "UnknownRecord",
    "create_enterprise",
    "create_outlet",
    "deactivate_enterprise",
    "deactivate_outlet",
    "import_registry_audited",
    "registry_entry",
    "update_enterprise",
    "update_outlet",
]

_OUTLET_TABLE_COLUMNS = tuple(c for c in OUTLET_COLUMNS if c not in BINDING_COLUMNS)


class UnknownRecord(RegistryError, LookupError):
    """No enterprise or outlet has this id."""


class DuplicateRecord(RegistryError):
    """The USCC or MN belongs to another record."""


def _validation_message(exc: ValidationError) -> tuple[str, str]:
    """(field, message) of the first problem, for the caller to name."""
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    return field, field_message(first)


class InvalidChange(RegistryError):
    """The record with the change applied is not valid; ``field`` names the first problem."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _row(
    conn: psycopg.Connection[Any], table: str, columns: Sequence[str], id_: int
) -> dict[str, Any]:
    query = sql.SQL("SELECT {c} FROM {t} WHERE id = %s FOR UPDATE").format(
        c=sql.SQL(", ").join(map(sql.Identifier, columns)), t=sql.Identifier(table)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, (id_,)).fetchone()
    if row is None:
        noun = "enterprise" if table == "enterprises" else "outlet"
        raise UnknownRecord(f"no {noun} {id_}")
    return dict(row)


def registry_entry(
    conn: psycopg.Connection[Any], mn: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The enterprise and the outlet of ``mn`` as they are registered (each with its ``id``;
    the outlet's password only as ``password_set``), or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        outlet = cur.execute(
            sql.SQL("SELECT id, enterprise_id, {c} FROM outlets WHERE mn = %s").format(
                c=sql.SQL(", ").join(map(sql.Identifier, _OUTLET_TABLE_COLUMNS))
            ),
            (mn,),
        ).fetchone()
        if outlet is None:
            return None
        enterprise = cur.execute(
            sql.SQL("SELECT id, {c} FROM enterprises WHERE id = %s").format(
                c=sql.SQL(", ").join(map(sql.Identifier, ENTERPRISE_COLUMNS))
            ),
            (outlet["enterprise_id"],),
        ).fetchone()
    assert enterprise is not None
    return dict(enterprise), _public(dict(outlet))


def _validate_enterprise(values: Mapping[str, Any]) -> EnterpriseIn:
    try:
        return EnterpriseIn.model_validate(values)
    except ValidationError as exc:
        raise InvalidChange(*_validation_message(exc)) from None


def _validate_outlet(values: Mapping[str, Any]) -> OutletIn:
    try:
        outlet = OutletIn.model_validate(values)
    except ValidationError as exc:
        raise InvalidChange(*_validation_message(exc)) from None
    if problem := outlet.binding_problem():
        raise InvalidChange(*problem)
    return outlet


def _write(
    conn: psycopg.Connection[Any], table: str, values: Mapping[str, Any], id_: int | None
) -> int:
    columns = list(values)
    if id_ is None:
        query = sql.SQL("INSERT INTO {t} ({c}) VALUES ({v}) RETURNING id").format(
            t=sql.Identifier(table),
            c=sql.SQL(", ").join(map(sql.Identifier, columns)),
            v=sql.SQL(", ").join(map(sql.Placeholder, columns)),
        )
        params = dict(values)
    else:
        query = sql.SQL(
            "UPDATE {t} SET {s}, updated_at = now() WHERE id = %(id)s RETURNING id"
        ).format(
            t=sql.Identifier(table),
            s=sql.SQL(", ").join(
                sql.SQL("{c} = {p}").format(c=sql.Identifier(c), p=sql.Placeholder(c))
                for c in columns
            ),
        )
        params = {**values, "id": id_}
    try:
        with conn.transaction():
            row = conn.execute(query, params).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        key = "USCC" if table == "enterprises" else "MN"
        raise DuplicateRecord(f"this {key} is already registered to another record") from exc
    assert row is not None
    return int(row[0])


def _public(outlet: Mapping[str, Any]) -> dict[str, Any]:
    """An outlet as the audit log keeps it: the password only as whether one is set."""
    return {k: v for k, v in outlet.items() if k != "password"} | {
        "password_set": outlet.get("password") is not None
    }


def create_enterprise(
    conn: psycopg.Connection[Any], values: Mapping[str, Any], *, actor: str
) -> int:
    """Register an enterprise (fields of :class:`EnterpriseIn` without outlets); its id."""
    enterprise = _validate_enterprise({k: v for k, v in values.items() if k != "outlets"})
    stored = enterprise.model_dump(exclude={"outlets"})
    with conn.transaction():
        enterprise_id = _write(conn, "enterprises", stored, None)
        audit(conn, actor, "enterprise.create", "enterprise", enterprise_id, after=stored)
    return enterprise_id


def update_enterprise(
    conn: psycopg.Connection[Any], enterprise_id: int, changes: Mapping[str, Any], *, actor: str
) -> None:
    """Change some fields of an enterprise (a field set to None is cleared)."""
    with conn.transaction():
        before = _row(conn, "enterprises", ENTERPRISE_COLUMNS, enterprise_id)
        after = _validate_enterprise({**before, **changes}).model_dump(exclude={"outlets"})
        _write(conn, "enterprises", after, enterprise_id)
        changed = {k for k in after if after[k] != before[k]}
        audit(
            conn,
            actor,
            "enterprise.update",
            "enterprise",
            enterprise_id,
            before={k: before[k] for k in sorted(changed)},
            after={k: after[k] for k in sorted(changed)},
        )


def deactivate_enterprise(conn: psycopg.Connection[Any], enterprise_id: int, *, actor: str) -> int:
    """Deactivate every active outlet of the enterprise; how many."""
    with conn.transaction():
        _row(conn, "enterprises", ("id",), enterprise_id)
        rows = conn.execute(
            "UPDATE outlets SET active = false, updated_at = now()"
            " WHERE enterprise_id = %s AND active RETURNING mn",
            (enterprise_id,),
        ).fetchall()
        mns = sorted(mn for (mn,) in rows)
        audit(
            conn,
            actor,
            "enterprise.deactivate",
            "enterprise",
            enterprise_id,
            before={"active_outlets": mns},
            after={"active_outlets": []},
        )
    return len(mns)


def create_outlet(
    conn: psycopg.Connection[Any], enterprise_id: int, values: Mapping[str, Any], *, actor: str
) -> int:
    """Register an outlet of an enterprise (fields of :class:`OutletIn`; a named
    ``limit_category`` binds it); its id."""
    outlet = _validate_outlet(values)
    stored = outlet.model_dump(exclude=set(BINDING_COLUMNS))
    with conn.transaction():
        _row(conn, "enterprises", ("id",), enterprise_id)
        outlet_id = _write(conn, "outlets", {**stored, "enterprise_id": enterprise_id}, None)
        bound = _bind(conn, outlet)
        audit(
            conn,
            actor,
            "outlet.create",
            "outlet",
            outlet_id,
            after=_public(stored) | {"enterprise_id": enterprise_id} | bound,
        )
    return outlet_id


def update_outlet(
    conn: psycopg.Connection[Any], outlet_id: int, changes: Mapping[str, Any], *, actor: str
) -> None:
    """Change some fields of an outlet; ``limit_category`` (with ``limits_from``) binds it."""
    with conn.transaction():
        before = _row(conn, "outlets", _OUTLET_TABLE_COLUMNS, outlet_id)
        outlet = _validate_outlet({**before, **changes})
        after = outlet.model_dump(exclude=set(BINDING_COLUMNS))
        _write(conn, "outlets", after, outlet_id)
        bound = _bind(conn, outlet)
        changed = sorted(k for k in after if after[k] != before[k])
        audit(
            conn,
            actor,
            "outlet.update",
            "outlet",
            outlet_id,
            before=_public({k: before[k] for k in changed if k != "password"})
            | {"password_set": before["password"] is not None},
            after=_public({k: after[k] for k in changed if k != "password"})
            | {"password_set": after["password"] is not None}
            | bound,
        )


def deactivate_outlet(conn: psycopg.Connection[Any], outlet_id: int, *, actor: str) -> bool:
    """Deactivate an outlet; False when it already was inactive."""
    with conn.transaction():
        before = _row(conn, "outlets", ("active",), outlet_id)
        if before["active"]:
            conn.execute(
                "UPDATE outlets SET active = false, updated_at = now() WHERE id = %s",
                (outlet_id,),
            )
            audit(
                conn,
                actor,
                "outlet.deactivate",
                "outlet",
                outlet_id,
                before={"active": True},
                after={"active": False},
            )
    return bool(before["active"])


def _bind(conn: psycopg.Connection[Any], outlet: OutletIn) -> dict[str, Any]:
    """Bind the outlet as it names itself; what to add to the audit entry."""
    if outlet.limit_category is None:
        return {}
    try:
        added = bind_named(conn, outlet)
    except LimitsError as exc:
        raise InvalidChange("limit_category", str(exc)) from exc
    return {
        "binding": {
            "standard": outlet.emission_standard,
            "category": outlet.limit_category,
            "limits_from": outlet.limits_from,
            "added": bool(added),
        }
    }


def import_registry_audited(
    conn: psycopg.Connection[Any],
    enterprises: Sequence[EnterpriseIn],
    *,
    actor: str,
    filename: str,
) -> ImportReport:
    """:func:`schemas.registry.entries.import_registry`, with one audit entry for the file."""
    with conn.transaction():
        report = import_registry(conn, enterprises)
        audit(
            conn,
            actor,
            "registry.import",
            "registry",
            None,
            after={
                "file": filename,
                "enterprises_inserted": report.enterprises_inserted,
                "enterprises_updated": report.enterprises_updated,
                "outlets_inserted": report.outlets_inserted,
                "outlets_updated": report.outlets_updated,
                "bindings_added": report.bindings_added,
                "moved": [m.mn for m in report.moved],
            },
        )
    return report
