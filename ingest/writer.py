"""Writes a batch of decoded messages in ONE transaction, then says what changed.

- Accepted frames are COPYed into ``frames`` unless a frame with the same bytes is already
  there or earlier in the batch (a re-delivery or a re-send is a no-op: its values cite the
  copy stored).
- Their values are COPYed into staging and merged into ``measurements`` in SQL (its table
  ``measurement_rows``, the exact decimals split into mantissa and scale here, by
  :mod:`ingest.exact_pairs`): a new key is inserted, an identical value is a no-op, a changed
  value updates the row, bumps its ``revision`` and keeps the old and new values in
  ``measurement_revisions``. A batch of new keys only (newer than anything stored of their
  series), from new frames only, is COPYed straight into ``measurement_rows`` instead
  (_FRESH_REST): the same rows, counts and notices.
- Rejections go to ``dead_letters`` (idempotent on the raw bytes).
- The hours whose values changed are queued in ``evaluation_queue`` for the evaluator, and one
  ``NOTIFY sourcewatch_measurements`` per outlet whose data changed wakes it, on commit.
- In the same merge statement, the completeness record counts what was received and valid per
  outlet, pollutant, kind and hour (:mod:`schemas.completeness.record`): new keys and changes
  of validity only, so duplicates and revisions never count twice.

Database errors are translated once, here, into :class:`WriteError`.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg

from ingest.exact_pairs import split_text
from ingest.records import Accepted, Rejected
from schemas.completeness import record
from schemas.core import channels, pgcopy

__all__ = [
    "DEAD_LETTER_MAX_BYTES",
    "BatchResult",
    "Meanwhile",
    "WriteError",
    "Written",
    "write_batch",
    "write_isolating",
]

log = logging.getLogger(__name__)

# Work of the caller's own thread to do while the server inserts a batch's values, its longest
# wait (some 15 of a batch's 40 ms): the worker decodes its next batch then, instead of on a
# second thread that would take turns with the write on the GIL. It is called at most once per
# attempt at the batch, inside its COPY, so it must not use the writer's connection; it may be
# called again when the batch is written again, or not at all (no values, or a failure before).
Meanwhile = Callable[[], object]

# A dead letter keeps this much of what was rejected, and the whole length (raw_length): enough
# to see what a logger sent (the header — QN, ST, CN, PW, MN — and the start of CP of any packet;
# a packet's length field allows up to 9999 bytes), not a store for whatever a stream of garbage
# carries (issue 15). The digest is still that of the whole message.
DEAD_LETTER_MAX_BYTES = 4096

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_measurements (
    seq integer, outlet_id bigint, pollutant text, kind text, ts timestamptz,
    value_mantissa bigint, value_scale smallint, value_wide numeric,
    min_mantissa bigint, min_scale smallint, min_wide numeric,
    max_mantissa bigint, max_scale smallint, max_wide numeric,
    cou_mantissa bigint, cou_scale smallint, cou_wide numeric,
    zs_value_mantissa bigint, zs_value_scale smallint, zs_value_wide numeric,
    zs_min_mantissa bigint, zs_min_scale smallint, zs_min_wide numeric,
    zs_max_mantissa bigint, zs_max_scale smallint, zs_max_wide numeric,
    flag text, eflag text, sample_time timestamptz, extra jsonb, frame_id bigint
) ON COMMIT DELETE ROWS;
"""

# The batch is COPYed in binary (no text to format here and parse there), encoded here
# (schemas/core/pgcopy.py, _frame_tuples(), _encode_values()): the frames straight into `frames`,
# the values into measurement_rows or stage_measurements (above), in their column order.

# Each frame of the batch (digest and arrival time, arrays sent by the writer, in order): a new
# id from frames' sequence, and the id of its stored copy (the same bytes stored within 30 days
# before it) or NULL. The look-up is one scalar subquery per frame, an index scan of
# frames_digest_idx, which the planner runs per row as written (as `NOT EXISTS` or a join it
# became a hash join over a sequential scan of all of frames whenever frames had no statistics
# — before its first ANALYZE, or on a server whose autovacuum is off: 11 ms per batch of 500 at
# 20,000 frames stored, against 1.2 ms). The writer archives (COPYs into frames) each frame
# with no stored copy, the first of the batch with each digest, under its new id; the values
# of the others cite the copy stored or archived before them (their arrival time is its
# received_at: measurements keep no copy of it).
#
# The first parameter is the batch's earliest arrival: its 30 days back bound every frame's
# own, once per statement. On TimescaleDB (frames in one chunk a day) that bound leaves only
# the chunks of those 30 days to the look-ups, excluded once when the statement starts, not
# again in each of the batch's look-ups (see _NO_RUNTIME_EXCLUSION).
_FRAME_IDS = """
SELECT nextval((SELECT pg_get_serial_sequence('frames', 'id'))),
       (SELECT f.id FROM frames f
        WHERE f.digest = k.digest AND f.received_at >= k.received_at - interval '30 days'
          AND f.received_at >= %b::timestamptz - interval '30 days'
        LIMIT 1)
FROM unnest(%b::bytea[], %b::timestamptz[]) WITH ORDINALITY AS k(digest, received_at, n)
ORDER BY k.n
"""

