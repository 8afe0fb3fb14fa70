"""The HJ 212 check value (Appendix A) and the policies for checking it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import anycrc  # type: ignore[import-untyped]

from .errors import CRCError

__all__ = ["CRCPolicy", "CRCResult", "check_crc", "crc16", "modbus_crc16"]


def _arc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        reg = i
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


# The usual 256-entry table of CRC-16/ARC (= MODBUS), reflected polynomial 0xA001.
_T: tuple[int, ...] = _arc_table()
# Its high bytes: the only state HJ 212's per-byte step carries over (docs/protocol.md#crc).
_H: tuple[int, ...] = tuple(t >> 8 for t in _T)


def _powers() -> tuple[tuple[int, ...], ...]:
    """``P[e][x]`` is H applied ``e`` times to ``x`` (``P[0]`` is the identity), e = 0..7."""
    powers = [tuple(range(256))]
    for _ in range(7):
        powers.append(tuple(_H[x] for x in powers[-1]))
    if tuple(_H[x] for x in powers[-1]) != powers[0]:
        raise AssertionError("H must have order 8 for the folded CRC")
    return tuple(powers)


_P = _powers()
_START = tuple(_P[e][0xFF] for e in range(8))  # the initial high byte 0xFF after e steps


# The XOR fold below as a CRC: with the polynomial X^64 + 1 (X^64 = 1), the remainder of a
# message is the XOR of its 64-bit blocks counted from its end, i.e. of its bytes grouped by
# their distance from the end modulo 8. anycrc computes it in C (carry-less multiplication).
_FOLD: Callable[[bytes], int] = anycrc.CRC(
    width=64, poly=1, init=0, refin=False, refout=False, xorout=0
).calc
# The folded byte s (s bytes from the low end: bytes at distance d from the end, d % 8 == s) is
# mapped by H^((d + 1) mod 8) = H^((s + 1) % 8).
_FOLD_MAPS = tuple(_P[(s + 1) % 8] for s in range(8))


# HJ 212-2017 Appendix A:
#   "1) CRC16 校验寄存器赋值为 0xFFFF； ... 3) 临时寄存器与 CRC16 校验寄存器的高位字节进行
#    '异或'运算，赋值给 CRC16 校验寄存器； ... 6) 若检测寄存器值为 1，CRC16 校验寄存器与多项式
#    0xA001 进行'异或'运算 ... 10) 返回 CRC16 校验寄存器的值。"
#   crc_reg = (crc_reg >> 8) ^ puchMsg[i];  -- the low byte is dropped at every step, so
#   crc = T[(crc >> 8) ^ b]; only the high byte h survives: h = H[h ^ b], result T[h ^ last].
# H is linear over GF(2) (H[a ^ b] == H[a] ^ H[b]) and H applied 8 times is the identity, so
# after the bytes b_0..b_{n-1}:  h_n = H^n(0xFF) ^ XOR_k H^((n - k) mod 8)(b_k).  Bytes whose
# distance from the end is the same modulo 8 share one map: XOR them first (an 8-byte-wide
# XOR fold of the segment, one call in C), then map the 8 folded bytes: a few operations and
# 8 look-ups instead of one interpreted step per byte.
def crc16(data: bytes) -> int:
    """The HJ 212 check value of ``data`` (Appendix A), 0..0xFFFF; print it with ``%04X``."""
    n = len(data) - 1  # bytes stepped through H; the last one only indexes T
    if n < 0:
        return 0xFFFF
    f = _FOLD(data[:-1]).to_bytes(8, "little")
    m0, m1, m2, m3, m4, m5, m6, m7 = _FOLD_MAPS
    h = _START[n & 7] ^ m0[f[0]] ^ m1[f[1]] ^ m2[f[2]] ^ m3[f[3]]
    h ^= m4[f[4]] ^ m5[f[5]] ^ m6[f[6]] ^ m7[f[7]]
    return _T[h ^ data[-1]]


# Standard CRC-16/MODBUS (init 0xFFFF, reflected 0xA001), which some loggers send: the
# catalogue's model, computed by anycrc.
modbus_crc16: Callable[[bytes], int] = anycrc.Model("CRC16-MODBUS").calc


class CRCPolicy(StrEnum):
    """How a received check value is judged (docs/protocol.md#crc)."""

    STRICT = "strict"  # Appendix A only; a mismatch raises CRCError
    LENIENT = "lenient"  # Appendix A; a mismatch is recorded (ok=False), not raised
    ALT = "alt"  # Appendix A, or CRC-16/MODBUS printed high byte first or low byte first


@dataclass(frozen=True, slots=True)
class CRCResult:
    """What was received, what Appendix A gives, and which algorithm (if any) matched."""

    received: str | None  # the 4 characters as sent (None for a bare data segment)
    computed: str  # Appendix A, "%04X"
    algorithm: str | None  # "hj212" | "modbus-hi" | "modbus-lo" | None
    ok: bool


# An Appendix A value is always one of the 256 entries of T (docs/protocol.md#crc): the verdict for
# each, printed in upper case as the standard does, made once (CRCResult is immutable).
_VERIFIED = {crc: CRCResult(f"{crc:04X}", f"{crc:04X}", "hj212", True) for crc in _T}


# HJ 212-2017 Table 2: "CRC 校验 ... 数据段的校验结果 ... 接收到一条命令，如果 CRC 错误，执行结束"
# Appendix A: "校验码按照先高字节后低字节的顺序存放。"  Devices print lower case, so compare
# case-insensitively; 0000 is a valid value.
def check_crc(
    segment: bytes,
    received: str,
    policy: CRCPolicy = CRCPolicy.STRICT,
    *,
    position: int | None = None,
) -> CRCResult:
    """Judge ``received`` against ``segment`` under ``policy``; raise CRCError when it fails."""
    crc = crc16(segment)
    verified = _VERIFIED.get(crc)
    if verified is not None and received == verified.received:  # the usual case, upper case
        return verified
    computed = f"{crc:04X}"
    wanted = received.upper()
    if wanted == computed:
        return CRCResult(received, computed, "hj212", True)
    if policy is CRCPolicy.LENIENT:
        return CRCResult(received, computed, None, False)
    detail = f"CRC mismatch: received {received}, computed {computed} (HJ 212 Appendix A)"
    if policy is CRCPolicy.ALT:
        modbus = modbus_crc16(segment)
        if wanted == f"{modbus:04X}":
            return CRCResult(received, computed, "modbus-hi", True)
        if wanted == f"{modbus & 0xFF:02X}{modbus >> 8:02X}":
            return CRCResult(received, computed, "modbus-lo", True)
        detail += f"; not CRC-16/MODBUS {modbus:04X} either, in either byte order"
    raise CRCError(detail, position, received=received, computed=computed)
