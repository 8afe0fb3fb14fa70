"""DingTalk (钉钉) custom group robot: ``POST <webhook URL with ?access_token=…>``.

Documented shape (open.dingtalk.com, 自定义机器人发送群消息)::

    {"msgtype": "markdown", "markdown": {"title": "…", "text": "…"}}

With 加签 (the robot's "SEC…" secret), two query parameters are added: ``timestamp`` (ms since
the epoch, within an hour of DingTalk's clock) and
``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alerts.notify.channels._robot import post_robot
from alerts.notify.channels.base import DeliveryResult
from alerts.notify.message import Message

__all__ = ["DingTalkChannel", "dingtalk_payload", "dingtalk_sign", "dingtalk_url"]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), before URL encoding."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def dingtalk_url(target: str, secret: str | None, timestamp_ms: int) -> str:
    """The robot URL, with ``timestamp`` and ``sign`` added when the robot has a secret."""
    if not secret:
        return target
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("timestamp", "sign")]
    query += [("timestamp", str(timestamp_ms)), ("sign", dingtalk_sign(secret, timestamp_ms))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def dingtalk_payload(message: Message) -> dict[str, Any]:
    return {
        "msgtype": "markdown",
        "markdown": {"title": message.subject_zh, "text": message.markdown},
    }


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DingTalkChannel:
    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] = _utcnow,
        allow_private_targets: bool = False,
    ) -> None:
        self.allow_private_targets = allow_private_targets
        self.timeout_s = timeout_s
        self.clock = clock

    def send(self, target: str, secret: str | None, message: Message) -> DeliveryResult:
        timestamp_ms = int(self.clock().timestamp() * 1000)
        url = dingtalk_url(target, secret, timestamp_ms)
        return post_robot(
            url, dingtalk_payload(message), self.timeout_s, allow_private=self.allow_private_targets
        )

    def close(self) -> None:
        pass