# On TimescaleDB, the writer's two look-ups per row of a batch (_FRAME_IDS per frame, the probe
# _ALL_FRESH per series) run in a transaction that turns off TimescaleDB's runtime chunk
# exclusion: with it, each look-up (a rescan of the hypertable's ChunkAppend) tests every chunk
# left after the statement's start against the row's own bound again, which cost more than the
# index probes themselves (bench/README.md, "Tenth round: TimescaleDB's ingest": 2.5 against
# 1.2 ms a batch with one chunk; with a month of frames in daily chunks and a year of
# measurements in weekly ones 69 against 14 ms, and 27 against 1.6 ms for the probe). Each
# statement bounds its chunks once instead (its first parameter). The merge, which looks up
# stored values by key, turns it on again (_write_staged()). SET LOCAL: until the transaction
# ends.
_NO_RUNTIME_EXCLUSION = "SET LOCAL timescaledb.enable_runtime_exclusion = off"
_RUNTIME_EXCLUSION = "SET LOCAL timescaledb.enable_runtime_exclusion TO DEFAULT"

_FRAME_COLUMNS = (
    "id, received_at, transport, topic, outlet_id, mn, st, cn, qn, data_time, digest, raw,"
    " crc_received, crc_computed, crc_algorithm, crc_ok, length_ok, verdict, values_count"
)

# Each outlet's latest frame and latest data time of the batch (from arrays sent by the writer,
# one element per frame of the batch, re-sent ones too: outlet, received_at, data_time or NULL
# for a frame without values), its rows locked in the order of the outlets' ids.
_ACTIVITY = """
INSERT INTO outlet_activity (outlet_id, last_frame_at, last_data_at)
SELECT outlet_id, max(received_at), max(data_time)
FROM unnest(%b::bigint[], %b::timestamptz[], %b::timestamptz[]) AS f(outlet_id, received_at, data_time)
GROUP BY outlet_id ORDER BY outlet_id
ON CONFLICT (outlet_id) DO UPDATE SET
    last_frame_at = greatest(outlet_activity.last_frame_at, EXCLUDED.last_frame_at),
    last_data_at = greatest(outlet_activity.last_data_at, EXCLUDED.last_data_at)
"""

# measurement_rows, the table beneath the view `measurements` (migration 0024), keeps each of
# the seven exact-decimal columns as <column>_mantissa and <column>_scale (or, for a value no
# such pair holds, <column>_wide). The writer splits each value itself (ingest/exact_pairs.py,
# the same split as the SQL functions of 0024, exact_mantissa, exact_scale and exact_wide) and
# sends the pairs as int8/int2, cheaper to dump than a Decimal as numeric; staged and stored
# values are compared, and kept in revisions, joined back by exact_decimal. COPY and
# INSERT … ON CONFLICT cannot target the view, so the writer writes the table.
_EXACT = ("value", "min", "max", "cou", "zs_value", "zs_min", "zs_max")
_AS_SENT = ("flag", "eflag", "sample_time", "extra")
# measurement_rows' columns that the writer fills, in the order of stage_measurements after seq
# (and of _encode_values()).
_ROW_COLUMNS = (
    "outlet_id, pollutant, kind, ts, "
    + ", ".join(f"{c}_mantissa, {c}_scale, {c}_wide" for c in _EXACT)
    + ", flag, eflag, sample_time, extra, frame_id"
)
_INSERT_ROWS = f"INSERT INTO measurement_rows ({_ROW_COLUMNS})\n    SELECT {_ROW_COLUMNS}\n    FROM"


def _as_sent(row: str) -> str:
    """The value "as sent" of the measurement_rows or stage_measurements row ``row`` (a
    table name, alias or EXCLUDED): the seven numbers joined back, then flag, eflag,
    sample_time, extra."""
    return ", ".join(
        [f"exact_decimal({row}.{c}_mantissa, {row}.{c}_scale, {row}.{c}_wide)" for c in _EXACT]
        + [f"{row}.{c}" for c in _AS_SENT]
    )


