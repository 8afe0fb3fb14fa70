"""What a channel sends: one notification (of a case transition or a system alert), or a digest
of several, rendered once in every form a channel needs (bilingual subject, plain text, robot
markdown, JSON document).

Rendering has no I/O; channels pick the form they speak.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from alerts.notify.errors import InvalidNotification
from alerts.notify.notification import (
    Notification,
    action_label,
    kind_label,
    severity_label,
)
from alerts.notify.system import SystemNotice, system_action_label, system_kind_label
from schemas.cases.kinds import SEVERITIES
from schemas.core.localtime import LOCAL_TZ

__all__ = ["DIGEST_MAX_LINES", "Message", "Notice", "read_notice", "render", "render_digest"]

# What one outbox row carries.
Notice = Notification | SystemNotice


def read_notice(payload: Mapping[str, Any]) -> Notice:
    """The notice an outbox payload holds (by its ``type``)."""
    if not isinstance(payload, Mapping):
        raise InvalidNotification(f"not a notification document: {payload!r}")
    if payload.get("type") == "system_alert":
        return SystemNotice.from_json(payload)
    return Notification.from_json(payload)


# A digest lists at most this many notifications in text and markdown (the JSON has them all).
DIGEST_MAX_LINES = 50

_DETAILS = {
    "mean": ("均值", "Mean"),
    "limit": ("限值", "Limit"),
    "multiple": ("超标倍数", "Exceedance multiple"),
    "max_multiple": ("最大超标倍数", "Highest exceedance multiple"),
    "period": ("时段", "Period"),
    "limit_source": ("限值依据", "Limit source"),
    "exceeding_periods": ("超标时段数", "Exceeding periods"),
    "first_at": ("首次", "First period"),
    "last_at": ("最近", "Latest period"),
    "close_reason": ("解除原因", "Close reason"),
}


@dataclass(frozen=True, slots=True)
class Message:
    event_ids: tuple[int, ...]
    subject_zh: str
    subject_en: str
    text: str  # bilingual plain text (e-mail)
    markdown: str  # bilingual markdown, the subset WeCom and DingTalk robots render
    payload: Mapping[str, Any]  # JSON document (webhook body, MQTT payload)
    digest: bool = False
    system_event_ids: tuple[int, ...] = ()  # the system alert events carried

    @property
    def references(self) -> str:
        """The events carried, for a receiver to dedupe: ``12,13`` (case events) and
        ``system-4`` (system alert events)."""
        return ",".join(
            [str(e) for e in self.event_ids] + [f"system-{e}" for e in self.system_event_ids]
        )

    @property
    def subject(self) -> str:
        return f"{self.subject_zh} / {self.subject_en}"

    def json_bytes(self) -> bytes:
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":")).encode()


def render(n: Notice) -> Message:
    """The message for one case transition or one system alert transition."""
    if isinstance(n, SystemNotice):
        return _render_system(n)
    sev_zh, sev_en = severity_label(n.severity)
    lines_zh, lines_en = _facts(n)
    text = "\n".join([n.title_zh, *lines_zh, "", n.title_en, *lines_en, "", _reference(n)])
    markdown = "\n\n".join(
        [
            f"### 【{sev_zh}】{n.title_zh}",
            *(f"> {line}" for line in lines_zh),
            f"**[{sev_en}] {n.title_en}**",
            *(f"> {line}" for line in lines_en),
            _reference(n),
        ]
    )
    return Message(
        event_ids=(n.event_id,),
        subject_zh=f"【{sev_zh}】{n.title_zh}",
        subject_en=f"[{sev_en}] {n.title_en}",
        text=text + "\n",
        markdown=markdown,
        payload=n.to_json(),
    )


def _render_system(n: SystemNotice) -> Message:
    sev_zh, sev_en = severity_label(n.severity)
    lines_zh, lines_en = _system_facts(n)
    reference = f"system alert {n.alert_id} · event system-{n.system_event_id}"
    text = "\n".join([n.title_zh, *lines_zh, "", n.title_en, *lines_en, "", reference])
    markdown = "\n\n".join(
        [
            f"### 【{sev_zh}】{n.title_zh}",
            *(f"> {line}" for line in lines_zh),
            f"**[{sev_en}] {n.title_en}**",
            *(f"> {line}" for line in lines_en),
            reference,
        ]
    )
    return Message(
        event_ids=(),
        system_event_ids=(n.system_event_id,),
        subject_zh=f"【{sev_zh}】{n.title_zh}",
        subject_en=f"[{sev_en}] {n.title_en}",
        text=text + "\n",
        markdown=markdown,
        payload=n.to_json(),
    )


def _system_facts(n: SystemNotice) -> tuple[list[str], list[str]]:
    kind, action = system_kind_label(n.kind), system_action_label(n.action)
    first_local = n.first_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    last_local = n.last_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    first_utc = n.first_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    last_utc = n.last_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    zh = [
        f"类型：{kind[0]}　状态：{action[0]}",
        f"对象：{n.subject}",
        n.message_zh,
        f"次数：{n.count}　首次：{first_local} 北京时间　最近：{last_local} 北京时间",
        f"时间：{_local(n)}",
    ]
    en = [
        f"Kind: {kind[1]}  Transition: {action[1]}",
        f"Subject: {n.subject}",
        n.message_en,
        f"Count: {n.count}  First: {first_utc}  Latest: {last_utc}",
        f"Time: {_utc(n)}",
    ]
    if n.closed_by:
        zh.append(f"关闭人：{n.closed_by}")
        en.append(f"Closed by: {n.closed_by}")
    return zh, en


def render_digest(notifications: Sequence[Notice]) -> Message:
    """One message listing several notifications (when too many are due at once)."""
    if not notifications:
        raise ValueError("a digest needs at least one notification")
    count = len(notifications)
    worst = max((n.severity for n in notifications), key=SEVERITIES.index)
    sev_zh, sev_en = severity_label(worst)
    shown = notifications[:DIGEST_MAX_LINES]
    more = count - len(shown)
    items_zh = [f"【{severity_label(n.severity)[0]}】{n.title_zh}（{_local(n)}）" for n in shown]
    items_en = [f"[{severity_label(n.severity)[1]}] {n.title_en} ({_utc(n)})" for n in shown]
    if more:
        items_zh.append(f"……另有 {more} 条")
        items_en.append(f"… and {more} more")
    cases_only = all(isinstance(n, Notification) for n in notifications)
    noun_zh, noun_en = (
        ("案件通知", "case notifications") if cases_only else ("通知", "notifications")
    )
    head_zh = f"共 {count} 条{noun_zh}，最高级别：{sev_zh}"
    head_en = f"{count} {noun_en}, highest severity: {sev_en}"
    text = "\n".join(
        [head_zh, *(f"- {i}" for i in items_zh), "", head_en, *(f"- {i}" for i in items_en)]
    )
    markdown = "\n\n".join(
        [
            f"### 【汇总】{head_zh}",
            "\n".join(f"- {i}" for i in items_zh),
            f"**[Digest] {head_en}**",
            "\n".join(f"- {i}" for i in items_en),
        ]
    )
    return Message(
        event_ids=tuple(n.event_id for n in notifications if isinstance(n, Notification)),
        system_event_ids=tuple(
            n.system_event_id for n in notifications if isinstance(n, SystemNotice)
        ),
        subject_zh=f"【汇总·{sev_zh}】{count} 条{noun_zh}",
        subject_en=f"[Digest, {sev_en}] {count} {noun_en}",
        text=text + "\n",
        markdown=markdown,
        payload={
            "type": "digest",
            "count": count,
            "severity": worst,
            "notifications": [n.to_json() for n in notifications],
        },
        digest=True,
    )


def _local(n: Notice) -> str:
    return n.occurred_local.strftime("%Y-%m-%d %H:%M") + " 北京时间"


def _utc(n: Notice) -> str:
    return n.occurred_utc.strftime("%Y-%m-%d %H:%M UTC")


def _reference(n: Notification) -> str:
    return f"case {n.case_id} · event {n.event_id}"


def _facts(n: Notification) -> tuple[list[str], list[str]]:
    sev, kind, action = severity_label(n.severity), kind_label(n.kind), action_label(n.action)
    district = f"（{n.district}）" if n.district else ""
    zh = [
        f"级别：{sev[0]}　类型：{kind[0]}　状态：{action[0]}",
        f"企业：{n.enterprise_name_zh}{district}",
        f"排口：{n.outlet_name_zh}（MN {n.mn}）",
    ]
    en = [
        f"Severity: {sev[1]}  Kind: {kind[1]}  Transition: {action[1]}",
        f"Enterprise: {n.enterprise_name_en or n.enterprise_name_zh}"
        + (f" ({n.district})" if n.district else ""),
        f"Outlet: {n.outlet_name_zh} (MN {n.mn})",
    ]
    if n.pollutant is not None:
        zh.append(f"污染物：{n.pollutant_name_zh or n.pollutant}（{n.pollutant}）")
        en.append(f"Pollutant: {n.pollutant_name_en or n.pollutant} ({n.pollutant})")
    zh.append(f"时间：{_local(n)}")
    en.append(f"Time: {_utc(n)}")
    unit = n.details.get("unit")
    suffix = f" {unit}" if unit else ""
    for key, value in n.details.items():
        if key == "unit" or value is None or isinstance(value, Mapping | list):
            continue
        label_zh, label_en = _DETAILS.get(key, (key, key))
        shown = f"{value}{suffix}" if key in ("mean", "limit") else str(value)
        zh.append(f"{label_zh}：{shown}")
        en.append(f"{label_en}: {shown}")
    return zh, en
