"""Simulated data loggers keep what they sent and answer the HJ 212 history query as real ones
do (issue 14): over MQTT (``hj212/{MN}/down`` in, ``hj212/{MN}/up`` out) and over a TCP
connection to the gateway.

A query ``CN=2051|2061|2031;Flag=…;CP=&&BeginTime=…;EndTime=…&&`` gets (Appendix C.20–C.23):

1. ``9011`` with ``QnRtn=1`` (ready) — or ``QnRtn=2`` (refused), and nothing more;
2. the stored uploads of that CN whose DataTime is in ``[BeginTime, EndTime]``, each with a new
   QN (the record itself unchanged), or only the first half of them when answering partially;
3. ``9012`` with ``ExeRtn=1`` (done), or ``ExeRtn=100`` (no data) when it had none.

How each logger behaves is :class:`Behaviour`: ``answer`` (all), ``partial``, ``refuse`` or
``silent`` (never answers), per MN or for all; :class:`History` is the same for both links.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import Any, Literal

from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion

from ingest.hj212 import (
    CRCPolicy,
    Frame,
    HJ212Error,
    StreamReader,
    build_packet,
    build_segment,
    parse_data_time,
    parse_packet,
)
from schemas.core.brokers import broker_address

from .frames import SimMessage
from .timebase import qn_text

__all__ = ["Behaviour", "History", "MqttLoggers", "TcpLogger"]

log = logging.getLogger(__name__)

Behaviour = Literal["answer", "partial", "refuse", "silent"]
HISTORY_CNS = ("2051", "2061", "2031")
_REPLY_FLAG = 4  # Appendix C: every reply uses Flag=4 (2017 version bits, no answer wanted)


@dataclass
class History:
    """Every logger's sent uploads (raw packets) by MN and CN, and how each one answers: as
    ``per_mn`` says, else drawn per query from ``rates`` (refuse, partial, silent; the rest
    answer in full; deterministic with ``seed``), else ``behaviour``. Keeps the latest
    ``keep`` uploads per logger and CN (a week of minute data by default)."""

    behaviour: Behaviour = "answer"
    per_mn: dict[str, Behaviour] = field(default_factory=dict)
    rates: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seed: int = 1
    keep: int = 7 * 24 * 60
    queries: list[tuple[str, str]] = field(default_factory=list)  # (MN, QN) of each query
    _sent: dict[tuple[str, str], deque[tuple[datetime, bytes]]] = field(default_factory=dict)
    _qn: Iterator[int] = field(default_factory=count)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _how(self, mn: str) -> Behaviour:
        if mn in self.per_mn:
            return self.per_mn[mn]
        if any(self.rates):
            draw, edge = self._rng.random(), 0.0
            for how, rate in zip(("refuse", "partial", "silent"), self.rates, strict=True):
                edge += rate
                if draw < edge:
                    return how  # type: ignore[return-value]
            return "answer"
        return self.behaviour

    def remember(self, messages: Iterable[SimMessage]) -> None:
        """Keep these uploads (raw HJ 212 ones: the JSON uplink has no history query)."""
        for m in messages:
            if m.topic.startswith("hj212/") and m.cn in HISTORY_CNS and not m.corrupt:
                kept = self._sent.setdefault((m.mn, m.cn), deque(maxlen=self.keep))
                kept.append((m.data_time.replace(tzinfo=None), m.payload))

    def answer(self, packet: bytes) -> list[bytes]:
        """The packets a logger sends back for ``packet`` (none unless it is a history query
        for a logger we simulate)."""
        try:
            frame = parse_packet(packet.rstrip(b"\r\n"), crc_policy=CRCPolicy.LENIENT)
        except HJ212Error:
            return []
        if frame.cn not in HISTORY_CNS or frame.mn is None or frame.st == "91":
            return []
        begin = parse_data_time(frame.attributes.get("BeginTime", ""))
        end = parse_data_time(frame.attributes.get("EndTime", ""))
        how = self._how(frame.mn)
        self.queries.append((frame.mn, frame.qn or ""))
        if how == "silent":
            return []
        if how == "refuse" or begin is None or end is None:
            return [_reply(frame, "9011", "QnRtn=2")]
        records = [p for t, p in self._sent.get((frame.mn, frame.cn), []) if begin <= t <= end]
        if how == "partial":
            records = records[: len(records) // 2]
        out = [_reply(frame, "9011", "QnRtn=1")]
        out += [self._requeued(p) for p in records]
        out.append(_reply(frame, "9012", "ExeRtn=1" if records else "ExeRtn=100"))
        return out

    def _requeued(self, payload: bytes) -> bytes:
        """The stored upload with a new QN, as a logger re-sends a record."""
        frame = parse_packet(payload.rstrip(b"\r\n"), crc_policy=CRCPolicy.LENIENT)
        old = frame.segment.decode(frame.encoding)
        qn = qn_text(int(time.time() * 1000) + next(self._qn) % 1000)  # now: not the old QN
        segment = old.replace(f"QN={frame.qn}", f"QN={qn}", 1) if frame.qn else old
        return build_packet(segment)


def _reply(frame: Frame, cn: str, cp: str) -> bytes:
    segment = build_segment(
        st="91", cn=cn, mn=frame.mn or "", pw=frame.pw or "", qn=frame.qn, flag=_REPLY_FLAG, cp=cp
    )
    return build_packet(segment)


class MqttLoggers:
    """The MQTT side of every simulated logger: queries on ``hj212/+/down`` are answered on
    ``hj212/{MN}/up`` (QoS 1), from :class:`History`."""

    def __init__(self, url: str, history: History, client_id: str = "sourcewatch-sim-loggers"):
        self.history = history
        self.subscribed = threading.Event()
        host, port, tls, user, password = broker_address(url)
        self._client = Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if tls:
            self._client.tls_set()
        if user is not None:
            self._client.username_pw_set(user, password)
        self._client.on_connect = lambda c, *a: c.subscribe("hj212/+/down", qos=1)
        self._client.on_subscribe = lambda *a: self.subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect_async(host, port)

    def start(self) -> MqttLoggers:
        self._client.loop_start()
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, client: Client, userdata: Any, msg: MQTTMessage) -> None:
        mn = msg.topic.split("/")[1]
        for packet in self.history.answer(bytes(msg.payload)):
            client.publish(f"hj212/{mn}/up", packet, qos=1)


class TcpLogger:
    """One logger on a TCP connection to the gateway: it sends its uploads, keeps the
    connection open and answers the history queries that come down it."""

    def __init__(self, host: str, port: int, history: History) -> None:
        self.history = history
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.settimeout(None)
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True, name="tcp-logger")
        self._reader.start()

    def send(self, messages: Iterable[SimMessage]) -> None:
        for m in messages:
            with self._lock:
                self._sock.sendall(m.payload)

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(timeout=10)

    def _read(self) -> None:
        framer = StreamReader()
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            for item in framer.feed(data):
                if isinstance(item, bytes):
                    for packet in self.history.answer(item):
                        with self._lock:
                            try:
                                self._sock.sendall(packet)
                            except OSError:
                                return


def history_of(messages: Iterable[SimMessage], **behaviour: Any) -> History:
    """A :class:`History` holding ``messages``."""
    h = History(**behaviour)
    h.remember(messages)
    return h
