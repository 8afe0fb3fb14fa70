"""Wires the alerts process from settings: the evaluator, the notification dispatcher and the
publisher, each on its own thread, and the evaluator's other processes
(:mod:`alerts.evaluator_processes`, ``evaluator_processes`` − 1 of them), until stopped."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.evaluator_processes import EvaluatorProcesses
from alerts.notify import (
    Channel,
    DingTalkChannel,
    Dispatcher,
    EmailChannel,
    MqttChannel,
    SmtpSettings,
    WebhookChannel,
    WeComChannel,
)
from alerts.publish import Publisher, PublisherOptions
from alerts.settings import AlertsSettings
from schemas.core.health import serve_health

__all__ = ["build_channels", "run_alerts"]

log = logging.getLogger(__name__)

# Python runs a signal's handler in the main thread only, when that thread next runs Python
# code; but the kernel hands a process's SIGTERM to any of its threads: to another one when the
# main thread has a signal pending, or, for a SIGTERM sent while the process was stopped
# (Ctrl-Z, a frozen container, a machine so loaded that the tests' load harness stops and
# continues processes), to whichever runs first once continued. A main thread in a join without
# a timeout never runs the handler then, and the process never stops; it waits this long at a
# time instead.
SIGNAL_CHECK_S = 0.5


def build_channels(settings: AlertsSettings) -> dict[str, Channel]:
    """The delivery channels the settings allow (e-mail only with an SMTP server)."""
    allow = settings.notify_allow_private_targets
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(allow_private_targets=allow),
        "wecom": WeComChannel(allow_private_targets=allow),
        "dingtalk": DingTalkChannel(allow_private_targets=allow),
        "mqtt": MqttChannel(settings.broker, client_id=f"{settings.mqtt_client_id}-alerts"),
    }
    if settings.smtp_host:
        channels["email"] = EmailChannel(
            SmtpSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_sender,
                starttls=settings.smtp_starttls,
                username=settings.smtp_username or None,
                password=settings.smtp_password or None,
            )
        )
    return channels


def run_alerts(settings: AlertsSettings, stop: threading.Event) -> int:
    options = EvaluatorOptions.from_settings(settings)
    evaluator = Evaluator(options)
    children = EvaluatorProcesses(options, options.processes - 1)
    publisher = Publisher(PublisherOptions.from_settings(settings))
    reminder = settings.system_alert_reminder_hours
    with Dispatcher(
        settings.database,
        build_channels(settings),
        system_alert_reminder=timedelta(hours=reminder) if reminder > 0 else None,
    ) as dispatcher:
        stop_health = serve_health(
            settings.metrics_port,
            ready=lambda: (
                evaluator.connected
                and children.ready
                and dispatcher.connected
                and publisher.connected
            ),
            host=settings.metrics_host,
        )
        threads = [
            threading.Thread(target=evaluator.run, args=(stop,), name="evaluator"),
            threading.Thread(target=dispatcher.run, args=(stop,), name="dispatcher"),
            threading.Thread(target=publisher.run, args=(stop,), name="publisher"),
        ]
        if children.count:
            threads.append(
                threading.Thread(target=children.run, args=(stop,), name="evaluator-processes")
            )
        for t in threads:
            t.start()
        log.info(
            "alerts running: %d evaluator(s) and dispatcher (%s)",
            options.processes,
            ", ".join(dispatcher.channels),
        )
        try:
            for t in threads:
                while t.is_alive():  # a moment at a time, so that a signal is never lost:
                    t.join(SIGNAL_CHECK_S)
        finally:
            stop_health()
    return 0