# The evaluation queue: DO UPDATE (not DO NOTHING) so that an hour already queued is row-locked
# until these values commit; an evaluator draining the queue (FOR UPDATE SKIP LOCKED) then
# skips it rather than judging the hour without them.
#
# The merge. The value "as sent" is the tuple (value, min, max, cou, …, extra): a re-send
# that changes none of it is a no-op; a change bumps `revision` and is kept in
# measurement_revisions with the old and new value. All CTEs see one snapshot, so `old` holds
# the values from before the upsert (under a concurrent revision of the same key the upsert
# itself waits for the row lock; `old` is then the value this transaction saw).
#
# Most batches hold only values newer than anything stored of their series (outlet, pollutant,
# kind): a logger reporting, or one coming back after a while offline. _ALL_FRESH says so, by
# one look-up of the primary key per series of the batch; such a batch is merged with no
# `old` to look up and a plain INSERT instead of the upsert's speculative insertion
# (_merge(fresh=True): the same statement otherwise). Two ingest writers of one outlet queue on its
# outlet_activity row before the probe (_ACTIVITY), so no other writer stores one of these keys
# in between; should something else store one anyway, the INSERT meets a unique violation and
# write_batch() writes the batch again (_FRESH_ATTEMPTS), the key then no longer fresh.
_MERGE = """
WITH s AS (
    SELECT DISTINCT ON (outlet_id, pollutant, kind, ts) *
    FROM stage_measurements ORDER BY outlet_id, pollutant, kind, ts, seq DESC
), old AS (
    {old}
), up AS (
    {insert_rows} s
    {on_conflict}
    RETURNING outlet_id, pollutant, kind, ts, revision, frame_id, flag,
              exact_decimal(value_mantissa, value_scale, value_wide) AS value
), rev AS (
    INSERT INTO measurement_revisions
        (outlet_id, pollutant, kind, ts, revision, old, new, old_frame_id, new_frame_id)
    SELECT up.outlet_id, up.pollutant, up.kind, up.ts, up.revision,
           jsonb_build_object('value', old.value,
                              'min', old.min,
                              'max', old.max,
                              'cou', old.cou,
                              'zs_value', old.zs_value,
                              'zs_min', old.zs_min,
                              'zs_max', old.zs_max,
                              'flag', old.flag,
                              'eflag', old.eflag,
                              'sample_time', old.sample_time,
                              'extra', old.extra),
           jsonb_build_object({sent_exact}
                              'flag', s.flag,
                              'eflag', s.eflag,
                              'sample_time', s.sample_time,
                              'extra', s.extra),
           old.frame_id, up.frame_id
    FROM up JOIN old USING (outlet_id, pollutant, kind, ts)
            JOIN s USING (outlet_id, pollutant, kind, ts)
    RETURNING 1
), changed AS (
    SELECT outlet_id, array_agg(DISTINCT kind ORDER BY kind) AS kinds,
           min(ts) AS first_ts, max(ts) AS last_ts,
           count(*) FILTER (WHERE revision = 0) AS inserted,
           count(*) FILTER (WHERE revision > 0) AS revised
    FROM up GROUP BY outlet_id
), queued AS (
    INSERT INTO evaluation_queue (outlet_id, hour_start)
    SELECT DISTINCT outlet_id, {utc_hour} FROM up
    ON CONFLICT (outlet_id, hour_start) DO UPDATE SET queued_at = EXCLUDED.queued_at
), notified AS (
    SELECT pg_notify(%(channel)s, json_build_object(
               'outlet_id', outlet_id, 'kinds', kinds, 'start', first_ts, 'end', last_ts,
               'inserted', inserted, 'revised', revised)::text)
    FROM changed
){completeness}
SELECT (SELECT count(*) FROM up WHERE revision = 0) AS inserted,
       (SELECT count(*) FROM rev) AS revised,
       (SELECT count(*) FROM notified) AS notified,
       (SELECT count(*) FROM s) AS distinct_keys,
       {stale} AS stale
"""

_OLD = """SELECT m.* FROM measurements m JOIN s USING (outlet_id, pollutant, kind, ts)
    WHERE (m.value, m.min, m.max, m.cou, m.zs_value, m.zs_min, m.zs_max, m.flag, m.eflag, m.sample_time, m.extra)
          IS DISTINCT FROM
          ({staged})""".replace("{staged}", _as_sent("s"))
_NO_OLD = "SELECT m.* FROM measurements m WHERE false"
_ON_CONFLICT = """ON CONFLICT (outlet_id, pollutant, kind, ts) DO UPDATE
        SET {set_pairs}, flag = EXCLUDED.flag, eflag = EXCLUDED.eflag,
            sample_time = EXCLUDED.sample_time, extra = EXCLUDED.extra,
            frame_id = EXCLUDED.frame_id, received_at = NULL,
            revision = measurement_rows.revision + 1
        WHERE ({stored_as_sent}) IS DISTINCT FROM ({sent})""".format(
    set_pairs=", ".join(
        f"{c}_mantissa = EXCLUDED.{c}_mantissa, {c}_scale = EXCLUDED.{c}_scale,"
        f" {c}_wide = EXCLUDED.{c}_wide"
        for c in _EXACT
    ),
    stored_as_sent=_as_sent("measurement_rows"),
    sent=_as_sent("EXCLUDED"),
)

# The probe, from the batch's series and the first instant of each (arrays sent by the writer):
# true when every series' first instant is after the latest stored of that series (or none is),
# i.e. no series has a stored value at or after its first instant. Asked that way, each series
# is one forward look-up of the primary key that finds nothing in the usual case, with no visit
# of the table (asking for the latest stored instant visits its row: about 4 against 1.2 ms
# for the 180 series of a batch of 500 frames). The first parameter, the earliest of the first
# instants, bounds every series' look-up once per statement (see _NO_RUNTIME_EXCLUSION).
_ALL_FRESH = """
SELECT coalesce(bool_and(NOT EXISTS (SELECT FROM measurements m
                                     WHERE m.outlet_id = k.outlet_id AND m.pollutant = k.pollutant
                                       AND m.kind = k.kind AND m.ts >= k.first_ts
                                       AND m.ts >= %b::timestamptz)),
                true)
FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::timestamptz[])
    AS k(outlet_id, pollutant, kind, first_ts)
"""

