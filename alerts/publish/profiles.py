"""enterprise_profile records (重点污染源基本情况) from the enterprise registry.

One record per enterprise, ``enterprise_profile:<id>``; a change in the registry (the
enterprise, its outlets, their bound limits) gives different content, hence a new version.
Main pollutants of an outlet are those with a limit in force for it today.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg

from alerts.publish._util import pollutant_names
from schemas.disclosure.auto_types import EnterpriseProfile, PollutantRef, ProfileOutlet
from schemas.disclosure.automatic import AutoResult, publish_automatic
from schemas.limits.rules import limits_for_outlet

__all__ = ["enterprise_fingerprints", "profile_content", "publish_profile"]

_LEVELS_ZH = {"national": "国控", "provincial": "省控", "municipal": "市控", "other": "其他"}
_KIND_ZH = {"gas": "废气", "water": "废水"}


def enterprise_fingerprints(conn: psycopg.Connection[Any]) -> dict[int, str]:
    """A cheap summary per enterprise of what its profile is made from."""
    rows = conn.execute(
        """SELECT e.id, e.updated_at, max(o.updated_at), count(DISTINCT o.id),
                  max(b.id), max(l.id)
           FROM enterprises e
           LEFT JOIN outlets o ON o.enterprise_id = e.id AND o.active
           LEFT JOIN outlet_limit_bindings b ON b.outlet_id = o.id
           LEFT JOIN outlet_limits l ON l.outlet_id = o.id
           GROUP BY e.id"""
    ).fetchall()
    return {int(row[0]): "|".join(str(v) for v in row[1:]) for row in rows}


def profile_content(
    conn: psycopg.Connection[Any], enterprise_id: int, today: date
) -> tuple[EnterpriseProfile, datetime] | None:
    """The profile and the time it was formed (the registry's latest change)."""
    row = conn.execute(
        "SELECT name_zh, name_en, uscc, address, district, industry, control_level, longitude,"
        " latitude, updated_at FROM enterprises WHERE id = %s",
        (enterprise_id,),
    ).fetchone()
    if row is None:
        return None
    name_zh, name_en, uscc, address, district, industry, level, lon, lat, formed = row
    names = pollutant_names(conn)
    outlets = []
    for o in conn.execute(
        "SELECT id, code, name_zh, name_en, kind, emission_standard, permit_number, longitude,"
        " latitude, updated_at FROM outlets WHERE enterprise_id = %s AND active"
        " ORDER BY code NULLS LAST, id",
        (enterprise_id,),
    ).fetchall():
        formed = max(formed, o[9])
        codes = sorted({lim.pollutant for lim in limits_for_outlet(conn, o[0], today)})
        main = tuple(
            PollutantRef(code=c, name_zh=names[c][0], name_en=names[c][1])
            for c in codes
            if c in names
        )
        outlets.append(
            ProfileOutlet(
                outlet_id=o[0],
                code=o[1],
                name_zh=o[2],
                name_en=o[3],
                kind=o[4],
                kind_zh=_KIND_ZH[o[4]],
                emission_standard=o[5],
                permit_number=o[6],
                longitude=o[7],
                latitude=o[8],
                main_pollutants=main,
            )
        )
    profile = EnterpriseProfile(
        enterprise_id=enterprise_id,
        name_zh=name_zh,
        name_en=name_en,
        uscc=uscc,
        address=address,
        district=district,
        industry=industry,
        control_level=level,
        control_level_zh=_LEVELS_ZH.get(level) if level else None,
        longitude=lon,
        latitude=lat,
        outlets=tuple(outlets),
    )
    return profile, formed


def publish_profile(
    conn: psycopg.Connection[Any], enterprise_id: int, today: date
) -> AutoResult | None:
    built = profile_content(conn, enterprise_id, today)
    if built is None:
        return None
    profile, formed = built
    return publish_automatic(
        conn,
        record_type="enterprise_profile",
        record_key=f"enterprise_profile:{enterprise_id}",
        content=profile.model_dump(mode="json"),
        formed_at=formed,
        enterprise_id=enterprise_id,
        source_ref=f"enterprises:{enterprise_id}",
        reason="registry changed",
    )
