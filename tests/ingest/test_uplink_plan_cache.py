"""The plans of ``ingest.uplink`` (how a code's fields fill the columns) are remembered per field
set; frames with ever new field names (a faulty or hostile logger) must not grow a worker's
memory without end (issue 16, memory is bounded)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ingest import uplink
from ingest.hj212 import CRCPolicy, build_packet, build_segment
from ingest.outlets import Outlet
from ingest.records import Accepted
from ingest.uplink import PLAN_CACHE_SIZE, decode_message

MN = "PLAN0000000000000000001"
OUTLET = Outlet(1, MN, "gas", None, CRCPolicy.STRICT, "hj212-2017", ZoneInfo("Asia/Shanghai"))
AT = datetime(2030, 1, 1, tzinfo=UTC)


def frame(i: int) -> bytes:
    cp = f"DataTime=20240101120000;a21026-Rtd={i}.5,a21026-Flag=N,a21026-Odd{i}=x"
    segment = build_segment(
        qn=f"20240101120000{i % 1000:03d}", st="22", cn="2011", pw="123456", mn=MN, flag=4, cp=cp
    )
    return build_packet(segment)


def decoded(i: int) -> Accepted:
    (out,) = decode_message(f"hj212/{MN}/up", frame(i), AT, lambda mn: OUTLET)
    assert isinstance(out, Accepted), out
    return out


def test_plans_stay_within_their_bound_whatever_the_field_names() -> None:
    for i in range(PLAN_CACHE_SIZE * 2):
        decoded(i)
    assert uplink._plan.cache_info().currsize <= PLAN_CACHE_SIZE


def test_a_plan_forgotten_is_made_again_alike() -> None:
    first = decoded(0).rows
    for i in range(1, PLAN_CACHE_SIZE + 10):  # pushes frame 0's field set out
        decoded(i)
    again = decoded(0).rows
    assert again == first
    (row,) = again
    assert (row.value, row.flag, row.extra) == (0.5, "N", {"Odd0": "x"})


def test_frame_layouts_stay_within_their_bound_whatever_the_keys() -> None:
    uplink._remembered_layout.cache_clear()
    for i in range(uplink.LAYOUT_CACHE_SIZE * 2):
        decoded(i)
    assert uplink._remembered_layout.cache_info().currsize <= uplink.LAYOUT_CACHE_SIZE


def test_a_frame_of_many_values_is_decoded_without_remembering_its_layout() -> None:
    uplink._remembered_layout.cache_clear()
    pairs = [f"a{k:05d}-Rtd={k}.5" for k in range(uplink.LAYOUT_MAX_VALUES + 1)]
    cp = "DataTime=20240101120000;" + ";".join(pairs)
    segment = build_segment(
        qn="20240101120000000", st="22", cn="2011", pw="123456", mn=MN, flag=4, cp=cp
    )
    (out,) = decode_message(f"hj212/{MN}/up", build_packet(segment), AT, lambda mn: OUTLET)
    assert isinstance(out, Accepted), out
    assert [r.pollutant for r in out.rows] == [p.split("-")[0] for p in pairs]
    assert out.rows[-1].value == uplink.LAYOUT_MAX_VALUES + 0.5
    assert uplink._remembered_layout.cache_info().currsize == 0