# A fresh batch whose frames are all new (no value cites a frame stored before) skips staging:
# its values are COPYed straight into measurement_rows (a key sent twice in the batch fails
# there on the primary key, and write_batch() writes the batch again through the merge, which
# keeps the last one sent), and this statement does the rest of the merge from what the writer
# counted of them per outlet, pollutant, kind, UTC hour and flag (`g`: rows, rows with a value,
# first and last instant): the evaluation queue, one NOTIFY per outlet and, with
# record.GROUPED_CTES, the completeness record. Every key being new, the merge's `up` would
# hold every row at revision 0: what follows is the merge's own result for it.
_FRESH_REST = """
WITH g AS (
    SELECT * FROM unnest(%(outlet_id)b::bigint[], %(pollutant)b::text[], %(kind)b::text[],
                         %(hour_start)b::timestamptz[], %(flag)b::text[], %(received)b::bigint[],
                         %(with_value)b::bigint[], %(first_ts)b::timestamptz[],
                         %(last_ts)b::timestamptz[])
        AS g(outlet_id, pollutant, kind, hour_start, flag, received, with_value, first_ts, last_ts)
), changed AS (
    SELECT outlet_id, array_agg(DISTINCT kind ORDER BY kind) AS kinds,
           min(first_ts) AS first_ts, max(last_ts) AS last_ts, sum(received)::bigint AS inserted
    FROM g GROUP BY outlet_id
), queued AS (
    INSERT INTO evaluation_queue (outlet_id, hour_start)
    SELECT DISTINCT outlet_id, hour_start FROM g
    ON CONFLICT (outlet_id, hour_start) DO UPDATE SET queued_at = EXCLUDED.queued_at
), notified AS (
    SELECT pg_notify(%(channel)s, json_build_object(
               'outlet_id', outlet_id, 'kinds', kinds, 'start', first_ts, 'end', last_ts,
               'inserted', inserted, 'revised', 0::bigint)::text)
    FROM changed
){completeness}
SELECT count(*) FROM notified
"""
_FRESH_RESTS = {
    counted: _FRESH_REST.replace("{completeness}", record.GROUPED_CTES if counted else "")
    for counted in (False, True)
}


def _merge(*, fresh: bool, completeness: bool) -> str:
    """The merge statement: for a batch of fresh keys only or any batch; with the completeness
    record kept in the same statement (schemas/completeness/record.py), or without it (only to
    measure what the record costs: bench/ingest.py)."""
    return (
        _MERGE.replace("{old}", _NO_OLD if fresh else _OLD)
        .replace("{insert_rows}", _INSERT_ROWS)
        .replace("{sent_exact}", _SENT_EXACT)
        .replace("{utc_hour}", record.UTC_HOUR_SQL.replace("{ts}", "ts"))
        .replace("{on_conflict}", "" if fresh else _ON_CONFLICT)
        .replace("{completeness}", _completeness_ctes(fresh=fresh) if completeness else "")
        .replace("{stale}", record.STALE_SQL if completeness else "0")
    )


# The staged values joined back (the value as sent) for the new side of a revision.
_SENT_EXACT = "".join(
    f"'{c}', exact_decimal(s.{c}_mantissa, s.{c}_scale, s.{c}_wide),\n" + " " * 30 for c in _EXACT
)


def _completeness_ctes(*, fresh: bool) -> str:
    return record.MERGE_CTES_NEW_KEYS if fresh else record.MERGE_CTES


_MERGES = {
    (fresh, counted): _merge(fresh=fresh, completeness=counted)
    for fresh in (False, True)
    for counted in (False, True)
}

# How many times write_batch() tries a batch whose plain INSERT of fresh keys meets a key sent
# twice in the batch or stored meanwhile (see _MERGE, _FRESH_REST): _FRESH_REST first, then
# the merge, then the merge again; a unique violation on the last attempt is an error.
_FRESH_ATTEMPTS = 3


class WriteError(Exception):
    """The batch could not be committed; nothing of it was written. ``retryable`` says whether
    trying the same batch again later can succeed (connection lost, server down)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(slots=True)
class BatchResult:
    """What committed writes changed: of one batch, or the running totals of a store."""

    frames_new: int = 0
    frames_duplicate: int = 0
    values_inserted: int = 0
    values_revised: int = 0
    values_unchanged: int = 0
    dead_letters: int = 0
    outlets_notified: int = 0

    def add(self, other: BatchResult) -> None:
        """Count ``other`` in too."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True, slots=True)
class Written:
    """What :func:`write_isolating` committed."""

    accepted: list[Accepted]  # stored: only these may be answered as stored (9014)
    rejected: list[Rejected]  # dead letters: those given, then the frames the database refused
    result: BatchResult


