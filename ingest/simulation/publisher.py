"""Publish simulated traffic to an MQTT broker: in real time, or a back-filled range at full speed.

Behind ``sourcewatch simulate`` (the CLI parsing lives in ``sourcewatch/cli.py``). Messages go out
with QoS 1 and a bounded number awaiting PUBACK; paho re-sends un-acknowledged messages after a
reconnect, and the run ends only when the broker has acknowledged everything (or gives up after
``FLUSH_TIMEOUT_S``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from schemas.core.brokers import broker_address
from schemas.core.localtime import LOCAL_TZ

from .enterprises import make_enterprises, write_registry
from .episodes import EpisodeRates
from .frames import SimMessage
from .history import History, MqttLoggers
from .timebase import to_ms
from .traffic import TrafficConfig, generate_traffic

__all__ = ["SimulatorOptions", "fast_duration_s", "recall_rates", "run_simulator"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
FLUSH_TIMEOUT_S = 60.0
DEFAULT_BACKFILL_S = 3600.0
MAX_AWAITING_ACK = 200


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    """What ``sourcewatch simulate`` asks for."""

    enterprises: int = 3  # how many simulated enterprises (1-3 outlets each)
    interval_s: float = 30.0  # real-time (2011) interval, 1-60 s
    seed: int = 1  # same seed, same enterprises and same traffic
    start: datetime | None = None  # naive = Asia/Shanghai; default: now (real time) or
    #                                now - duration, on a whole minute (fast)
    duration_s: float | None = None  # default: forever (real time) or one hour (fast)
    realtime: bool = True  # False: publish the whole range as fast as the broker takes it
    json_fraction: float = 0.0  # share of uploads sent as JSON instead of raw HJ 212
    corrupt_rate: float = 0.0  # share of messages broken on purpose
    exceedance_rate: float = EpisodeRates().exceedance  # exceedance episodes per outlet per day
    write_registry: Path | None = None  # also write the enterprises as registry JSON here
    # The loggers keep what they sent and answer history queries on hj212/{MN}/down (issue
    # 14): these shares of the queries are refused, answered in part, or never answered.
    answer_history: bool = True
    recall_refuse_rate: float = 0.05
    recall_partial_rate: float = 0.1
    recall_silent_rate: float = 0.05


class _Publisher:
    """A paho client that counts PUBACKs and bounds what is awaiting one."""

    def __init__(self, url: str, client_id: str) -> None:
        host, port, tls, user, password = broker_address(url)
        self.address = f"{host}:{port}"
        self._host, self._port = host, port
        self.connected = threading.Event()
        self._acks = threading.Condition()
        self._pending: set[int] = set()
        self._early: set[int] = set()  # acknowledged before publish() returned its mid
        self.published = 0
        self._closing = False
        client = Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if tls:
            client.tls_set()
        if user is not None:
            client.username_pw_set(user, password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(MAX_AWAITING_ACK)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connection to %s refused: %s", self.address, reason)
            return
        log.info("MQTT connected to %s", self.address)
        self.connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self.connected.is_set() and not self._closing:
            log.warning("MQTT connection to %s lost (%s); reconnecting", self.address, reason)
        self.connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._acks:
            if mid in self._pending:
                self._pending.discard(mid)
            else:
                self._early.add(mid)
            self._acks.notify_all()

    def start(self, timeout: float) -> bool:
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()  # connects, and reconnects, in paho's network thread
        return self.connected.wait(timeout)

    def publish(self, message: SimMessage) -> None:
        with self._acks:
            while len(self._pending) >= MAX_AWAITING_ACK:
                if not self._acks.wait(10.0):
                    log.warning("%d messages still awaiting PUBACK", len(self._pending))
        info = self._client.publish(message.topic, message.payload, qos=1)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:  # cannot happen with an unbounded queue
            raise RuntimeError("paho refused to queue a message")
        with self._acks:  # MQTT_ERR_NO_CONN too: paho keeps QoS 1 messages and re-sends them
            if info.mid in self._early:
                self._early.discard(info.mid)
            else:
                self._pending.add(info.mid)
        self.published += 1

    def flush(self, timeout: float) -> bool:
        """Wait until the broker acknowledged everything; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._acks:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._acks.wait(left)
        return True

    @property
    def awaiting(self) -> int:
        with self._acks:
            return len(self._pending)

    def close(self) -> None:
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()


def recall_rates(args: SimulatorOptions) -> tuple[float, float, float]:
    """How the loggers answer history queries: the shares refused, partial, silent."""
    rates = (args.recall_refuse_rate, args.recall_partial_rate, args.recall_silent_rate)
    if min(rates) < 0 or sum(rates) > 1:
        raise ValueError("recall rates must be >= 0 and add up to at most 1")
    return rates


