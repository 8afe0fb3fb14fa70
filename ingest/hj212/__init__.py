"""HJ 212 (HJ 212-2017, with HJ/T 212-2005 and HJ 212-2025 variants): a sans-I/O codec.

Bytes in, frozen dataclasses out, and back; no sockets, no MQTT, no database. See
``docs/protocol.md`` for the protocol notes behind the rules each module quotes.
"""

from .build import build_packet, build_segment, encode_cp, reply_9013, reply_9014
from .cp import CPShape, Value, parse_cp, parse_data_time, parse_number, plain_numbers, split_cp
from .crc import CRCPolicy, CRCResult, check_crc, crc16, modbus_crc16
from .errors import CRCError, FrameError, HJ212Error, LengthError
from .flags import FlagBits
from .frame import Frame, parse_packet, parse_segment
from .reassembly import Reassembler
from .stream import StreamReader, iter_packets

__all__ = [
    "CPShape",
    "CRCError",
    "CRCPolicy",
    "CRCResult",
    "FlagBits",
    "Frame",
    "FrameError",
    "HJ212Error",
    "LengthError",
    "Reassembler",
    "StreamReader",
    "Value",
    "build_packet",
    "build_segment",
    "check_crc",
    "crc16",
    "encode_cp",
    "iter_packets",
    "modbus_crc16",
    "parse_cp",
    "parse_data_time",
    "parse_number",
    "parse_packet",
    "parse_segment",
    "plain_numbers",
    "reply_9013",
    "reply_9014",
    "split_cp",
]
