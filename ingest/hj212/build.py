"""Serialising packets, and the replies a receiver owes (9014 data answer, 9013 notice answer)."""

from __future__ import annotations

from collections.abc import Mapping

from .crc import crc16
from .errors import LengthError
from .frame import Frame

__all__ = ["build_packet", "build_segment", "encode_cp", "reply_9013", "reply_9014"]


# Fig. 4 / Table 3: "QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;PNUM=…;PNO=…;CP=&&…&&"
# "PNUM 总包数 ... 不分包时可以没有本字段，与标志位有关" (likewise PNO).
def build_segment(
    *,
    st: str,
    cn: str,
    mn: str,
    pw: str,
    qn: str | None = None,
    flag: int | None = None,
    cp: str = "",
    pnum: int | None = None,
    pno: int | None = None,
) -> str:
    """The data segment in canonical order ``QN;ST;CN;PW;MN;Flag;[PNUM;PNO;]CP=&&{cp}&&``.

    Fields given as None (QN, Flag, PNUM, PNO) are left out; strings are written verbatim.
    """
    fields = [] if qn is None else [f"QN={qn}"]
    fields += [f"ST={st}", f"CN={cn}", f"PW={pw}", f"MN={mn}"]
    if flag is not None:
        fields.append(f"Flag={flag}")
    if pnum is not None:
        fields.append(f"PNUM={pnum}")
    if pno is not None:
        fields.append(f"PNO={pno}")
    fields.append(f"CP=&&{cp}&&")
    return ";".join(fields)


# §6.3.3.1: "字段与其值用'='连接；在数据区中，同一项目的不同分类值间用'，'来分隔，
#            不同项目之间用'；'来分隔"
def encode_cp(attributes: Mapping[str, str], items: Mapping[str, Mapping[str, str]]) -> str:
    """CP text: each attribute as its own group, then one ``,``-joined group per code.

    ``encode_cp({"DataTime": "20160801085857"}, {"a21026": {"Rtd": "1.2", "Flag": "N"}})``
    gives ``"DataTime=20160801085857;a21026-Rtd=1.2,a21026-Flag=N"``. Values are written
    verbatim (never re-format numbers: "1.230" stays "1.230", docs/protocol.md#frame-grammar).
    """
    groups = [f"{key}={value}" for key, value in attributes.items()]
    for code, fields in items.items():
        groups.append(",".join(f"{code}-{field}={value}" for field, value in fields.items()))
    return ";".join(groups)


# Table 2: "##" + 4-digit length of the segment + segment + CRC (Appendix A, "%04X") + CR LF.
def build_packet(segment: str | bytes) -> bytes:
    """The full packet ``##LLLL<segment><CRC>\\r\\n``; a str segment is encoded as UTF-8."""
    data = segment.encode("utf-8") if isinstance(segment, str) else segment
    if len(data) > 9999:
        raise LengthError(f"data segment of {len(data)} bytes does not fit 4 digits", None)
    return b"##%04d%b%04X\r\n" % (len(data), data, crc16(data))


# Appendix C.13/C.15 (docs/protocol.md#replies): replies use ST=91, Flag=4, CP=&&&&, echo the QN,
# PW and MN of the packet they answer ("应答... QN 与请求相同").
def _reply(frame: Frame, cn: str) -> bytes:
    fields = [] if frame.qn is None else [f"QN={frame.qn}"]
    fields += ["ST=91", f"CN={cn}", f"PW={frame.pw or ''}", f"MN={frame.mn or ''}"]
    fields += ["Flag=4", "CP=&&&&"]
    return build_packet(";".join(fields).encode(frame.encoding))


def reply_9014(frame: Frame) -> bytes:
    """The 数据应答 (CN=9014) for an upload whose Flag asked for one (A = 1)."""
    return _reply(frame, "9014")


def reply_9013(frame: Frame) -> bytes:
    """The 通知应答 (CN=9013), e.g. for a 1013 time-calibration request."""
    return _reply(frame, "9013")
