"""The local time zone of the bureau's calendar: local days (daily means, disclosure clocks, the
publication log's daily roots, dumps) are Asia/Shanghai days. HJ 212 ``DataTime`` has its own
setting (``SOURCEWATCH_TIMEZONE``, per outlet in the registry)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

__all__ = ["LOCAL_TZ", "LOCAL_TZ_NAME"]

LOCAL_TZ_NAME = "Asia/Shanghai"
LOCAL_TZ = ZoneInfo(LOCAL_TZ_NAME)
