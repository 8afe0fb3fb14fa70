"""Settings of the alerts process (``sourcewatch alerts``: evaluator, notification dispatcher,
publisher), beside the shared ones (:mod:`schemas.core.settings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from schemas.core.cores import usable_cores
from schemas.core.settings import Settings

__all__ = ["AlertsSettings"]


class AlertsSettings(Settings):
    evaluator_processes: int = Field(
        0,
        ge=0,
        description="Evaluators of `sourcewatch alerts` draining the evaluation queue together: "
        "the alerts process's own and this many minus one child processes; 0: one per CPU core "
        "the process may use (set it where a container's CPU limit is below the host's cores).",
    )
    evaluation_sweep_s: float = Field(
        60.0,
        gt=0,
        description="Evaluator: how often it sweeps for outages, ended days and "
        "unacknowledged cases (new data wakes it at once).",
    )
    dead_letter_retention_days: int = Field(
        90,
        ge=1,
        description="Dead letters (rejected messages) older than this many days are deleted by "
        "the evaluator's sweep.",
    )
    case_close_after: int = Field(
        3,
        ge=1,
        description="An exceedance case closes after this many consecutive compliant valid means.",
    )
    case_major_multiple: float = Field(
        0.5,
        gt=0,
        description="An exceedance case becomes major at this exceedance multiple "
        "((value − limit) / limit).",
    )
    case_critical_multiple: float = Field(
        1.0, gt=0, description="An exceedance case becomes critical at this exceedance multiple."
    )
    case_major_periods: int = Field(
        4, ge=1, description="An exceedance case becomes major after this many exceeding means."
    )
    case_critical_periods: int = Field(
        12, ge=1, description="An exceedance case becomes critical after this many exceeding means."
    )
    outage_after_minutes: int = Field(
        30, ge=1, description="An outlet silent this long opens an outage case."
    )
    fault_after_hours: int = Field(
        2,
        ge=1,
        description="Fault/calibration/maintenance flags (D, C, M) filling this many "
        "consecutive hours open an instrument-fault case.",
    )
    unacknowledged_escalation_minutes: int = Field(
        120, ge=1, description="An open case nobody acknowledged is escalated after this long."
    )
    day_grace_minutes: int = Field(
        60,
        ge=0,
        description="Daily means are judged this long after the local day ends "
        "(late data is re-judged whenever it arrives).",
    )
    publish_settle_minutes: int = Field(
        5,
        ge=0,
        description="Daily summaries, emission totals and tax estimates are published (or "
        "revised) once the means they are made of have not changed for this long, so that a "
        "logger's backlog or a recall being judged gives one version, not one per pass.",
    )
    system_alert_reminder_hours: float = Field(
        24.0,
        ge=0,
        description="A system alert still open this many hours after it was opened (or last "
        "reminded of) is sent again to its subscribers as a reminder; 0: never.",
    )
    smtp_host: str = Field(
        "", description="SMTP server for e-mail notifications; empty: e-mail subscriptions wait."
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (587 with STARTTLS).")
    smtp_sender: str = Field(
        "sourcewatch@localhost", description="From: address of e-mail notifications."
    )
    smtp_starttls: bool = Field(False, description="Use STARTTLS after connecting to SMTP.")
    smtp_username: str = Field("", description="SMTP login; empty: no login.")
    smtp_password: str = Field("", description="SMTP password (a secret: set it, never commit it).")
    signing_key_file: Path | None = Field(
        None,
        description="Ed25519 private key (PEM) that signs the publication log's daily roots "
        "(`sourcewatch keys generate`, `sourcewatch ledger sign`); unset: var/signing-key.pem.",
    )

    def evaluator_count(self) -> int:
        """``evaluator_processes``, or with 0 the cores this process may run on."""
        return self.evaluator_processes or usable_cores()
