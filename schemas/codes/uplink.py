"""The JSON uplink: ``sourcewatch/v1/{MN}/data`` carries the content of one HJ 212 data upload.

Example::

    {"mn": "010000A8900016F000169DC0", "pw": "123456", "st": "31", "cn": "2011",
     "qn": "20261128080000123", "data_time": "2026-11-28T08:00:00+08:00", "ack": false,
     "values": {"a21026": {"Rtd": "35.2", "ZsRtd": "40.1", "Flag": "N"},
                "a19001": {"Rtd": 9.8, "Flag": "N"}}}

``data_time`` is ISO 8601; without an offset it is the outlet's local time. Value fields use
the HJ 212 suffixes (Rtd, Avg, Min, Max, Cou, ZsRtd, ZsAvg, Flag, EFlag, SampleTime …); numbers
may be JSON numbers or strings (strings keep the logger's exact digits).
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["JsonUpload", "json_schema"]

FieldValue = str | float | int | None


class JsonUpload(BaseModel):
    """The JSON uplink body (``sourcewatch/v1/{MN}/data``)."""

    model_config = ConfigDict(extra="forbid")

    mn: str = Field(min_length=1)
    pw: str | None = None
    st: str | None = None
    cn: str = Field(pattern=r"^\d{4}$")
    qn: str | None = None
    data_time: datetime
    ack: bool = False
    values: dict[str, dict[str, FieldValue]]

    @field_validator("values")
    @classmethod
    def _codes(cls, v: dict[str, dict[str, FieldValue]]) -> dict[str, dict[str, FieldValue]]:
        for code in v:
            if not code or len(code) > 16 or not code.isalnum():
                raise ValueError(f"bad pollutant code {code!r}")
        return v


def json_schema() -> str:
    """The JSON Schema of the uplink body, as published in the docs."""
    return json.dumps(JsonUpload.model_json_schema(), indent=2, ensure_ascii=False)
