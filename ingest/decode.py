"""``sourcewatch hj212 decode``: HJ 212 packets in (lines or a raw stream), JSON lines out."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, BinaryIO, TextIO

from ingest.hj212 import (
    CRCPolicy,
    Frame,
    HJ212Error,
    StreamReader,
    parse_packet,
)

__all__ = ["frame_record", "run_decode"]

_CHUNK = 64 * 1024


def frame_record(frame: Frame) -> dict[str, Any]:
    """The JSON object the decode tool prints for a frame that parsed."""
    # code -> its Flag; the last duplicate wins, as in Frame.flag_of
    flags = {v.code: v.raw for v in frame.values if v.field == "Flag"}
    data_time = frame.data_time
    return {
        "ok": True,
        "st": frame.st,
        "cn": frame.cn,
        "mn": frame.mn,
        "qn": frame.qn,
        "flag": {
            "raw": frame.flag.raw,
            "version": frame.flag.version,
            "standard": frame.flag.standard,
            "split": frame.flag.split,
            "ack": frame.flag.ack,
        },
        "crc": {
            "received": frame.crc.received,
            "computed": frame.crc.computed,
            "algorithm": frame.crc.algorithm,
            "ok": frame.crc.ok,
        },
        "length_ok": frame.length_ok,
        "data_time": None
        if data_time is None
        else data_time.isoformat(timespec="milliseconds" if data_time.microsecond else "seconds"),
        "values": [
            {
                "code": v.code,
                "field": v.field,
                "value": v.raw,
                "flag": flags.get(v.code, frame.flag_of(v.code)),
            }
            for v in frame.values
            if v.field.lower() != "flag"
        ],
    }


def error_record(error: HJ212Error) -> dict[str, Any]:
    """The JSON object the decode tool prints for a packet (or garbage) that did not parse."""
    return {"ok": False, "error": error.kind, "detail": str(error)}


def run_decode(inp: BinaryIO, out: TextIO, crc_policy: CRCPolicy) -> int:
    """Decode every packet of ``inp`` to one JSON line on ``out``; never stop on a bad one.

    The input may be one packet per line or a raw capture with glued or CR LF-less packets.
    Returns 0 if every packet parsed (under ``crc_policy``), else 1.
    """
    policy = CRCPolicy(crc_policy)
    reader = StreamReader()
    all_ok = True

    def emit(items: Iterable[bytes | HJ212Error]) -> None:
        nonlocal all_ok
        for item in items:
            record: dict[str, Any]
            if isinstance(item, HJ212Error):
                record = error_record(item)
            else:
                try:
                    record = frame_record(parse_packet(item, crc_policy=policy))
                except HJ212Error as error:
                    record = error_record(error)
            all_ok = all_ok and bool(record["ok"])
            out.write(json.dumps(record, ensure_ascii=False) + "\n")

    while chunk := inp.read(_CHUNK):
        emit(reader.feed(chunk))
    emit(reader.finish())
    return 0 if all_ok else 1
