from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.codes.uplink import JsonUpload, json_schema

ROOT = Path(__file__).resolve().parents[2]


def test_the_published_json_schema_matches_the_model() -> None:
    published = (ROOT / "schemas" / "codes" / "uplink.schema.json").read_text()
    assert json.loads(published) == json.loads(json_schema())


def test_the_documented_example_validates() -> None:
    example = {
        "mn": "010000A8900016F000169DC0",
        "pw": "123456",
        "st": "31",
        "cn": "2011",
        "qn": "20261128080000123",
        "data_time": "2026-11-28T08:00:00+08:00",
        "ack": False,
        "values": {
            "a21026": {"Rtd": "35.2", "ZsRtd": "40.1", "Flag": "N"},
            "a19001": {"Rtd": 9.8, "Flag": "N"},
        },
    }
    body = JsonUpload.model_validate(example)
    assert body.values["a19001"]["Rtd"] == 9.8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cn": "20x1"}, "cn"),
        ({"values": {"a21026;DROP": {"Rtd": "1"}}}, "bad pollutant code"),
        ({"extra": 1}, "extra"),
        ({"data_time": "yesterday"}, "data_time"),
    ],
)
def test_bad_bodies_are_refused_saying_what_is_wrong(
    change: dict[str, object], message: str
) -> None:
    body = {"mn": "M", "cn": "2011", "data_time": "2026-11-28T08:00:00", "values": {}} | change
    with pytest.raises(ValidationError, match=message):
        JsonUpload.model_validate(body)
