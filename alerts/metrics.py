"""Prometheus metrics of the alerts process (the default registry, served by
:func:`schemas.core.health.serve_health`): the evaluator's work and the notifications' fate."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "EVALUATION_ERRORS",
    "EVALUATOR_COUNTERS",
    "NOTIFICATIONS",
    "OUTLETS",
    "QUEUE_DEPTH",
    "TRANSITIONS",
]

OUTLETS = Counter("sourcewatch_evaluator_outlets", "Outlets evaluated from the evaluation queue.")
TRANSITIONS = Counter(
    "sourcewatch_evaluator_transitions",
    "Case transitions announced, by action (opened, escalated, closed, …).",
    ["action"],
)
EVALUATION_ERRORS = Counter(
    "sourcewatch_evaluator_evaluation_errors",
    "Evaluation steps that failed and were recorded in evaluation_errors.",
)
EVALUATOR_COUNTERS = (OUTLETS, TRANSITIONS, EVALUATION_ERRORS)
"""What every evaluator counts, a child process's included (:mod:`alerts.evaluator_processes`
adds a child's to its parent's)."""
QUEUE_DEPTH = Gauge(
    "sourcewatch_evaluator_queue_depth",
    "Rows in evaluation_queue (outlet-hours waiting), sampled by the sweep.",
)
NOTIFICATIONS = Counter(
    "sourcewatch_notifications",
    "Notifications by channel and outcome: sent, digested, failed (an attempt failed), given_up.",
    ["channel", "outcome"],
)
