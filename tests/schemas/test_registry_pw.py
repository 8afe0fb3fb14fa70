"""Issue 15: an outlet's HJ 212 PW must be one a logger can send (the TCP gateway refuses
outlets without one, and a PW that breaks the data segment could never match)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.registry.entries import OutletIn

OUTLET = {"mn": "010000A8900016F000169DC1", "name_zh": "1号排口", "kind": "gas"}


@pytest.mark.parametrize("pw", ["123456", "Ab-9_x.Z", "密码123"])
def test_a_sendable_pw_is_accepted(pw: str) -> None:
    assert OutletIn.model_validate(OUTLET | {"password": pw}).password == pw


@pytest.mark.parametrize("pw", ["12;34", "a=b", "1,2", "&&", "12 34", "ab\tc", "x" * 65])
def test_a_pw_that_cannot_be_sent_is_refused(pw: str) -> None:
    with pytest.raises(ValidationError, match="password"):
        OutletIn.model_validate(OUTLET | {"password": pw})


def test_no_pw_is_allowed_and_a_blank_one_means_none() -> None:
    assert OutletIn.model_validate(OUTLET).password is None
    assert OutletIn.model_validate(OUTLET | {"password": "  "}).password is None
