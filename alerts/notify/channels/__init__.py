"""Delivery channels, one module each, behind :class:`Channel`."""

from __future__ import annotations

from alerts.notify.channels.base import Channel, DeliveryResult
from alerts.notify.channels.dingtalk import DingTalkChannel, dingtalk_sign
from alerts.notify.channels.mqtt import MqttChannel
from alerts.notify.channels.smtp import EmailChannel, SmtpSettings
from alerts.notify.channels.webhook import WebhookChannel, verify_webhook, webhook_signature
from alerts.notify.channels.wecom import WeComChannel

__all__ = [
    "Channel",
    "DeliveryResult",
    "DingTalkChannel",
    "EmailChannel",
    "MqttChannel",
    "SmtpSettings",
    "WeComChannel",
    "WebhookChannel",
    "dingtalk_sign",
    "verify_webhook",
    "webhook_signature",
]
