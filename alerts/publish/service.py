"""The publisher: turns registry changes, daily means, exceedance cases and hourly means into
automatic disclosure records (``schemas.disclosure.workflow.publish_automatic``).

:meth:`Publisher.run_once` looks only at what changed since its previous run — enterprises
whose registry rows changed, means computed since (watermarks on ``computed_at``), days that
ended, cases with new events and open cases — and skips inputs whose fingerprint it already
published; ``publish_automatic`` itself adds a version only when the content differs. Each
record is built and published in its own transaction (a savepoint inside the caller's), so
one bad enterprise or day is logged and skipped without blocking the others; it is retried
on the next run.

Daily summaries, totals and tax estimates wait until their means have settled (not computed
again for ``settle``, by the server's clock), so that a backlog being judged over several
passes gives one version, not one per pass; exceedance notices and profiles do not wait.

The current month's totals and tax estimate are published with data through the end of
yesterday and refreshed when the local day changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import Notify

from alerts.publish._util import local_midnight
from alerts.publish.daily import daily_candidates, publish_daily
from alerts.publish.exceedances import exceedance_candidates, publish_notice
from alerts.publish.profiles import enterprise_fingerprints, publish_profile
from alerts.publish.tax import publish_tax
from alerts.publish.totals import month_period, publish_totals
from alerts.settings import AlertsSettings
from schemas.core import channels
from schemas.core.listen import Listener
from schemas.disclosure.automatic import AutoResult
from schemas.disclosure.keys import SigningKeyError, default_key_path
from schemas.disclosure.ledger import LedgerError
from schemas.disclosure.pins import PinError
from schemas.disclosure.signing import sign_with_key_file

__all__ = ["Publisher", "PublisherOptions"]

log = logging.getLogger(__name__)

TYPES = (
    "enterprise_profile",
    "daily_summary",
    "exceedance_notice",
    "emission_totals",
    "tax_estimate",
)


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    database_url: str
    interval_s: float
    day_grace: timedelta  # daily summaries wait this long after the day
    timezone: str  # months of totals and tax estimates
    settle: timedelta  # what is made of means waits until they have not changed for this long
    first_run_days: int = 35  # daily summaries re-checked when the process starts
    first_run_months: int = 1  # months before the current one re-checked at start
    margin: timedelta = timedelta(minutes=2)  # watermark overlap for late commits
    signing_key: Path | None = None  # signs the publication log's daily roots when it exists

    @classmethod
    def from_settings(cls, s: AlertsSettings) -> PublisherOptions:
        return cls(
            database_url=s.database,
            interval_s=s.evaluation_sweep_s,
            day_grace=timedelta(minutes=s.day_grace_minutes),
            timezone=s.timezone,
            settle=timedelta(minutes=s.publish_settle_minutes),
            signing_key=default_key_path(s.signing_key_file),
        )


class Publisher:
    def __init__(
        self,
        options: PublisherOptions,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.options = options
        self.tz = ZoneInfo(self.options.timezone)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._seen: dict[str, str] = {}  # record key → fingerprint of what was published
        self._hourly_mark: datetime | None = None
        self._daily_mark: datetime | None = None
        self._event_mark = 0
        self._quota_mark = 0
        self._months_held: set[tuple[int, date]] = set()  # (enterprise, month) not settled yet
        self._last_day: date | None = None
        self._signed_through: date | None = None
        self.failures = 0
        self._listener = Listener.for_database(
            self.options.database_url,
            [channels.CASE_EVENTS],
            application_name="sourcewatch.publisher",
            wait_s=self.options.interval_s,
            name="publisher",
        )

    # --- one pass --------------------------------------------------------------------------

    def run_once(self, conn: psycopg.Connection[Any], now: datetime) -> dict[str, int]:
        """Publish what changed; returns the new versions per record type."""
        counts = dict.fromkeys(TYPES, 0)
        today = now.astimezone(self.tz).date()
        first = self._last_day is None

        for enterprise_id, fp in enterprise_fingerprints(conn).items():
            key = f"enterprise_profile:{enterprise_id}"
            publish = partial(publish_profile, conn, enterprise_id, today)
            self._step(conn, counts, "enterprise_profile", key, f"{fp}|{today}", publish)

        cases, self._event_mark = exceedance_candidates(conn, self._event_mark)
        for case_id, fp in cases:
            publish = partial(publish_notice, conn, case_id)
            self._step(
                conn, counts, "exceedance_notice", f"exceedance_notice:{case_id}", fp, publish
            )

        ended_since = (
            today - timedelta(days=self.options.first_run_days)
            if self._last_day is None
            else self._last_day - timedelta(days=2)
        )
        daily_mark = self._mark(conn, "daily_means", self._daily_mark, below_settled=True)
        for outlet_id, day, fp in daily_candidates(
            conn,
            now=now,
            grace=self.options.day_grace,
            computed_since=self._daily_mark,
            ended_since=ended_since,
            settle=self.options.settle,
        ):
            key = f"daily_summary:{outlet_id}:{day.isoformat()}"
            publish = partial(publish_daily, conn, outlet_id, day)
            self._step(conn, counts, "daily_summary", key, fp, publish)
        self._daily_mark = daily_mark

        hourly_mark = self._mark(conn, "hourly_means", self._hourly_mark)
        months = self._months_held | self._month_candidates(conn, now, today, first)
        self._months_held = months & self._unsettled_months(conn, today) if months else set()
        for enterprise_id, month in sorted(months - self._months_held):
            period = month_period(month, now, self.tz)
            if period is None:
                continue
            fp = f"{period.cutoff.isoformat()}|{hourly_mark}|{self._quota_mark}"
            suffix = f"{enterprise_id}:{period.year}-{period.month:02d}"
            publish = partial(publish_totals, conn, enterprise_id, period, self.tz)
            self._step(conn, counts, "emission_totals", f"emission_totals:{suffix}", fp, publish)
            publish = partial(publish_tax, conn, enterprise_id, period, self.tz)
            self._step(conn, counts, "tax_estimate", f"tax_estimate:{suffix}", fp, publish)
        self._hourly_mark = hourly_mark
        self._last_day = today
        return counts

    def _step(
        self,
        conn: psycopg.Connection[Any],
        counts: dict[str, int],
        record_type: str,
        key: str,
        fingerprint: str,
        publish: Callable[[], AutoResult | None],
    ) -> None:
        """Publish one record in its own transaction unless its inputs are unchanged."""
        if self._seen.get(key) == fingerprint:
            return
        try:
            with conn.transaction():
                result = publish()
        except psycopg.OperationalError:
            raise
        except Exception:
            self.failures += 1
            log.exception("publishing %s failed; retried on the next run", key)
            return
        self._seen[key] = fingerprint
        if result is not None and result.changed:
            counts[record_type] += 1

    def _mark(
        self,
        conn: psycopg.Connection[Any],
        table: str,
        since: datetime | None,
        *,
        below_settled: bool = False,
    ) -> datetime | None:
        """The new watermark: the latest computed_at, less the margin for late commits. With
        ``below_settled``, means computed within the settle time (by the server's clock) stay
        above it: their days are looked at again until they have settled
        (:func:`daily_candidates`)."""
        query = {
            "hourly_means": "SELECT max(computed_at), statement_timestamp() FROM hourly_means",
            "daily_means": "SELECT max(computed_at), statement_timestamp() FROM daily_means",
        }[table]
        row = conn.execute(query).fetchone()
        assert row is not None  # an aggregate without GROUP BY: one row
        latest, server_now = row
        if latest is None:
            return since
        if below_settled:
            latest = min(latest, server_now - self.options.settle)
        mark = latest - self.options.margin
        return mark if since is None or mark > since else since

    def _month_candidates(
        self, conn: psycopg.Connection[Any], now: datetime, today: date, first: bool
    ) -> set[tuple[int, date]]:
        """(enterprise, first day of a local month) whose totals may have changed."""
        out: set[tuple[int, date]] = set()
        this_month = today.replace(day=1)
        day_changed = first or self._last_day != today
        if day_changed:  # the current month gains a day; a month that just ended completes
            months = {this_month, (today - timedelta(days=1)).replace(day=1)}
            if first:
                m = this_month
                for _ in range(self.options.first_run_months):
                    m = (m - timedelta(days=1)).replace(day=1)
                    months.add(m)
            enterprises = conn.execute("SELECT DISTINCT enterprise_id FROM outlets").fetchall()
            out |= {(int(e), m) for (e,) in enterprises for m in months}
        if self._hourly_mark is not None:  # late or revised hours before today
            rows = conn.execute(
                "SELECT DISTINCT o.enterprise_id,"
                " date_trunc('month', h.hour_start AT TIME ZONE %s)::date"
                " FROM hourly_means h JOIN outlets o ON o.id = h.outlet_id"
                " WHERE h.computed_at > %s AND h.hour_start < %s",
                (self.options.timezone, self._hourly_mark, local_midnight(today, self.tz)),
            ).fetchall()
            for enterprise_id, month in rows:
                out |= {(int(enterprise_id), m) for m in _year_to_date(month, this_month)}
        rows = conn.execute(
            "SELECT id, enterprise_id, content->>'year' FROM disclosure_records"
            " WHERE id > %s AND record_type = 'emission_quota' AND enterprise_id IS NOT NULL"
            " ORDER BY id",
            (self._quota_mark,),
        ).fetchall()
        for record_id, enterprise_id, year in rows:
            self._quota_mark = max(self._quota_mark, int(record_id))
            if year and year.isdigit() and int(year) <= today.year:
                last = this_month if int(year) == today.year else date(int(year), 12, 1)
                out |= {(int(enterprise_id), m) for m in _year_to_date(date(int(year), 1, 1), last)}
        return out

    def _unsettled_months(
        self, conn: psycopg.Connection[Any], today: date
    ) -> set[tuple[int, date]]:
        """(enterprise, month) whose totals and tax estimate wait: an hourly mean of theirs before
        today was computed within the settle time (by the server's clock, which wrote
        ``computed_at``). A month's late hour holds the later months of its year too (their
        year-to-date figures include it)."""
        if not self.options.settle:
            return set()
        rows = conn.execute(
            "SELECT DISTINCT o.enterprise_id,"
            " date_trunc('month', h.hour_start AT TIME ZONE %s)::date"
            " FROM hourly_means h JOIN outlets o ON o.id = h.outlet_id"
            " WHERE h.computed_at > statement_timestamp() - %s AND h.hour_start < %s",
            (self.options.timezone, self.options.settle, local_midnight(today, self.tz)),
        ).fetchall()
        this_month = today.replace(day=1)
        return {
            (int(enterprise_id), m)
            for enterprise_id, month in rows
            for m in _year_to_date(month, this_month)
        }

    def sign_days(self, conn: psycopg.Connection[Any], now: datetime) -> int:
        """Sign the roots of the publication log's completed days (once a day); how many.
        Without a key file nothing is signed (and verification fails once a day is complete).
        A log the signer refuses (it does not extend the roots signed before …) is logged as
        an error and tried again the next day or at the next start."""
        key_file = self.options.signing_key
        through = now.astimezone(self.tz).date() - timedelta(days=1)
        if key_file is None or self._signed_through == through or not key_file.exists():
            return 0
        self._signed_through = through
        try:
            roots = sign_with_key_file(conn, key_file, through=through)
        except (LedgerError, PinError, SigningKeyError) as exc:
            log.error("publication log not signed: %s", exc)
            return 0
        if roots:
            log.info("signed %d daily root(s) of the publication log", len(roots))
        return len(roots)

    # --- the loop --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """The loop holds its database connections (readiness)."""
        return self._listener.connected

    def run(self, stop: threading.Event) -> None:
        """Run every ``interval_s`` and whenever a case event is announced, until stopped;
        a lost database connection is reopened."""

        def wake(conn: psycopg.Connection[Any], _: Sequence[Notify]) -> None:
            counts = self.run_once(conn, self.clock())
            self.sign_days(conn, self.clock())
            if any(counts.values()):
                log.info("published: %s", {k: v for k, v in counts.items() if v})

        self._listener.run(stop, wake)


def _year_to_date(month: date, last: date) -> list[date]:
    """``month`` and the later months of its year up to ``last``: the months whose year-to-date
    figures a change in ``month`` reaches (up to the current one), or a year's quota (from
    January)."""
    months = []
    m = month
    while m <= last and m.year == month.year:
        months.append(m)
        m = (m + timedelta(days=32)).replace(day=1)
    return months
