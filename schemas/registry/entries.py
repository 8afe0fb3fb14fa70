"""The enterprise / outlet registry: the validated models and the import into PostgreSQL
(the file formats are read by :mod:`schemas.registry.files`).

Behind ``sourcewatch registry import FILE``. Two file formats:

* JSON: ``{"enterprises": [{<enterprise fields>, "outlets": [{<outlet fields>}, ...]}, ...]}``;
  errors are located by path, e.g. ``enterprises[1].outlets[0]``.
* CSV (UTF-8, BOM tolerated), one row per outlet: enterprise columns prefixed ``enterprise_``
  (``enterprise_uscc``, ``enterprise_name_zh``, …), outlet columns unprefixed (``mn``,
  ``name_zh``, ``kind``, …). Rows with the same ``enterprise_uscc`` form one enterprise. Errors
  are located by line number (the header is row 1, as in a spreadsheet). Empty cells are unset.

**Limits from the registry.** An outlet that names ``limit_category`` beside its
``emission_standard`` is bound to that category of that standard (``outlet_limit_bindings``,
:func:`schemas.limits.rules.bind_outlet`) from ``limits_from`` (default: the first day the
category has limits), with its ``permit_number`` (else "registry") as the source. An unknown
standard or category, or a category of the other medium, is a row error
(:func:`schemas.limits.standards.check_binding`). Without ``limit_category`` the standard is
only a label and the outlet is not judged until it is bound or has permit limits
(``sourcewatch limits import``); ``sourcewatch check`` lists such outlets. Re-importing the
same binding changes nothing; a different category needs a later ``limits_from`` (the earlier
binding keeps answering for the days before it).

:func:`parse_registry_file` does not stop at the first bad row: it returns every valid
enterprise together with one :class:`RowError` per bad field. Import nothing while ``errors`` is
non-empty. :func:`import_registry` upserts in one transaction: enterprises by USCC, outlets by
MN. Every column takes the file's value (an omitted optional field becomes NULL or its
default); outlets that are not in the file are left as they are.

Errors::

    RegistryError    unreadable file, bad JSON, wrong layout, or an import the database refused
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Annotated, Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from schemas.limits.rules import LimitsError, bind_outlet
from schemas.limits.standards import check_binding, code_table_categories

__all__ = [
    "BINDING_COLUMNS",
    "ENTERPRISE_COLUMNS",
    "OUTLET_COLUMNS",
    "EnterpriseIn",
    "ImportReport",
    "MovedOutlet",
    "OutletIn",
    "RegistryError",
    "Uscc",
    "bind_named",
    "check_uscc",
    "import_registry",
    "uscc_check_character",
]


class RegistryError(Exception):
    """Root of this module's errors: the file or the import as a whole cannot proceed."""


# --- Field types ------------------------------------------------------------------------------

# GB 32100-2015 统一社会信用代码: 18 characters from this alphabet (no I, O, S, V, Z); the last
# is a check character: C18 = 31 - (sum(value(Ci) * 3^(i-1) mod 31) mod 31), 31 → 0.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def uscc_check_character(first17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters of a USCC."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def check_uscc(value: str) -> str:
    """``value`` upper-cased when it is a well-formed 统一社会信用代码 (GB 32100-2015: 18
    characters of 0-9 and A-Y without I, O, S, V, Z, the last a check character), else
    ``ValueError``."""
    value = value.strip().upper()
    if len(value) != 18:
        raise ValueError(f"must be 18 characters (统一社会信用代码), got {len(value)}")
    if bad := sorted({c for c in value if c not in _USCC_ALPHABET}):
        raise ValueError(
            f"contains {', '.join(map(repr, bad))}: only 0-9 and A-Y without I, O, S, V, Z"
        )
    if value[17] != (expected := uscc_check_character(value[:17])):
        raise ValueError(f"check character is {value[17]!r}, GB 32100-2015 gives {expected!r}")
    return value


def _check_mn(value: str) -> str:
    if any(c in value for c in "/+#"):
        raise ValueError("must not contain '/', '+' or '#' (the MN is part of MQTT topics)")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("must not contain spaces or control characters")
    return value


def _check_pw(value: str) -> str:
    """An HJ 212 PW a logger can send: the data segment separates its fields with ';', ','
    and '=', and CP opens with '&&' (docs/protocol.md#frame-grammar), so a PW holding one of
    them, a space or a control character could never match (and without a PW the TCP gateway
    refuses the outlet: docs/security.md#the-tcp-gateway)."""
    if any(c in value for c in ";,=&") or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("must not contain ';', ',', '=', '&', spaces or control characters")
    return value


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_timezone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError(f"must be an IANA time zone such as 'Asia/Shanghai', got {value!r}")
    return value


