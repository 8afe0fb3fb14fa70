"""WeCom (企业微信) group robot: ``POST <webhook URL with ?key=…>`` with a markdown message.

Documented shape (developer.work.weixin.qq.com/document/path/91770, 群机器人配置说明)::

    {"msgtype": "markdown", "markdown": {"content": "…"}}

``content`` is at most 4096 bytes of UTF-8; longer messages are cut at a character boundary.
A robot accepts at most 20 messages a minute. The robot URL's key is its credential: there is
no separate secret.
"""

from __future__ import annotations

from typing import Any

from alerts.notify.channels._robot import post_robot
from alerts.notify.channels.base import DeliveryResult
from alerts.notify.message import Message

__all__ = ["WECOM_MAX_BYTES", "WeComChannel", "wecom_payload"]

WECOM_MAX_BYTES = 4096


def wecom_payload(message: Message) -> dict[str, Any]:
    content = message.markdown
    data = content.encode()
    if len(data) > WECOM_MAX_BYTES:
        cut = data[: WECOM_MAX_BYTES - len("…".encode())].decode("utf-8", "ignore")
        content = cut + "…"
    return {"msgtype": "markdown", "markdown": {"content": content}}


class WeComChannel:
    def __init__(self, *, timeout_s: float = 10.0, allow_private_targets: bool = False) -> None:
        self.allow_private_targets = allow_private_targets
        self.timeout_s = timeout_s

    def send(self, target: str, secret: str | None, message: Message) -> DeliveryResult:
        return post_robot(
            target,
            wecom_payload(message),
            self.timeout_s,
            allow_private=self.allow_private_targets,
        )

    def close(self) -> None:
        pass
