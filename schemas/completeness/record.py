"""The completeness record: per outlet, pollutant, data kind and UTC hour, how many records were
received and how many of them are valid (table ``completeness``, migration 0018).

Ingest keeps it in the same statement as the merge into ``measurements``
(:data:`MERGE_CTES`, or :data:`MERGE_CTES_NEW_KEYS` for a batch of new keys only, spliced into
``ingest/writer.py``'s merge), set-based, one upsert per batch, from what the merge itself
changed (its ``up`` rows, and the ``old`` values they replaced); or, for a batch of new keys
that the writer COPYs straight into ``measurements``, from the writer's own count of them per
hour and flag (:data:`GROUPED_CTES`, the same upsert):

- a new key (``revision = 0``) adds 1 to ``received``, and 1 to ``valid`` when it is valid;
- a revision adds nothing to ``received`` and moves ``valid`` by the change of its validity;
- an identical re-send is not in ``up`` and changes nothing (duplicates never count twice).

The counters are upserted with ``received = received + delta``, so two workers adding to the
same hour at once serialise on its row and both deltas count. A delta is exact when the merge's
snapshot holds the value a revision replaces. Two ingest writers of the same outlet queue on its
``outlet_activity`` row before the merge begins (``ingest/writer.py``), so it does; should a
change of the same key commit after the merge began anyway, the upsert waits for it and replaces
a value the snapshot never saw. The merge says so (``stale``: ``up.revision`` is not the
snapshot's revision + 1), leaves that key's validity out of the delta, and the writer then calls
:func:`recount_staged` in a new statement of the same transaction, which recounts the batch's
hours from ``measurements``: it sees every committed change and the batch's own, and the rows it
sets are locked by this transaction since the upsert, so no other delta is lost.

A value is valid when its flag is marked valid in ``data_flags`` for the logger's protocol and
it has a value (:data:`VALID_SQL`), as in the API's raw series and the dumps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "GROUPED_CTES",
    "MERGE_CTES",
    "MERGE_CTES_NEW_KEYS",
    "STALE_SQL",
    "UTC_HOUR_SQL",
    "VALID_SQL",
    "recount",
    "recount_staged",
]

# Validity of the row aliased m (flag, value) of the outlet aliased o: the flag is marked valid
# for the logger's protocol (as api/queries/outlets.py flag_standard()) and there is a value.
VALID_SQL = """(m.value IS NOT NULL AND EXISTS (
    SELECT 1 FROM data_flags f
    WHERE f.standard = CASE WHEN o.protocol_profile = 'hj212-2005' THEN 'HJ/T 212-2005'
                            ELSE 'HJ 212-2017' END
      AND f.code = m.flag AND f.valid))"""

# The UTC hour of the instant `ts`, as date_trunc('hour', ts, 'UTC') (equal for every
# timestamptz: UTC has no offset changes); binning is arithmetic, cheaper per row than
# converting to a zone and back, which the merge otherwise does for every value of a batch.
UTC_HOUR_SQL = "date_bin('1 hour', {ts}, timestamptz '2000-01-01 00:00+00')"


# CTEs appended to the merge: they read `up` (RETURNING outlet_id, pollutant, kind, ts,
# revision, flag, value) and `old` (the snapshot's rows that the batch changes). The validity
# of each is VALID_SQL, by a join with the logger's flags.
_MERGE_CTES = """, counted AS (
    SELECT up.outlet_id, up.pollutant, up.kind, {hour} AS hour_start,
           count(*) FILTER (WHERE up.revision = 0) AS received,
           coalesce(sum(CASE WHEN up.revision = 0 THEN nv.valid::int
                             WHEN old.revision + 1 = up.revision THEN nv.valid::int - ov.valid::int
                        END), 0) AS valid,
           bool_or(up.revision > 0 AND old.revision + 1 IS DISTINCT FROM up.revision) AS stale
    FROM up
    LEFT JOIN old USING (outlet_id, pollutant, kind, ts)
    JOIN outlets o ON o.id = up.outlet_id
    LEFT JOIN data_flags nf ON nf.code = up.flag AND nf.standard =
         CASE WHEN o.protocol_profile = 'hj212-2005' THEN 'HJ/T 212-2005' ELSE 'HJ 212-2017' END
    LEFT JOIN data_flags of ON of.code = old.flag AND of.standard = nf.standard
    CROSS JOIN LATERAL (SELECT up.value IS NOT NULL AND coalesce(nf.valid, false) AS valid) nv
    CROSS JOIN LATERAL (SELECT old.value IS NOT NULL AND coalesce(of.valid, false) AS valid) ov
    GROUP BY 1, 2, 3, 4
), recorded AS (
    INSERT INTO completeness AS c (outlet_id, pollutant, kind, hour_start, received, valid)
    SELECT outlet_id, pollutant, kind, hour_start, received, least(greatest(valid, 0), received)
    FROM counted
    ORDER BY outlet_id, pollutant, kind, hour_start
    ON CONFLICT (outlet_id, pollutant, kind, hour_start) DO UPDATE
        SET received = c.received + EXCLUDED.received,
            valid = least(greatest(c.valid + {delta}, 0), c.received + EXCLUDED.received)
    RETURNING 1
)"""
# The unclamped valid delta of the counter row c: looked up in `counted`, since the row
# inserted (EXCLUDED) holds it clamped to [0, received].
_DELTA = """(SELECT k.valid FROM counted k
                WHERE (k.outlet_id, k.pollutant, k.kind, k.hour_start)
                    = (c.outlet_id, c.pollutant, c.kind, c.hour_start))"""
_MERGE_CTES = _MERGE_CTES.replace("{hour}", UTC_HOUR_SQL.replace("{ts}", "up.ts"))
MERGE_CTES = _MERGE_CTES.replace("{delta}", _DELTA)
# The same for a merge whose `up` holds new keys only (revision 0, `old` empty: the writer's
# merge of a batch newer than everything stored, ingest/writer.py). Each hour's valid delta is
# then between 0 and its received delta, so clamping leaves it as it is and the counter row
# takes EXCLUDED.valid, with no look-up in `counted` per row.
MERGE_CTES_NEW_KEYS = _MERGE_CTES.replace("{delta}", "EXCLUDED.valid")

# The same record from counts the writer made itself, for a batch of new keys only that it
# COPYed straight into measurements (ingest/writer.py): CTEs reading `g` (outlet_id, pollutant,
# kind, hour_start, flag, received: rows, with_value: rows with a value). A row is valid by
# VALID_SQL: it has a value and its flag is marked valid for the logger's protocol.
GROUPED_CTES = """, counted AS (
    SELECT g.outlet_id, g.pollutant, g.kind, g.hour_start, sum(g.received) AS received,
           coalesce(sum(g.with_value) FILTER (WHERE f.valid), 0) AS valid
    FROM g
    JOIN outlets o ON o.id = g.outlet_id
    LEFT JOIN data_flags f ON f.code = g.flag AND f.standard =
         CASE WHEN o.protocol_profile = 'hj212-2005' THEN 'HJ/T 212-2005' ELSE 'HJ 212-2017' END
    GROUP BY 1, 2, 3, 4
), recorded AS (
    INSERT INTO completeness AS c (outlet_id, pollutant, kind, hour_start, received, valid)
    SELECT outlet_id, pollutant, kind, hour_start, received, valid
    FROM counted
    ORDER BY outlet_id, pollutant, kind, hour_start
    ON CONFLICT (outlet_id, pollutant, kind, hour_start) DO UPDATE
        SET received = c.received + EXCLUDED.received,
            valid = least(greatest(c.valid + EXCLUDED.valid, 0), c.received + EXCLUDED.received)
)"""

# The statement the merge ends with reads this count: > 0 means call recount_staged().
STALE_SQL = "(SELECT count(*) FROM counted WHERE stale)"

_RECOUNT = """
UPDATE completeness c SET received = n.received, valid = n.valid
FROM (
    SELECT t.outlet_id, t.pollutant, t.kind, t.hour_start, count(m.ts) AS received,
           count(m.ts) FILTER (WHERE {valid}) AS valid
    FROM ({touched}) t
    JOIN outlets o ON o.id = t.outlet_id
    LEFT JOIN measurements m ON m.outlet_id = t.outlet_id AND m.pollutant = t.pollutant
         AND m.kind = t.kind AND m.ts >= t.hour_start AND m.ts < t.hour_start + interval '1 hour'
    GROUP BY 1, 2, 3, 4
) n
WHERE (c.outlet_id, c.pollutant, c.kind, c.hour_start)
    = (n.outlet_id, n.pollutant, n.kind, n.hour_start)
