"""The evaluator as deployed, for the benchmark: ``processes`` evaluator processes (spawned, as
``sourcewatch alerts`` starts its children, :mod:`alerts.evaluator_processes`), each on its own
connection, draining one queue together.

Each process is started and warmed up before anything is timed, as :func:`bench.alerts._warm_up`
warms the one-process side: one after the other, each drains its share of the warm-up outlets
(queued first) on the connection it then drains on, so its statements are prepared and its
backend's caches filled. :meth:`Drainers.drain` then releases them all at once and times until
every one of them has ended its drain (the queue is then empty), by the end each
process reads on the machine's monotonic clock (:func:`now`), not by when its report reaches
this process; each reports the CPU it used in the drain and its backend's. The processes have ended when it returns: their exits
do not take the CPU from the side timed after them.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.synchronize import Barrier, Lock
from pathlib import Path
from typing import Any

import psycopg

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings

__all__ = ["Drain", "Drainers", "drain_measured", "drainers"]

_WAIT_S = 600.0  # the longest a step waits for the processes


def backend_cpu_s(pid: int) -> float | None:
    """CPU seconds process ``pid`` (a PostgreSQL backend on this machine) has run, to the
    nanosecond (``/proc/<pid>/schedstat``), or None where it cannot be read (a server
    elsewhere). Its main thread's only, which is all of a backend's: ``bench.ingest``'s
    ``_cpu_s`` reads every thread of a process, but in ticks of 10 ms, too coarse for a drain."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def now() -> float:
    """Seconds on the machine's monotonic clock (``CLOCK_MONOTONIC``), one clock for every
    process: a drain ends when its last process's own reading says so, not when that process's
    report reaches the benchmark (until the seventeenth round the time ran until the reports
    were taken from the queue: a pickle, the queue's feeder thread starting, a pipe and a
    wake-up of this process, 3-15 ms on a loaded machine, which the one-process side, timed in
    this process, never paid)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def drain_measured(
    evaluator: Evaluator, conn: psycopg.Connection
) -> tuple[int, float, float | None]:
    """One drain, as the product's evaluator runs when woken (up to its 1,000 outlets): until a
    batch finds nothing left to lock (every queued outlet judged, or held by another process,
    which judges it), or until a batch that took every queued outlet (see
    :meth:`~alerts.evaluator.Evaluator.drain`). Returns the outlets judged, this process's CPU seconds, and its backend's
    (None if unreadable). (Until the fifteenth round it drained again until a drain judged
    nothing: one more empty batch per process, which the product does not run.)"""
    backend = conn.info.backend_pid
    cpu, backend_cpu = time.process_time(), backend_cpu_s(backend)
    judged = evaluator.drain(conn)
    after = backend_cpu_s(backend)
    return (
        judged,
        time.process_time() - cpu,
        None if backend_cpu is None or after is None else after - backend_cpu,
    )


@dataclass(frozen=True)
class Drain:
    """One timed drain by every process: wall seconds, outlets each judged, CPU seconds of the
    evaluator processes and of their backends (None if unreadable)."""

    elapsed: float
    judged: tuple[int, ...]
    cpu_s: float
    backend_cpu_s: float | None


def _process(
    url: str,
    processes: int,
    warm_outlets: int,
    warming: Lock,
    warmed: Barrier,
    go: Barrier,
    results: Any,
) -> None:
    options = EvaluatorOptions.from_settings(AlertsSettings(database_url=url))
    evaluator = Evaluator(replace(options, processes=processes))
    with psycopg.connect(url, autocommit=True, application_name="sourcewatch.alerts") as conn:
        with warming:  # one after the other: each takes warm-up outlets only
            done = 0
            while done < warm_outlets and (n := evaluator.drain(conn, warm_outlets - done)):
                done += n
        warmed.wait(_WAIT_S)
        go.wait(_WAIT_S)
        judged, cpu, backend_cpu = drain_measured(evaluator, conn)
        results.put((judged, cpu, backend_cpu, now()))


class Drainers:
    """The processes, warmed up and waiting; :meth:`drain` once."""

    def __init__(self, url: str, processes: int, warm_outlets: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._warmed = ctx.Barrier(processes + 1)
        self._go = ctx.Barrier(processes + 1)
        self._results: Any = ctx.Queue()
        self._warming = ctx.Lock()  # kept: the children take it when they have started
        shares = [
            warm_outlets // processes + (i < warm_outlets % processes) for i in range(processes)
        ]
        self._processes = [
            ctx.Process(
                target=_process,
                args=(url, processes, share, self._warming, self._warmed, self._go, self._results),
                name=f"bench-evaluator-{i + 1}",
                daemon=True,
            )
            for i, share in enumerate(shares)
        ]
        for p in self._processes:
            p.start()

    def wait_warmed(self) -> None:
        self._warmed.wait(_WAIT_S)

    def drain(self) -> Drain:
        """Release every process at once; the time until all are done."""
        self._go.wait(_WAIT_S)
        start = now()
        reports = [self._results.get(timeout=_WAIT_S) for _ in self._processes]
        elapsed = max(end for *_, end in reports) - start
        for p in self._processes:  # ended (connections closed) before the next side runs
            p.join(_WAIT_S)
        backends = [b for _, _, b, _ in reports]
        return Drain(
            elapsed,
            tuple(j for j, _, _, _ in reports),
            sum(c for _, c, _, _ in reports),
            None if None in backends else sum(b for b in backends if b is not None),
        )

    def close(self) -> None:
        self._warmed.abort()  # a step not reached (a failure) does not hold a process
        self._go.abort()
        for p in self._processes:
            p.join(_WAIT_S)
            if p.is_alive():
                p.kill()
                p.join()


@contextmanager
def drainers(url: str, processes: int, warm_outlets: int) -> Iterator[Drainers]:
    """:class:`Drainers` on ``url``, warmed up (the warm-up outlets judged); ended on exit."""
    d = Drainers(url, processes, warm_outlets)
    try:
        d.wait_warmed()
        yield d
    finally:
        d.close()
