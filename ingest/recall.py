"""History recall (反控补数, issue 14): ask data loggers again for what never arrived.

Every ``recall_every_s`` the process that holds the loggers' connections — the MQTT ingest
worker (``hj212/{MN}/down``) or the TCP gateway (the logger's open socket) — does one
:meth:`Recaller.cycle`:

1. **gaps** (:func:`schemas.recall.gaps.find_gaps`: minute and hour records over
   ``recall_window_h``, day records over :data:`DAY_WINDOW`) older than ``recall_after_s``
   (time for late uploads to heal them by themselves) become waiting requests, one per
   interval and record kind, never twice (:func:`schemas.recall.requests.open_requests`);
2. **answers**: a sent request whose 9012 (ExeRtn) came, or whose time to answer ran out, is
   settled: its 9011 (QnRtn) and 9012 are read from the frames ingest stored (the replies
   carry the request's QN), the data packets for the interval are counted, and the records
   still missing are counted again. None missing: healed. Else refused (QnRtn ≠ 1, or no data
   and ExeRtn ≠ 1), no answer, or partial; retried after a backoff that doubles, and failed
   after ``recall_max_tries`` with a ``recall-failed`` system alert;
3. **sending**: due requests, one in flight per outlet and ``recall_max_in_flight`` in all,
   for outlets this process can reach (MQTT: the outlet's latest frame came over MQTT; TCP:
   its logger is connected to this gateway), go out as the HJ 212 history query
   ``QN=…;ST=…;CN=2051;PW=…;MN=…;Flag=5;CP=&&BeginTime=…;EndTime=…&&`` (CN 2061 for hour,
   2031 for day records; local times, EndTime inclusive; Flag's A bit asks for the answers).

The recalled data packets are ordinary uploads: ingest stores them through the normal path
(a re-sent record is a no-op, a changed one a revision), queues their hours, and the
evaluator re-judges those hours and their days, so cases follow.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg

from ingest import metrics
from ingest.hj212 import CRCPolicy, HJ212Error, build_packet, build_segment, parse_packet
from ingest.settings import IngestSettings
from schemas.core.db import connect
from schemas.recall.gaps import find_gaps, missing_records
from schemas.recall.requests import (
    Outcome,
    Request,
    finish_try,
    mark_sent,
    open_requests,
    take_answered,
    take_due,
)

__all__ = ["RecallOptions", "Recaller", "history_query"]

log = logging.getLogger(__name__)

Transport = Literal["mqtt", "tcp"]
Send = Callable[[str, bytes], bool]  # (MN, packet) → sent?

DAY_WINDOW = timedelta(days=32)  # day records (CN 2031) are looked for this far back
_FLAG = {"hj212-2005": 1, "hj212-2017": 5, "hj212-2025": 9}  # version bits + A (answer)
_QN_RTN = {
    2: "refused (QnRtn=2)",
    3: "PW wrong (QnRtn=3)",
    4: "MN wrong (QnRtn=4)",
    5: "ST wrong (QnRtn=5)",
    6: "Flag wrong (QnRtn=6)",
    7: "QN wrong (QnRtn=7)",
    8: "CN wrong (QnRtn=8)",
    9: "CRC wrong (QnRtn=9)",
    100: "unknown error (QnRtn=100)",
}


@dataclass(frozen=True, slots=True)
class RecallOptions:
    after: timedelta  # a gap is recalled once it is this old
    window: timedelta  # how far back gaps are looked for
    every_s: float
    answer_within: timedelta
    max_tries: int
    backoff: timedelta
    max_in_flight: int
    max_hours: int

    @classmethod
    def from_settings(cls, s: IngestSettings) -> RecallOptions:
        return cls(
            after=timedelta(seconds=s.recall_after_s),
            window=timedelta(hours=s.recall_window_h),
            every_s=s.recall_every_s,
            answer_within=timedelta(seconds=s.recall_answer_timeout_s),
            max_tries=s.recall_max_tries,
            backoff=timedelta(seconds=s.recall_backoff_s),
            max_in_flight=s.recall_max_in_flight,
            max_hours=s.recall_max_hours,
        )


def history_query(
    *, mn: str, pw: str, st: str, cn: str, qn: str, flag: int, begin: datetime, end: datetime
) -> bytes:
    """The HJ 212 history query for ``[begin, end]`` (local times, both included)."""
    cp = f"BeginTime={begin:%Y%m%d%H%M%S};EndTime={end:%Y%m%d%H%M%S}"
    return build_packet(build_segment(st=st, cn=cn, mn=mn, pw=pw, qn=qn, flag=flag, cp=cp))


@dataclass(frozen=True, slots=True)
class _Outlet:
    pw: str
    st: str
    flag: int
    tz: ZoneInfo
    transport: str | None  # of its latest frame


class Recaller:
    """One process's recall loop; ``send(mn, packet)`` puts a packet on the logger's link
    and says whether it could (``reachable(mn)``, when given, is asked first)."""

    def __init__(
        self,
        options: RecallOptions,
        *,
        transport: Transport,
        send: Send,
        reachable: Callable[[str], bool] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.options = options
        self.transport = transport
        self.send = send
        self.reachable = reachable
        self.clock = clock
        self.sent = 0
        self._last_qn = ""

    def cycle(self, conn: psycopg.Connection[Any]) -> None:
        """Find gaps, settle answered requests, send due ones (see the module)."""
        now = self.clock()
        o = self.options
        with conn.transaction():
            gaps = find_gaps(
                conn,
                since=now - o.window,
                until=now - o.after,
                max_hours=o.max_hours,
                kinds=("min", "hour"),
            )
            gaps += find_gaps(
                conn, since=now - max(o.window, DAY_WINDOW), until=now - o.after, kinds=("day",)
            )
            if open_requests(conn, gaps, now):
                log.info("recall: %d gap(s) found", len(gaps))
        with conn.transaction():
            for request in take_answered(conn, now, transport=self.transport):
                self._settle(conn, request, now)
        with conn.transaction():
            links = ("mqtt", "mqtt-json") if self.transport == "mqtt" else ("tcp",)
            for request in take_due(conn, now, max_in_flight=o.max_in_flight, transports=links):
                try:
                    self._send(conn, request, now)
                except _NotSent:
                    log.info("recall: %s is not connected; asked later", request.mn)

    def run(self, database_url: str, stop: threading.Event, name: str) -> None:
        """:meth:`cycle` every ``every_s`` until ``stop``; errors are logged and retried."""
        conn: psycopg.Connection[Any] | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(database_url, application_name=name, autocommit=True)
                self.cycle(conn)
            except psycopg.Error:
                log.warning("recall cycle failed; retrying", exc_info=True)
                if conn is not None:
                    conn.close()
                conn = None
            except Exception:  # a bug must not end the recall for good: logged, tried again
                log.exception("recall cycle failed")
            stop.wait(self.options.every_s)
        if conn is not None:
            conn.close()

    # --- one request ---------------------------------------------------------------------

    def _outlet(self, conn: psycopg.Connection[Any], request: Request) -> _Outlet:
        row = conn.execute(
            "SELECT o.password, o.protocol_profile, o.timezone, o.kind, f.st, f.transport"
            " FROM outlets o LEFT JOIN LATERAL (SELECT st, transport FROM frames"
            "  WHERE outlet_id = o.id AND st IS DISTINCT FROM '91'"  # its uploads, not replies
            "  ORDER BY received_at DESC LIMIT 1) f ON true"
            " WHERE o.id = %s",
            (request.outlet_id,),
        ).fetchone()
        assert row is not None
        pw, profile, tz, kind, st, transport = row
        return _Outlet(
            pw or "",
            st or ("31" if kind == "gas" else "32"),
            _FLAG.get(profile, 5),
            ZoneInfo(tz),
            "mqtt" if transport in ("mqtt", "mqtt-json") else transport,
        )

    def _send(self, conn: psycopg.Connection[Any], request: Request, now: datetime) -> None:
        outlet = self._outlet(conn, request)
        if self.reachable is not None:
            if not self.reachable(request.mn):
                return
        elif outlet.transport != self.transport:
            return
        qn = self._qn(now.astimezone(outlet.tz))
        packet = history_query(
            mn=request.mn,
            pw=outlet.pw,
            st=outlet.st,
            cn=request.cn,
            qn=qn,
            flag=outlet.flag,
            begin=request.begin_at.astimezone(outlet.tz),
            end=(request.end_at - timedelta(minutes=1)).astimezone(outlet.tz),
        )
        with conn.transaction():  # recorded, then sent: a send that fails undoes the record
            mark_sent(
                conn,
                request,
                qn=qn,
                transport=self.transport,
                now=now,
                answer_within=self.options.answer_within,
            )
            if not self.send(request.mn, packet):
                raise _NotSent
        self.sent += 1
        metrics.RECALL_QUERIES.labels(self.transport).inc()
        log.info(
            "recall: asked %s for %s %s–%s (try %d, QN %s)",
            request.mn,
            request.cn,
            request.begin_at,
            request.end_at,
            request.tries + 1,
            qn,
        )

    def _settle(self, conn: psycopg.Connection[Any], request: Request, now: datetime) -> None:
        assert request.qn is not None and request.sent_at is not None
        qn_rtn, exe_rtn = self._answers(conn, request)
        timed_out = now >= request.sent_at + self.options.answer_within
        refused = qn_rtn is not None and qn_rtn != 1
        if exe_rtn is None and not refused and not timed_out:
            return  # still answering
        packets_row = conn.execute(
            "SELECT count(*) FROM frames WHERE outlet_id = %s AND cn = %s AND received_at >= %s"
            " AND data_time >= %s AND data_time < %s",
            (request.outlet_id, request.cn, request.sent_at, request.begin_at, request.end_at),
        ).fetchone()
        packets = int(packets_row[0]) if packets_row else 0
        left = missing_records(
            conn,
            request.outlet_id,
            request.cn,
            request.begin_at,
            request.end_at,
        )
        outcome: Outcome
        reason: str | None = None
        if left == 0:
            outcome = "healed"
        elif refused:
            outcome, reason = "refused", _QN_RTN.get(qn_rtn or 0, f"QnRtn={qn_rtn}")
        elif packets == 0 and exe_rtn not in (None, 1):
            outcome, reason = "refused", f"no data sent (ExeRtn={exe_rtn})"
        elif qn_rtn is None and exe_rtn is None and packets == 0:
            outcome = "no-answer"
            reason = f"no answer within {self.options.answer_within.total_seconds():g} s"
        else:
            outcome = "partial"
            reason = f"{left} of {request.missing} record(s) still missing"
        state = finish_try(
            conn,
            request,
            outcome=outcome,
            reason=reason,
            qn_rtn=qn_rtn,
            exe_rtn=exe_rtn,
            packets=packets,
            missing_after=left,
            now=now,
            max_tries=self.options.max_tries,
            backoff=self.options.backoff,
        )
        metrics.RECALL_OUTCOMES.labels(outcome).inc()
        if state == "failed":
            log.error(
                "recall from %s of %s–%s failed after %d tries: %s (%s)",
                request.mn,
                request.begin_at,
                request.end_at,
                request.tries,
                outcome,
                reason,
            )

    def _qn(self, local: datetime) -> str:
        """A QN (local YYYYMMDDhhmmsszzz) after every QN this recaller sent: the answers to
        each try are told apart by it."""
        qn = f"{local:%Y%m%d%H%M%S}{local.microsecond // 1000:03d}"
        while qn <= self._last_qn:
            local += timedelta(milliseconds=1)
            qn = f"{local:%Y%m%d%H%M%S}{local.microsecond // 1000:03d}"
        self._last_qn = qn
        return qn

    @staticmethod
    def _answers(conn: psycopg.Connection[Any], request: Request) -> tuple[int | None, int | None]:
        """QnRtn of the 9011 and ExeRtn of the 9012 that answer the latest try (their header
        QN is the request's)."""
        assert request.sent_at is not None
        qn_rtn = exe_rtn = None
        for cn, raw in conn.execute(
            "SELECT cn, raw FROM frames WHERE outlet_id = %s AND received_at >= %s"
            " AND cn IN ('9011', '9012') AND qn = %s ORDER BY received_at",
            # the QN tells the try; the margin allows for another ingest host's clock
            (request.outlet_id, request.sent_at - timedelta(minutes=1), request.qn),
        ):
            try:
                frame = parse_packet(bytes(raw), crc_policy=CRCPolicy.LENIENT)
            except HJ212Error:
                continue
            key = "QnRtn" if cn == "9011" else "ExeRtn"
            value = frame.attributes.get(key, "").strip()
            if value.isdigit():
                if cn == "9011":
                    qn_rtn = int(value)
                else:
                    exe_rtn = int(value)
        return qn_rtn, exe_rtn


class _NotSent(Exception):
    """The link to the logger is gone: the try is not recorded (rolled back)."""
