"""The worker's next batch, collected in the middle of a write, is topped up after the commit
with what arrived since (without waiting, up to the batch size, in order), and decoded: a
broker that keeps to the Receive Maximum sends the next messages as the acknowledgements reach
it, and those taken in the middle of a write alone made batches of a few messages. The order of
writing, acknowledging only after the commit, and the batch size are as before. No broker or
database: a scripted inbox and store."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest.metrics import IngestStats
from ingest.mqtt import Inbound, MqttOptions
from ingest.store import Decoded
from ingest.worker import IngestWorker, WorkerOptions

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _message(mid: int) -> Inbound:
    return Inbound(f"hj212/MN{mid}/up", b"##", NOW, mid, 1, 1)


class _Transport:
    def __init__(self, log: list[tuple[str, list[int]]]) -> None:
        self.options = MqttOptions("mqtt://127.0.0.1", "t", ("hj212/+/up",), "", 1000, 60)
        self.inbox: queue.Queue[Inbound] = queue.Queue()
        self.log = log

    def ack(self, messages: list[Inbound]) -> int:
        self.log.append(("ack", [m.mid for m in messages]))
        return len(messages)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        raise AssertionError("no replies here")


class _Written:
    def __init__(self) -> None:
        self.accepted: list[Any] = []  # no replies to send


class _Store:
    """Writes by script: for each write, the mids that arrive before its ``meanwhile`` (the
    next batch's collection) and after it, before the commit; the worker stops after the last."""

    def __init__(
        self, transport: _Transport, script: list[tuple[range, range]], stop: threading.Event
    ) -> None:
        self.transport, self.script, self.stop = transport, script, stop
        self.stats = IngestStats()
        self.log = transport.log
        self.decoded: list[list[int]] = []  # per write: the mids its decoded records came from

    def predecode(self, items: Sequence[Inbound]) -> Decoded:
        # a record per item standing for its decoded frame (here: its mid)
        return Decoded([m.mid for m in items], [])  # type: ignore[list-item]

    def store(self, items: Sequence[Inbound], stop: Any, decoded: Any, meanwhile: Any) -> Any:
        self.log.append(("write", [m.mid for m in items]))
        self.decoded.append(list(decoded.accepted))
        before, after = self.script.pop(0) if self.script else (range(0), range(0))
        for mid in before:
            self.transport.inbox.put(_message(mid))
        meanwhile()
        for mid in after:
            self.transport.inbox.put(_message(mid))
        if not self.script:
            self.stop.set()
        return _Written()

    def close(self) -> None:
        pass


def _run(batch_max: int, first: range, script: list[tuple[range, range]]) -> tuple[Any, ...]:
    log: list[tuple[str, list[int]]] = []
    transport = _Transport(log)
    for mid in first:
        transport.inbox.put(_message(mid))
    stop = threading.Event()
    options = WorkerOptions("postgresql://unused", batch_max, 0.01, 30.0)
    worker = IngestWorker(options, transport)  # type: ignore[arg-type]
    store = _Store(transport, script, stop)
    worker.store = store  # type: ignore[assignment]
    worker._run(stop)
    return log, store.decoded, transport.inbox.qsize()


@pytest.mark.parametrize("batch_max", [500, 6])
def test_the_next_batch_is_topped_up_with_what_arrived_after_the_middle_of_the_write(
    batch_max: int,
) -> None:
    # write 1: 2 messages arrive before its middle, 3 after it (before its commit)
    script = [(range(4, 6), range(6, 9)), (range(0), range(0))]
    log, decoded, left = _run(batch_max, range(1, 4), script)
    writes = [mids for what, mids in log if what == "write"]
    assert writes == [[1, 2, 3], [4, 5, 6, 7, 8]]  # not [4, 5], then [6, 7, 8]
    assert decoded == writes  # decoded once each, in order
    assert log == [("write", [1, 2, 3]), ("ack", [1, 2, 3]), ("write", [4, 5, 6, 7, 8]),
                   ("ack", [4, 5, 6, 7, 8])]  # fmt: skip
    assert left == 0


def test_the_top_up_keeps_to_the_batch_size_and_the_order() -> None:
    nothing = (range(0), range(0))
    log, decoded, _ = _run(4, range(1, 3), [(range(3, 5), range(5, 10)), nothing, nothing])
    writes = [mids for what, mids in log if what == "write"]
    assert writes == [[1, 2], [3, 4, 5, 6], [7, 8, 9]]  # at most 4; the rest next, in order
    assert decoded == writes


def test_a_full_batch_taken_in_the_middle_of_the_write_is_not_topped_up() -> None:
    nothing = (range(0), range(0))
    log, decoded, _ = _run(2, range(1, 3), [(range(3, 5), range(5, 7)), nothing, nothing])
    writes = [mids for what, mids in log if what == "write"]
    assert writes == [[1, 2], [3, 4], [5, 6]]
    assert decoded == writes
