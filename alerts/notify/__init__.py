"""Notifications of case transitions to enforcement staff, and of system alerts to the staff
who subscribed to them (:mod:`alerts.notify.system`).

The evaluator calls :func:`enqueue_many` with a :class:`Notification` per transition in the
transaction that records them (:func:`enqueue` takes one); a :class:`Dispatcher` delivers
the outbox over the channels (webhook, e-mail, MQTT, WeCom and DingTalk robots). One case transition (one ``case_events``
row) is one notification per subscription, however often it is replayed.
"""

from __future__ import annotations

from alerts.notify.channels import (
    Channel,
    DeliveryResult,
    DingTalkChannel,
    EmailChannel,
    MqttChannel,
    SmtpSettings,
    WebhookChannel,
    WeComChannel,
    dingtalk_sign,
    verify_webhook,
    webhook_signature,
)
from alerts.notify.dispatcher import DeliveryReport, Dispatcher, RetryPolicy
from alerts.notify.errors import (
    InvalidNotification,
    NotifyError,
    SubscriptionError,
    TransportError,
    UnknownEvent,
    UnknownSubscription,
)
from alerts.notify.message import Message, Notice, read_notice, render, render_digest
from alerts.notify.notification import ACTIONS, Notification
from alerts.notify.outbox import enqueue, enqueue_many
from alerts.notify.system import SystemNotice, announce_pending
from schemas.subscriptions import (
    CHANNELS,
    Subscription,
    add_subscription,
    deactivate_subscription,
    get_subscription,
    list_subscriptions,
)

__all__ = [
    "ACTIONS",
    "CHANNELS",
    "Channel",
    "DeliveryReport",
    "DeliveryResult",
    "DingTalkChannel",
    "Dispatcher",
    "EmailChannel",
    "InvalidNotification",
    "Message",
    "MqttChannel",
    "Notice",
    "Notification",
    "NotifyError",
    "RetryPolicy",
    "SmtpSettings",
    "Subscription",
    "SubscriptionError",
    "SystemNotice",
    "TransportError",
    "UnknownEvent",
    "UnknownSubscription",
    "WeComChannel",
    "WebhookChannel",
    "add_subscription",
    "announce_pending",
    "deactivate_subscription",
    "dingtalk_sign",
    "enqueue",
    "enqueue_many",
    "get_subscription",
    "list_subscriptions",
    "read_notice",
    "render",
    "render_digest",
    "verify_webhook",
    "webhook_signature",
]
