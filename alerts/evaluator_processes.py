"""The evaluator's child processes: ``sourcewatch alerts`` judges the evaluation queue with
``evaluator_processes`` evaluators (one per core by default), its own evaluator thread and
:class:`EvaluatorProcesses`' children, started with ``spawn``, each with its own connections and
LISTEN, draining the same queue (:mod:`alerts.evaluator`: outlet locks taken without waiting,
a batch of at most its share of the queued hours).

- **Sweeps** (outages, ended days, unacknowledged escalation, dead-letter retention) are the
  alerts process's own evaluator's alone: one sweeper is enough, and a second would only wait
  for the first one's outlet locks. The children drain.
- **Stopping**: each child reads a pipe from this process; its end (:meth:`run` stopping, or
  this process dying) stops the child after its current batch. The children ignore SIGINT and
  SIGTERM (a terminal or a service manager signals the whole group): this process stops them.
- **Restarting**: a child that ends while it should run is started again, with an error log
  line, at most once per :data:`RESTART_S` for each child.
- **Logs** of the children come over a queue and are handed to this process's loggers.
- **Metrics**: each child sends its evaluator counters' totals over the same queue every
  :data:`REPORT_S` (and as it stops); this process adds what each grew by to its own, so
  ``/metrics`` counts every evaluator's outlets, transitions and errors. A restarted child
  counts from zero again under its new pid.
- **Readiness**: each child sets a shared flag while its listener is connected;
  :attr:`EvaluatorProcesses.ready` is every child alive and connected.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

from alerts import metrics
from alerts.evaluator import Evaluator, EvaluatorOptions

__all__ = ["REPORT_S", "RESTART_S", "EvaluatorProcesses"]

log = logging.getLogger(__name__)

RESTART_S = 1.0  # a child that keeps dying is restarted at most this often
_STOP_S = 30.0  # the longest a stop waits for a child to end its batch before killing it
REPORT_S = 1.0  # how often a child sends its counters' totals when they changed

Totals = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""A process's evaluator counters: each sample's total by its name and labels."""


@dataclass
class _Child:
    process: BaseProcess
    stop: Connection  # this process's end: closing it stops the child
    connected: Event


class EvaluatorProcesses:
    """``count`` evaluators in child processes, started, watched and restarted by
    :meth:`run` until its stop event is set."""

    def __init__(self, options: EvaluatorOptions, count: int) -> None:
        self.options = options
        self.count = count
        self._ctx = multiprocessing.get_context("spawn")  # the alerts process has threads
        self._children: list[_Child | None] = [None] * count
        self._logs: Any = self._ctx.Queue()  # the children's log records and counters
        self._totals: dict[int, Totals] = {}  # per child's pid, the totals it last sent
        self._counters = {  # the evaluator's counters by their total's name
            f"{family.name}_total": counter for counter, family in _families()
        }
        self.restarts = 0

    @property
    def pids(self) -> list[int | None]:
        return [c.process.pid if c else None for c in self._children]

    @property
    def ready(self) -> bool:
        """Every child alive and its listener connected."""
        return all(
            c is not None and c.process.is_alive() and c.connected.is_set() for c in self._children
        )

    def run(self, stop: threading.Event) -> None:
        """Start the children, restart any that ends, and stop them all once ``stop`` is
        set."""
        relay = threading.Thread(target=self._relay_logs, name="evaluator-logs", daemon=True)
        relay.start()
        try:
            for i in range(self.count):
                self._start(i)
            while not stop.is_set():
                sentinels = {c.process.sentinel: i for i, c in enumerate(self._children) if c}
                for sentinel in wait(list(sentinels), timeout=0.5):
                    self._restart(sentinels[sentinel], stop)  # type: ignore[index]
        finally:
            self._stop_all()
            self._logs.put(None)
            relay.join(_STOP_S)

    def _start(self, i: int) -> None:
        stop_read, stop_write = self._ctx.Pipe(duplex=False)
        connected = self._ctx.Event()
        process = self._ctx.Process(
            target=serve,
            args=(self.options, stop_read, connected, self._logs, _levels()),
            name=f"sourcewatch-evaluator-{i + 1}",
            daemon=True,  # ended with this process even when run() does not stop it
        )
        process.start()
        stop_read.close()  # the child's: so that only this process's end keeps it running
        self._children[i] = _Child(process, stop_write, connected)

    def _restart(self, i: int, stop: threading.Event) -> None:
        child = self._children[i]
        assert child is not None
        child.process.join()
        child.stop.close()
        log.error(
            "evaluator process %s (pid %s) ended with exit code %s; restarting it",
            i + 1,
            child.process.pid,
            child.process.exitcode,
        )
        if not stop.wait(RESTART_S):
            self._start(i)
            self.restarts += 1

    def _stop_all(self) -> None:
        children = [c for c in self._children if c is not None]
        for c in children:
            c.stop.close()
        for c in children:
            c.process.join(_STOP_S)
            if c.process.is_alive():
                log.warning("evaluator process %s did not stop; killed", c.process.pid)
                c.process.kill()
                c.process.join()
        self._children = [None] * self.count

    def _relay_logs(self) -> None:
        """Hand the children's log records to this process's loggers and their counters to its
        metrics (:meth:`_count`), until told to stop."""
        while True:
            try:
                record: logging.LogRecord | tuple[int, Totals] | None = self._logs.get()
            except (EOFError, OSError, queue.Empty):
                return
            if record is None:
                return
            if isinstance(record, tuple):
                self._count(*record)
                continue
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)

    def _count(self, pid: int, totals: Totals) -> None:
        """Add to this process's counters what child ``pid``'s grew by since it last sent."""
        before = self._totals.get(pid, {})
        self._totals[pid] = totals
        for (name, labels), total in totals.items():
            grown = total - before.get((name, labels), 0.0)
            if grown > 0 and name in self._counters:
                counter = self._counters[name]
                (counter.labels(**dict(labels)) if labels else counter).inc(grown)


def _families() -> Iterator[tuple[Any, Any]]:
    """Each evaluator counter with its metric family (a labelled one's too before it has any
    labels)."""
    for counter in metrics.EVALUATOR_COUNTERS:
        for family in counter.collect():
            yield counter, family


def _totals() -> Totals:
    """This process's evaluator counters: each total by its sample's name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for _, family in _families()
        for sample in family.samples
        if sample.name == f"{family.name}_total"
    }


def _levels() -> dict[str, int]:
    """The levels the children's loggers start with: this process's."""
    return {name: logging.getLogger(name).getEffectiveLevel() for name in ("", "alerts")}


def serve(
    options: EvaluatorOptions,
    stop_read: Connection,
    connected: Event,
    logs: Any,
    levels: dict[str, int],
) -> None:
    """A child's life: drain the queue (no sweeps) until the stop pipe ends."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(logs)]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    stop = threading.Event()

    def stop_when_closed() -> None:
        with contextlib.suppress(EOFError, OSError):
            stop_read.recv()
        stop.set()

    threading.Thread(target=stop_when_closed, name="evaluator-stop", daemon=True).start()
    sent: Totals = {}

    def report() -> None:
        nonlocal sent
        totals = _totals()
        if totals != sent:
            logs.put((os.getpid(), totals))
            sent = totals

    def report_every_while() -> None:
        while not stop.wait(REPORT_S):
            report()

    reporter = threading.Thread(target=report_every_while, name="evaluator-counters", daemon=True)
    reporter.start()
    Evaluator(options, connected=connected).run(stop, sweeps=False)
    reporter.join()
    report()  # what the last batches counted