"""


def recount_staged(cur: psycopg.Cursor[Any], staging_table: str) -> int:
    """Recount, from ``measurements``, every hour that ``staging_table`` (outlet_id, pollutant,
    kind, ts) touches; run it in the writing transaction after the merge. Rows updated."""
    touched = sql.SQL(
        "SELECT DISTINCT outlet_id, pollutant, kind, date_trunc('hour', ts, 'UTC') AS hour_start"
        " FROM {}"
    ).format(sql.Identifier(staging_table))
    cur.execute(sql.SQL(_RECOUNT).format(valid=sql.SQL(VALID_SQL), touched=touched))
    return cur.rowcount


def recount(conn: psycopg.Connection[Any], outlet_id: int, since: datetime, until: datetime) -> int:
    """Rebuild the record of one outlet's hours in [since, until) from ``measurements`` (a
    repair; ingest keeps the record without it). Rows written."""
    with conn.transaction():
        conn.execute(
            "DELETE FROM completeness WHERE outlet_id = %s AND hour_start >= %s"
            " AND hour_start < %s",
            (outlet_id, since, until),
        )
        query = sql.SQL(
            """INSERT INTO completeness (outlet_id, pollutant, kind, hour_start, received, valid)
SELECT m.outlet_id, m.pollutant, m.kind, date_trunc('hour', m.ts, 'UTC'), count(*),
       count(*) FILTER (WHERE {valid})
FROM measurements m JOIN outlets o ON o.id = m.outlet_id
WHERE m.outlet_id = %s AND m.ts >= %s AND m.ts < %s
GROUP BY 1, 2, 3, 4"""
        ).format(valid=sql.SQL(VALID_SQL))
        cur = conn.execute(query, (outlet_id, since, until))
        return cur.rowcount