Uscc = Annotated[str, AfterValidator(check_uscc)]
MN = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_check_mn)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_check_pw)]
Name = Annotated[str, StringConstraints(min_length=1)]


def _check_minute_interval(value: int) -> int:
    if not 1 <= value <= 60 or 60 % value:
        raise ValueError(
            f"must divide the hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60), got {value}"
        )
    return value


MinuteInterval = Annotated[int, AfterValidator(_check_minute_interval)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Latitude = Annotated[float, Field(ge=-90, le=90)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """An empty string (an empty CSV cell) means the field is not given."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data


class OutletIn(_Model):
    """One monitored outlet (排放口) and the data logger reporting it."""

    mn: MN
    code: str | None = None
    name_zh: Name
    name_en: str | None = None
    kind: Literal["gas", "water"]
    password: Password | None = None
    crc_policy: Literal["strict", "lenient", "alt"] = "strict"
    protocol_profile: Literal["hj212-2005", "hj212-2017", "hj212-2025"] = "hj212-2017"
    timezone: TimeZone = "Asia/Shanghai"
    emission_standard: str | None = None
    limit_category: str | None = None
    limits_from: date | None = None
    permit_number: str | None = None
    longitude: Longitude | None = None
    latitude: Latitude | None = None
    active: bool = True
    # What the logger is expected to upload (docs/completeness.md#expected-data)
    rtd_interval_s: Annotated[int, Field(ge=1, le=3600)] | None = None
    expects_minute: bool = True
    minute_interval_min: MinuteInterval = 1
    expects_hour: bool = True
    expects_day: bool = False

    def binding_problem(self) -> tuple[str, str] | None:
        """``(field, message)`` when the binding this outlet names cannot be made (checked
        against the code tables), else None."""
        if self.limits_from is not None and self.limit_category is None:
            return "limits_from", "needs limit_category (the category it starts)"
        if self.limit_category is None:
            return None
        if self.emission_standard is None:
            return "emission_standard", "is required with limit_category (the standard it is of)"
        categories = code_table_categories()
        return check_binding(categories, self.emission_standard, self.limit_category, self.kind)


class EnterpriseIn(_Model):
    """One enterprise (排污单位), identified by its USCC, with its outlets."""

    uscc: Uscc
    name_zh: Name
    name_en: str | None = None
    address: str | None = None
    district: str | None = None
    industry: str | None = None
    control_level: Literal["national", "provincial", "municipal", "other"] | None = None
    longitude: Longitude | None = None
    latitude: Latitude | None = None
    outlets: list[OutletIn] = Field(default_factory=list)


ENTERPRISE_COLUMNS = tuple(n for n in EnterpriseIn.model_fields if n != "outlets")
OUTLET_COLUMNS = tuple(OutletIn.model_fields)
BINDING_COLUMNS = ("limit_category", "limits_from")  # bind the outlet; not columns of outlets
_OUTLET_TABLE_COLUMNS = tuple(c for c in OUTLET_COLUMNS if c not in BINDING_COLUMNS)


# --- Import -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MovedOutlet:
    """An MN that was registered to another enterprise before the import."""

    mn: str
    from_uscc: str | None
    to_uscc: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What :func:`import_registry` did; a moved outlet also counts as updated."""

    enterprises_inserted: int = 0
    enterprises_updated: int = 0
    outlets_inserted: int = 0
    outlets_updated: int = 0
    moved: tuple[MovedOutlet, ...] = ()
    bindings_added: int = 0  # outlets newly bound to the standard and category they name

    def summary(self) -> str:
        lines = [
            f"enterprises: {self.enterprises_inserted} inserted, {self.enterprises_updated} updated",
            f"outlets: {self.outlets_inserted} inserted, {self.outlets_updated} updated",
            f"limit bindings: {self.bindings_added} added",
        ]
        lines += [f"outlet {m.mn} moved from {m.from_uscc} to {m.to_uscc}" for m in self.moved]
        return "\n".join(lines)


def _upsert_sql(table: str, key: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({key}) "
        "DO UPDATE SET {updates}, updated_at = now() RETURNING id"
    ).format(
        table=sql.Identifier(table),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(map(sql.Placeholder, columns)),
        key=sql.Identifier(key),
        updates=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in columns if c != key
        ),
    )


_UPSERT_ENTERPRISE = _upsert_sql("enterprises", "uscc", ENTERPRISE_COLUMNS)
_UPSERT_OUTLET = _upsert_sql("outlets", "mn", ("enterprise_id", *_OUTLET_TABLE_COLUMNS))


def _duplicates(values: Sequence[str]) -> list[str]:
    return sorted({v for v in values if values.count(v) > 1})


def import_registry(
    conn: psycopg.Connection[Any],
    enterprises: Sequence[EnterpriseIn],
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Upsert enterprises (by USCC) and their outlets (by MN) in one transaction.

    ``progress``, when given, is called after each enterprise with the number of rows just
    upserted (1 + its outlets): the calls add up to ``len(enterprises)`` + the outlets."""
    usccs = [e.uscc for e in enterprises]
    mns = [o.mn for e in enterprises for o in e.outlets]
    if dup := _duplicates(usccs) + _duplicates(mns):
        raise RegistryError(f"duplicate USCC or MN in the import: {', '.join(dup)}")
    moved: list[MovedOutlet] = []
    bound = 0
    try:
        with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            cur.execute("SELECT uscc FROM enterprises WHERE uscc = ANY(%s) FOR UPDATE", (usccs,))
            known = {uscc for (uscc,) in cur}
            cur.execute(
                "SELECT o.mn, e.uscc FROM outlets o JOIN enterprises e ON e.id = o.enterprise_id"
                " WHERE o.mn = ANY(%s) FOR UPDATE OF o",
                (mns,),
            )
            owners: dict[str, str | None] = dict(cur.fetchall())
            for enterprise in enterprises:
                cur.execute(_UPSERT_ENTERPRISE, enterprise.model_dump(exclude={"outlets"}))
                (enterprise_id,) = cur.fetchall()[0]
                for outlet in enterprise.outlets:
                    values = outlet.model_dump(exclude=set(BINDING_COLUMNS))
                    cur.execute(_UPSERT_OUTLET, {**values, "enterprise_id": enterprise_id})
                    if outlet.limit_category is not None:
                        bound += bind_named(conn, outlet)
                    if outlet.mn in owners and owners[outlet.mn] != enterprise.uscc:
                        moved.append(MovedOutlet(outlet.mn, owners[outlet.mn], enterprise.uscc))
                if progress is not None:
                    progress(1 + len(enterprise.outlets))
    except (psycopg.IntegrityError, psycopg.DataError) as exc:
        reason = exc.diag.message_primary or str(exc)
        raise RegistryError(
            f"the database refused the import, nothing was imported: {reason}"
        ) from exc
    except LimitsError as exc:
        raise RegistryError(f"nothing was imported: {exc}") from exc
    outlets_updated = sum(mn in owners for mn in mns)
    return ImportReport(
        enterprises_inserted=len(usccs) - len(known),
        enterprises_updated=len(known),
        outlets_inserted=len(mns) - outlets_updated,
        outlets_updated=outlets_updated,
        moved=tuple(moved),
        bindings_added=bound,
    )


def bind_named(conn: psycopg.Connection[Any], outlet: OutletIn) -> int:
    """Bind the outlet as it names itself (``emission_standard``, ``limit_category``,
    ``limits_from``); 1 for a new binding, 0 when it was there. :class:`LimitsError` when the
    binding cannot be made."""
    assert outlet.emission_standard is not None and outlet.limit_category is not None
    standard, category = outlet.emission_standard, outlet.limit_category
    start = outlet.limits_from
    if start is None:
        row = conn.execute(
            "SELECT min(valid_from) FROM limits WHERE standard = %s AND category = %s",
            (standard, category),
        ).fetchone()
        start = row[0] if row is not None and row[0] is not None else None
        if start is None:
            raise LimitsError(f"outlet {outlet.mn}: no limits for {standard!r} / {category!r}")
    same_day = conn.execute(
        "SELECT b.standard, b.category FROM outlet_limit_bindings b"
        " JOIN outlets o ON o.id = b.outlet_id WHERE o.mn = %s AND b.valid_from = %s",
        (outlet.mn, start),
    ).fetchall()
    if (standard, category) in same_day:
        return 0
    if same_day:
        other = ", ".join(f"{s} / {c}" for s, c in same_day)
        raise LimitsError(
            f"outlet {outlet.mn} is bound to {other} from {start}: give limits_from after"
            f" {start} to bind it to {standard} / {category} instead"
        )
    bind_outlet(conn, outlet.mn, standard, category, start, outlet.permit_number or "registry")
    return 1