def fast_duration_s(args: SimulatorOptions) -> float:
    """How much simulated time a fast (back-fill) run covers."""
    return args.duration_s or DEFAULT_BACKFILL_S


def _time_range(args: SimulatorOptions) -> tuple[datetime, datetime | None]:
    now = datetime.now(LOCAL_TZ)
    if args.realtime:
        start = args.start or now
        if args.duration_s is None:
            return start, None
        return start, start + timedelta(seconds=args.duration_s)
    duration = timedelta(seconds=fast_duration_s(args))
    start = args.start or (now - duration).replace(second=0, microsecond=0)
    return start, start + duration


def run_simulator(
    args: SimulatorOptions,
    mqtt_url: str,
    *,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
    history: History | None = None,
) -> int:
    """Publish the simulated traffic; returns the process exit status.

    0 when everything was published and acknowledged (or ``stop`` was set), 1 when the broker
    could not be reached or did not acknowledge everything, 2 for invalid options (interval, rates,
    duration, MQTT URL). ``progress``, when given and the range has an end, is called with the
    whole seconds of simulated time covered since its last call (they add up to the duration,
    ``fast_duration_s(args)`` in fast mode, when everything was sent). With
    ``args.answer_history`` the loggers keep their uploads (in ``history``, which a caller may
    share between runs) and answer history queries meanwhile (:mod:`.history`).
    """
    stop = stop or threading.Event()
    try:
        config = TrafficConfig(
            json_fraction=args.json_fraction,
            corrupt_rate=args.corrupt_rate,
            episodes=EpisodeRates(exceedance=args.exceedance_rate),
        )
        rates = recall_rates(args)
        if args.enterprises < 0 or (args.duration_s is not None and args.duration_s <= 0):
            raise ValueError("--enterprises must be >= 0 and --duration > 0")
        enterprises = make_enterprises(args.enterprises, args.seed)
        start, end = _time_range(args)
        messages = generate_traffic(
            enterprises,
            seed=args.seed,
            start=start,
            end=end,
            interval_s=args.interval_s,
            config=config,
        )
        first = next(messages, None)  # validates the interval before we connect
        publisher = _Publisher(mqtt_url, f"sourcewatch-sim-{args.seed}-{os.getpid()}")
    except ValueError as exc:
        log.error("simulator: %s", exc)
        return 2
    if args.write_registry is not None:
        write_registry(args.write_registry, enterprises)
        log.info("wrote %d enterprises to %s", len(enterprises), args.write_registry)
    outlets = sum(len(e["outlets"]) for e in enterprises)
    loggers = None
    if args.answer_history:
        if history is None:
            history = History(rates=rates, seed=args.seed)
        loggers = MqttLoggers(
            mqtt_url, history, client_id=f"sourcewatch-sim-loggers-{args.seed}-{os.getpid()}"
        ).start()
    if not publisher.start(CONNECT_TIMEOUT_S):
        log.error("no MQTT broker at %s after %.0f s", publisher.address, CONNECT_TIMEOUT_S)
        publisher.close()
        if loggers is not None:
            loggers.stop()
        return 1
    log.info(
        "simulating %d enterprises / %d outlets from %s to %s (%s)",
        len(enterprises),
        outlets,
        start.isoformat(),
        end.isoformat() if end else "forever",
        "real time" if args.realtime else "as fast as possible",
    )
    covered, span_ms = 0, None if end is None else to_ms(end) - to_ms(start)
    try:
        for message in messages if first is None else chain([first], messages):
            if stop.is_set():
                break
            if args.realtime:
                delay = (message.send_time - datetime.now(LOCAL_TZ)).total_seconds()
                if delay > 0 and stop.wait(delay):
                    break
            publisher.publish(message)
            if history is not None:
                history.remember((message,))
            if progress is not None and span_ms is not None:
                done = min(to_ms(message.send_time) - to_ms(start), span_ms) // 1000
                if done > covered:
                    progress(done - covered)
                    covered = done
        else:
            if progress is not None and span_ms is not None and span_ms // 1000 > covered:
                progress(span_ms // 1000 - covered)  # the quiet tail of the range
    except KeyboardInterrupt:
        log.info("interrupted")
    finally:
        acked = publisher.flush(FLUSH_TIMEOUT_S)
        awaiting = publisher.awaiting
        publisher.close()
        if loggers is not None:
            loggers.stop()
    log.info("published %d messages (%d not acknowledged)", publisher.published, awaiting)
    return 0 if acked else 1
