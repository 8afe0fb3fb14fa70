"""One simulated upload as an MQTT message: a raw HJ 212 packet or the JSON uplink, or a
deliberately broken one (bad CRC, truncated, garbage, broken JSON)."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.hj212 import build_packet, build_segment, encode_cp

from .timebase import data_time_text, from_ms, qn_text

__all__ = ["CORRUPTIONS", "SimMessage", "corrupt", "upload"]

# HJ 212-2017 Table 3 / §5.1 of our notes: version 000001 (2017) + A (answer requested).
UPLOAD_FLAG = 5
# When each upload is sent, relative to its DataTime (the start of the interval it reports).
_SEND_DELAY = {"2011": timedelta(0), "2051": timedelta(minutes=1), "2061": timedelta(hours=1)}
CORRUPTIONS = ("bad-crc", "truncated", "garbage", "bad-json")


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One MQTT message of the simulated traffic.

    ``note`` lists what the simulator did, comma-separated: ``corrupt:<how>`` first on a broken
    message (see ``CORRUPTIONS``), then the episodes in effect, e.g.
    ``exceedance:a21026,calibration:a21026+a21002``; empty for a normal upload.
    """

    topic: str
    payload: bytes
    mn: str
    cn: str
    data_time: datetime  # DataTime: interval start (2051, 2061) or sampling instant (2011)
    note: str

    @property
    def send_time(self) -> datetime:
        """When a data logger sends it: at DataTime for 2011, at the interval's end otherwise."""
        return self.data_time + _SEND_DELAY.get(self.cn, timedelta(0))

    @property
    def corrupt(self) -> bool:
        return self.note.startswith("corrupt:")


def upload(
    *,
    mn: str,
    pw: str,
    st: str,
    cn: str,
    data_ms: int,
    qn_ms: int,
    items: Mapping[str, Mapping[str, str]],
    note: str,
    as_json: bool,
) -> SimMessage:
    """The upload as a raw packet on ``hj212/{MN}/up`` or as JSON on ``sourcewatch/v1/{MN}/data``."""
    data_ms -= data_ms % 1000  # DataTime has whole seconds
    qn = qn_text(qn_ms)
    if as_json:
        body = {
            "mn": mn,
            "pw": pw,
            "st": st,
            "cn": cn,
            "qn": qn,
            "data_time": from_ms(data_ms).isoformat(timespec="seconds"),
            "ack": bool(UPLOAD_FLAG & 1),
            "values": items,
        }
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        topic = f"sourcewatch/v1/{mn}/data"
    else:
        cp = encode_cp({"DataTime": data_time_text(data_ms)}, items)
        segment = build_segment(st=st, cn=cn, mn=mn, pw=pw, qn=qn, flag=UPLOAD_FLAG, cp=cp)
        payload = build_packet(segment)
        topic = f"hj212/{mn}/up"
    return SimMessage(topic, payload, mn, cn, from_ms(data_ms), note)


def corrupt(message: SimMessage, rng: random.Random) -> SimMessage:
    """A broken copy of ``message``, as a flaky link or a buggy logger would deliver it."""
    payload = message.payload
    if message.topic.startswith("sourcewatch/"):
        how, payload = "bad-json", payload[: len(payload) // 2]
    else:
        how = rng.choices(CORRUPTIONS[:3], weights=(5, 3, 2))[0]
        if how == "bad-crc":  # the CRC field no longer matches the segment
            crc = int(payload[-6:-2], 16) ^ rng.randrange(1, 0x10000)
            payload = payload[:-6] + b"%04X\r\n" % crc
        elif how == "truncated":  # cut before the CRC: at most "...&&" remains
            payload = payload[: rng.randrange(len(payload) // 4, len(payload) - 6)]
        else:
            payload = rng.randbytes(rng.randrange(16, 128))
            if payload.startswith(b"#"):
                payload = b"\x00" + payload[1:]
    note = f"corrupt:{how}" + ("," + message.note if message.note else "")
    return SimMessage(message.topic, payload, message.mn, message.cn, message.data_time, note)