def write_batch(
    conn: psycopg.Connection,
    accepted: Sequence[Accepted],
    rejected: Sequence[Rejected],
    *,
    completeness: bool = True,
    meanwhile: Meanwhile | None = None,
) -> BatchResult:
    """Write everything in one transaction and commit it. Raises :class:`WriteError`.

    ``conn`` must be in autocommit mode, so that the transaction here is the outermost one.
    ``completeness=False`` leaves the completeness record alone: only for the benchmark that
    measures what keeping it costs (bench/ingest.py); ingest always keeps it.
    ``meanwhile``: see :data:`Meanwhile`.
    """
    if not conn.autocommit:
        raise ValueError("write_batch() needs an autocommit connection")
    try:
        timescaledb = _uses_timescaledb(conn)
        attempts = _FRESH_ATTEMPTS
        direct = True
        while True:
            staged = conn in _STAGED
            try:
                with conn.transaction():
                    result = _write(
                        conn,
                        accepted,
                        rejected,
                        completeness,
                        staged=staged,
                        direct=direct,
                        timescaledb=timescaledb,
                        meanwhile=meanwhile,
                    )
                _STAGED.add(conn)
                return result
            except psycopg.errors.UniqueViolation as exc:
                attempts -= 1
                if not attempts or not _fresh_key_taken(exc):
                    raise
                log.warning(
                    "a key of the batch was %s; writing the batch again",
                    "sent twice in it or stored meanwhile" if direct else "stored meanwhile",
                )
                direct = False
            except psycopg.errors.UndefinedTable:
                if not staged:
                    raise
                _STAGED.discard(conn)  # the staging tables went (DISCARD TEMP): create them again
    except psycopg.OperationalError as exc:
        raise WriteError(f"database unavailable: {exc}", retryable=True) from exc
    except psycopg.errors.SerializationFailure as exc:
        raise WriteError(f"conflict: {exc}", retryable=True) from exc
    except psycopg.errors.DeadlockDetected as exc:
        raise WriteError(f"deadlock: {exc}", retryable=True) from exc
    except psycopg.Error as exc:
        raise WriteError(f"write failed: {exc}", retryable=False) from exc


# The connections whose session has the staging tables (created by a committed transaction)
# and whose adapters send schemas/core/pgcopy.py's arrays: the CREATE … IF NOT EXISTS is sent, and the
# arrays registered, once per session, not once per batch.
_STAGED: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()
# Whether each connection's database has TimescaleDB (_NO_RUNTIME_EXCLUSION), asked once per
# session.
_TIMESCALEDB: weakref.WeakKeyDictionary[psycopg.Connection, bool] = weakref.WeakKeyDictionary()


def _uses_timescaledb(conn: psycopg.Connection) -> bool:
    known = _TIMESCALEDB.get(conn)
    if known is None:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb')"
        ).fetchone()
        known = _TIMESCALEDB[conn] = bool(row and row[0])
    return known


# A batch's instants as microseconds since the epoch (an UTC hour boundary): the UTC hour of
# one, as record.UTC_HOUR_SQL bins it, is `us - us % _HOUR` (floored, also before 1970).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HOUR = 3_600_000_000
# The writer's count of a batch's values per (outlet_id, pollutant, kind, UTC hour, flag, has a
# value): [rows, first and last instant in microseconds since the epoch].
_Group = list[Any]


def _fresh_key_taken(exc: psycopg.errors.UniqueViolation) -> bool:
    """Whether ``exc`` is the COPY or plain INSERT of fresh keys (_write_fresh, the fresh
    merge) meeting a key of ``measurement_rows`` stored after the probe or sent twice in the
    batch (on TimescaleDB, a chunk's copy of the primary key)."""
    return (exc.diag.constraint_name or "").endswith("measurement_rows_pkey")


