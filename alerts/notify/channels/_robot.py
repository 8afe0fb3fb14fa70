"""What the WeCom and DingTalk group robots share: a JSON POST answered by
``{"errcode": 0, "errmsg": "ok"}`` with HTTP 200; any other errcode is a failure (for example
45009 / 130101: sending too fast, retried later)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from alerts.notify.channels._http import post
from alerts.notify.channels.base import DeliveryResult
from alerts.notify.errors import TransportError

__all__ = ["post_robot"]


def post_robot(
    url: str, payload: Mapping[str, Any], timeout_s: float, *, allow_private: bool = False
) -> DeliveryResult:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        response = post(
            url,
            body,
            {"Content-Type": "application/json; charset=utf-8"},
            timeout_s,
            allow_private=allow_private,
        )
    except TransportError as exc:
        return DeliveryResult.failure(str(exc))
    summary = response.summary()
    if not response.ok:
        return DeliveryResult.failure(
            f"HTTP {response.status}", status_code=response.status, response=summary
        )
    try:
        answer = json.loads(response.body)
        errcode = answer.get("errcode")
    except (ValueError, AttributeError):
        return DeliveryResult.failure(
            "robot answered without JSON", status_code=response.status, response=summary
        )
    if errcode != 0:
        return DeliveryResult.failure(
            f"robot error {errcode}: {answer.get('errmsg')}",
            status_code=response.status,
            response=summary,
        )
    return DeliveryResult(True, response.status, summary)
