"""The names of case kinds, severities and system alert kinds have one home each
(``schemas.cases.kinds``, ``schemas.system_alerts``): notifications and the staff console say
the same (they once differed: the console's 设备故障 "Fault" against the notifications'
仪器故障 "Instrument fault")."""

from __future__ import annotations

from alerts.notify.notification import kind_label, severity_label
from alerts.notify.system import system_kind_label
from api.console import label
from schemas.cases.kinds import CASE_KINDS, KIND_LABELS, SEVERITIES, SEVERITY_LABELS
from schemas.system_alerts import ALERT_KINDS
from schemas.system_alerts import KIND_LABELS as ALERT_KIND_LABELS


def test_every_code_has_a_chinese_and_an_english_name() -> None:
    for codes, names in (
        (CASE_KINDS, KIND_LABELS),
        (SEVERITIES, SEVERITY_LABELS),
        (ALERT_KINDS, ALERT_KIND_LABELS),
    ):
        assert set(names) == set(codes)
        assert all(zh and en and zh != en for zh, en in names.values())


def test_the_console_and_the_notifications_say_the_same() -> None:
    for code in CASE_KINDS:
        assert (label(f"kind_{code}", "zh"), label(f"kind_{code}", "en")) == kind_label(code)
    for code in SEVERITIES:
        assert (label(f"severity_{code}", "zh"), label(f"severity_{code}", "en")) == (
            severity_label(code)
        )
    for code in ALERT_KINDS:
        assert (label(f"alert_kind_{code}", "zh"), label(f"alert_kind_{code}", "en")) == (
            system_kind_label(code)
        )
