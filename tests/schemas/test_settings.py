from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.core.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_with_its_default() -> None:
    example = (ROOT / "deploy" / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        var = f"SOURCEWATCH_{name.upper()}"
        assert f"{var}={field.default}" in example, var
        assert f"`{var}`" in readme, var
        assert field.description, var


def test_settings_come_from_the_given_environment_only() -> None:
    s = get_settings({"SOURCEWATCH_MQTT_URL": "mqtt://broker:1884", "OTHER": "x"})
    assert s.mqtt_url == "mqtt://broker:1884"
    assert s.batch_max_messages == Settings.model_fields["batch_max_messages"].default


def test_bad_values_are_refused_with_the_setting_named() -> None:
    with pytest.raises(ValidationError, match="mqtt_receive_maximum"):
        get_settings({"SOURCEWATCH_MQTT_RECEIVE_MAXIMUM": "0"})