def _write(
    conn: psycopg.Connection,
    accepted: Sequence[Accepted],
    rejected: Sequence[Rejected],
    completeness: bool,
    *,
    staged: bool = False,
    direct: bool = True,
    timescaledb: bool = False,
    meanwhile: Meanwhile | None = None,
) -> BatchResult:
    result = BatchResult()
    if not staged:  # the session's first batch (a cursor takes the adapters it finds)
        pgcopy.register_arrays(conn.adapters)
    cur = conn.cursor()
    if not staged:
        cur.execute(_STAGING)
    if accepted and timescaledb:
        cur.execute(_NO_RUNTIME_EXCLUSION)
    if accepted:
        fields = _frame_fields(accepted)
        cited, archived = _archive_plan(cur, accepted, fields)
        texts = _Fields(functools.partial(pgcopy.text, encoding=conn.info.encoding))
        if archived:
            with cur.copy(f"COPY frames ({_FRAME_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                _write_tuples(copy, _frame_tuples(archived, texts))
        result.frames_new = len(archived)
        result.frames_duplicate = len(accepted) - len(archived)
        # Two statements, one round trip: queue on the outlets' activity rows (so no other
        # writer of these outlets stores a key until this commits), then probe. The first is
        # sent at once, and the server runs it while the batch's values are encoded and
        # counted here (the probe needs the count).
        probe = conn.cursor()
        with conn.pipeline():
            cur.execute(_ACTIVITY, _activity(accepted, fields))
            values, groups, first = _encode_values(cited, accepted, texts)
            if first:
                probe.execute(_ALL_FRESH, _probe_params(first, texts))
        if groups:
            fresh = bool((probe.fetchone() or (False,))[0])
            if fresh and direct and not result.frames_duplicate:
                _write_fresh(cur, values, groups, completeness, result, texts, meanwhile)
            else:
                if timescaledb:
                    cur.execute(_RUNTIME_EXCLUSION)
                _write_staged(cur, values, fresh, completeness, result, meanwhile)
    if rejected:
        cur.executemany(
            "INSERT INTO dead_letters (received_at, transport, topic, mn, reason, detail, raw, "
            "raw_length, digest) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (digest) DO NOTHING",
            [
                (
                    r.received_at,
                    r.transport,
                    r.topic,
                    r.mn,
                    r.reason,
                    r.detail[:DEAD_LETTER_MAX_BYTES],
                    r.raw[:DEAD_LETTER_MAX_BYTES],
                    len(r.raw),
                    r.digest,
                )
                for r in rejected
            ],
        )
        result.dead_letters = len(rejected)
    return result


class _FrameFields(NamedTuple):
    """A frame's fields as binary fields (schemas/core/pgcopy.py), encoded once per batch: for the
    ids' look-up, the activity and the frames' COPY."""

    received_at: bytes
    outlet_id: bytes
    data_time: bytes
    digest: bytes


def _frame_fields(accepted: Sequence[Accepted]) -> list[_FrameFields]:
    outlets = _Fields(pgcopy.int8)
    data_times = _Fields(pgcopy.timestamptz)  # the frames of one moment share theirs
    timestamptz, bytea = pgcopy.timestamptz, pgcopy.bytea
    return [
        _FrameFields(
            timestamptz(a.received_at),
            outlets[a.outlet_id],
            data_times[a.data_time],
            bytea(a.digest),
        )
        for a in accepted
    ]


def _archive_plan(
    cur: psycopg.Cursor[Any], accepted: Sequence[Accepted], fields: list[_FrameFields]
) -> tuple[list[int], list[tuple[int, Accepted, _FrameFields]]]:
    """Which frames of the batch to archive (_FRAME_IDS): the id each frame's values cite (its
    own new id, or its stored copy's, or that of the first frame of the batch with the same
    bytes), and the frames to archive with their new ids, in the order received."""
    rows = cur.execute(
        _FRAME_IDS,
        (
            min(a.received_at for a in accepted),
            pgcopy.array(pgcopy.ByteaArray, [f.digest for f in fields]),
            pgcopy.array(pgcopy.TimestamptzArray, [f.received_at for f in fields]),
        ),
    ).fetchall()
    cited: list[int] = []
    archived: list[tuple[int, Accepted, _FrameFields]] = []
    first: dict[bytes, int] = {}  # the id archived for each digest of the batch
    for (new_id, stored_id), a, f in zip(rows, accepted, fields, strict=True):
        if stored_id is None:
            stored_id = first.get(a.digest)
            if stored_id is None:
                first[a.digest] = new_id
                archived.append((new_id, a, f))
                stored_id = new_id
        cited.append(stored_id)
    return cited, archived


def _activity(accepted: Sequence[Accepted], fields: list[_FrameFields]) -> list[pgcopy.Array]:
    """_ACTIVITY's arrays."""
    null = pgcopy.NULL
    return [
        pgcopy.array(pgcopy.Int8Array, [f.outlet_id for f in fields]),
        pgcopy.array(pgcopy.TimestamptzArray, [f.received_at for f in fields]),
        pgcopy.array(
            pgcopy.TimestamptzArray,
            [f.data_time if a.rows else null for a, f in zip(accepted, fields, strict=True)],
        ),
    ]


class _Fields(dict[Any, bytes]):
    """Each key's binary COPY field(s), encoded on first use (a batch's texts, its values as
    printed): looked up by ``fields[key]``, at the cost of a dict look-up once encoded."""

    __slots__ = ("_encode",)

    def __init__(self, encode: Callable[[Any], bytes]) -> None:
        super().__init__()
        self._encode = encode

    def __missing__(self, key: Any) -> bytes:
        encoded = self[key] = self._encode(key)
        return encoded


def _frame_tuples(frames: list[tuple[int, Accepted, _FrameFields]], texts: _Fields) -> list[bytes]:
    """Frames (each with its id and fields) as binary COPY tuples of frames' _FRAME_COLUMNS."""
    int8, bytea, boolean = pgcopy.int8, pgcopy.bytea, pgcopy.boolean
    return [
        b"".join(
            (
                _FRAME_FIELDS,
                int8(fid),
                received_at,
                texts[a.transport],
                texts[a.topic],
                outlet_id,
                texts[a.mn],
                texts[a.st],
                texts[a.cn],
                texts[a.qn],
                data_time,
                digest,
                bytea(a.raw),
                texts[a.crc_received],
                texts[a.crc_computed],
                texts[a.crc_algorithm],
                boolean(a.crc_ok),
                boolean(a.length_ok),
                _STORED if a.rows else _NO_DATA,
                pgcopy.int4(len(a.rows)),
            )
        )
        for fid, a, (received_at, outlet_id, data_time, digest) in frames
    ]


def _write_tuples(copy: psycopg.Copy, tuples: list[bytes]) -> None:
    """Send ``tuples`` (binary COPY tuples) as a whole COPY, signature to trailer, in chunks of
    _CHUNK tuples (each written at once, not a buffer of the whole batch)."""
    copy.write(pgcopy.SIGNATURE)
    for i in range(0, len(tuples), _CHUNK):
        copy.write(b"".join(tuples[i : i + _CHUNK]))
    copy.write(pgcopy.TRAILER)


_CHUNK = 200  # 200 values are about 35 kB, 200 frames about 100 kB
_FRAME_FIELDS = pgcopy.field_count(19)
_STORED = pgcopy.text("stored", "ascii")
_NO_DATA = pgcopy.text("no-data", "ascii")


def _exact_fields(text: str) -> bytes:
    """The three fields (mantissa, scale, wide: ingest/exact_pairs.py) of the exact decimal
    that prints as ``text`` (str() of a Decimal gives it back exactly, digits and exponent)."""
    mantissa, scale, wide = split_text(text)
    return pgcopy.int8(mantissa) + pgcopy.int2(scale) + pgcopy.numeric(wide)


_NULL_EXACT = pgcopy.NULL * 3
# A value's tuple: measurement_rows' columns that the writer fills (_ROW_COLUMNS), or
# stage_measurements' (seq first).
_VALUE_FIELDS = pgcopy.field_count(len(_ROW_COLUMNS.split(",")))
_STAGED_FIELDS = pgcopy.field_count(len(_ROW_COLUMNS.split(",")) + 1)


def _encode_values(
    cited: list[int], accepted: Sequence[Accepted], texts: _Fields
) -> tuple[list[bytes], dict[tuple[Any, ...], _Group], dict[tuple[int, str, str], int]]:
    """One pass over the batch's values: each as a binary COPY tuple of _ROW_COLUMNS (each
    exact decimal as mantissa, scale and wide), in the order sent; their count per series, UTC
    hour and flag; and the first instant of each series (instants as microseconds since the
    epoch, computed once per frame: its values share their instant). ``cited``: the frame id
    each frame's values cite (_archive_plan()). A text or value met before in the batch is
    encoded once."""
    exact = _Fields(_exact_fields)
    null3 = _NULL_EXACT
    timestamptz, jsonb, null = pgcopy.timestamptz, pgcopy.jsonb, pgcopy.NULL
    tuples: list[bytes] = []
    groups: dict[tuple[Any, ...], _Group] = {}
    ts: datetime | None = None
    us = hour = 0
    ts_field = b""
    for fid, a in zip(cited, accepted, strict=True):
        oid = a.outlet_id
        head = _VALUE_FIELDS + pgcopy.int8(oid)
        frame_id = pgcopy.int8(fid)
        for r in a.rows:
            if r.ts is not ts:
                ts = r.ts
                us = (ts - _EPOCH) // _MICROSECOND
                hour = us - us % _HOUR
                ts_field = pgcopy.timestamptz_us(us)
            value = r.value
            tuples.append(
                b"".join(
                    (
                        head,
                        texts[r.pollutant],
                        texts[r.kind],
                        ts_field,
                        # the seven of _EXACT, in order
                        null3 if value is None else exact[str(value)],
                        null3 if r.min is None else exact[str(r.min)],
                        null3 if r.max is None else exact[str(r.max)],
                        null3 if r.cou is None else exact[str(r.cou)],
                        null3 if r.zs_value is None else exact[str(r.zs_value)],
                        null3 if r.zs_min is None else exact[str(r.zs_min)],
                        null3 if r.zs_max is None else exact[str(r.zs_max)],
                        texts[r.flag],
                        texts[r.eflag],
                        timestamptz(r.sample_time),
                        jsonb(r.extra) if r.extra else null,
                        frame_id,
                    )
                )
            )
            k = (oid, r.pollutant, r.kind, hour, r.flag, value is not None)
            g = groups.get(k)
            if g is None:
                groups[k] = [1, us, us]
                continue
            g[0] += 1
            if us < g[1]:
                g[1] = us
            elif us > g[2]:
                g[2] = us
    first: dict[tuple[int, str, str], int] = {}
    for (oid, pollutant, kind, *_), g in groups.items():
        series = (oid, pollutant, kind)
        if series not in first or g[1] < first[series]:
            first[series] = g[1]
    return tuples, groups, first


# _FRESH_REST's arrays, one per column of `g`, and their types; the probe's (_ALL_FRESH).
_GROUP_COLUMNS = (
    "outlet_id",
    "pollutant",
    "kind",
    "hour_start",
    "flag",
    "received",
    "with_value",
    "first_ts",
    "last_ts",
)
_GROUP_ARRAYS = (
    pgcopy.Int8Array,
    pgcopy.TextArray,
    pgcopy.TextArray,
    pgcopy.TimestamptzArray,
    pgcopy.TextArray,
    pgcopy.Int8Array,
    pgcopy.Int8Array,
    pgcopy.TimestamptzArray,
    pgcopy.TimestamptzArray,
)
_SERIES_ARRAYS = (pgcopy.Int8Array, pgcopy.TextArray, pgcopy.TextArray, pgcopy.TimestamptzArray)


def _arrays(
    kinds: tuple[type[pgcopy.Array], ...], rows: Iterable[tuple[bytes, ...]]
) -> list[pgcopy.Array]:
    """``rows`` (tuples of fields, encoded by schemas/core/pgcopy.py) as one array per column, of
    ``kinds``: for unnest(), in binary, encoded here (no JSON or array text to write here and
    parse there, no dumper per element)."""
    columns = list(zip(*rows, strict=True)) or [() for _ in kinds]
    return [pgcopy.array(kind, list(c)) for kind, c in zip(kinds, columns, strict=True)]


def _probe_params(first: dict[tuple[int, str, str], int], texts: _Fields) -> list[Any]:
    """_ALL_FRESH's parameters from the first instant of each series (outlet_id, pollutant,
    kind) in microseconds since the epoch (_encode_values()): the earliest of them, then the
    series' arrays."""
    return [
        _EPOCH + min(first.values()) * _MICROSECOND,
        *_arrays(
            _SERIES_ARRAYS,
            (
                (pgcopy.int8(oid), texts[p], texts[k], pgcopy.timestamptz_us(t))
                for (oid, p, k), t in first.items()
            ),
        ),
    ]


def _write_fresh(
    cur: psycopg.Cursor[Any],
    values: list[bytes],
    groups: dict[tuple[Any, ...], _Group],
    completeness: bool,
    result: BatchResult,
    texts: _Fields,
    meanwhile: Meanwhile | None = None,
) -> None:
    """A batch of new keys only, from new frames only: COPY its values (_encode_values()) into
    measurement_rows and do the rest of the merge from ``groups`` (_FRESH_REST). A key sent
    twice in the batch makes the COPY fail on the primary key: write_batch() then writes the
    batch again through the merge.

    The values are COPYed sorted by their bytes, which puts each series' values together in
    the order of their instants (a tuple starts with outlet_id, pollutant, kind, ts; the order
    of the series among themselves does not matter, nor that instants before 2000 sort last): each insertion into the primary key then
    lands on the leaf page of the one before, still in the CPU's cache, instead of a page of
    another of the batch's ~180 series (the server's CPU per batch about 10 % lower; 0.6 ms
    here per batch of 4,500 values). Rows the same, in the order the merge inserts them."""
    values.sort()
    with cur.copy(f"COPY measurement_rows ({_ROW_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        _write_tuples(copy, values)
        # Made while the server still inserts the rows sent (the COPY ends on leaving the block).
        int8, timestamptz = pgcopy.int8, pgcopy.timestamptz_us
        params: dict[str, Any] = dict(
            zip(
                _GROUP_COLUMNS,
                _arrays(
                    _GROUP_ARRAYS,
                    (
                        (
                            int8(oid),
                            texts[p],
                            texts[k],
                            timestamptz(hour),
                            texts[flag],
                            int8(n),
                            int8(n if valued else 0),
                            timestamptz(t0),
                            timestamptz(t1),
                        )
                        for (oid, p, k, hour, flag, valued), (n, t0, t1) in groups.items()
                    ),
                ),
                strict=True,
            ),
            channel=channels.MEASUREMENTS,
        )
        if meanwhile is not None:
            meanwhile()
    row = cur.execute(_FRESH_RESTS[completeness], params).fetchone()
    result.values_inserted = sum(g[0] for g in groups.values())
    result.outlets_notified = row[0] if row else 0


def _write_staged(
    cur: psycopg.Cursor[Any],
    values: list[bytes],
    fresh: bool,
    completeness: bool,
    result: BatchResult,
    meanwhile: Meanwhile | None = None,
) -> None:
    """Any batch: COPY its values (_encode_values()) into staging and merge them (_MERGE)."""
    skip = len(_VALUE_FIELDS)
    staged = [  # seq first: the values numbered in the order sent
        b"".join((_STAGED_FIELDS, pgcopy.int4(seq), v[skip:])) for seq, v in enumerate(values, 1)
    ]
    with cur.copy("COPY stage_measurements FROM STDIN (FORMAT BINARY)") as copy:
        _write_tuples(copy, staged)
        if meanwhile is not None:
            meanwhile()
    inserted, revised, notified, distinct, stale = cur.execute(
        _MERGES[fresh, completeness], {"channel": channels.MEASUREMENTS}
    ).fetchone() or (0, 0, 0, 0, 0)
    if stale:  # a revision raced another worker's: recount the batch's hours
        record.recount_staged(cur, "stage_measurements")
    result.values_inserted = inserted
    result.values_revised = revised
    result.values_unchanged = distinct - inserted - revised
    result.outlets_notified = notified


def write_isolating(
    conn: psycopg.Connection,
    accepted: Sequence[Accepted],
    rejected: Sequence[Rejected],
    meanwhile: Meanwhile | None = None,
) -> Written:
    """:func:`write_batch`, and when the database refuses the batch for a non-transient reason,
    write its frames one by one: a frame that still fails becomes a dead letter (reason
    'store') instead of being kept (so it is never answered as stored). Returns what was kept
    and rejected; the arguments are left as they are. Retryable errors propagate with nothing
    written (except the frames already committed one by one, which a retry finds stored).
    ``meanwhile`` is given to the batch's write only (:data:`Meanwhile`)."""
    try:
        batch = write_batch(conn, accepted, rejected, meanwhile=meanwhile)
        return Written(list(accepted), list(rejected), batch)
    except WriteError as exc:
        if exc.retryable:
            raise
        log.error("batch refused (%s); writing its frames one by one", exc)
    total = BatchResult()
    kept: list[Accepted] = []
    refused = list(rejected)
    for a in accepted:
        try:
            total.add(write_batch(conn, [a], []))
        except WriteError as exc:
            if exc.retryable:
                raise
            refused.append(
                Rejected(a.transport, a.topic, a.received_at, a.raw, "store", str(exc), a.mn)
            )
            continue
        kept.append(a)
    total.add(write_batch(conn, [], refused))
    return Written(kept, refused, total)
