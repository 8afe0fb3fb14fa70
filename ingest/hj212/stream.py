"""Cutting a byte stream (TCP, a replay file, one MQTT payload) into packets."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .errors import FrameError

__all__ = ["StreamReader", "iter_packets"]

Item = bytes | FrameError

# Table 2: "##" + 4 digits + segment + 4 hex + CR LF. Real senders glue packets without CR LF,
# use a bare LF, get the length wrong or write it with 2 digits
# (docs/protocol.md#real-device-pitfalls):
#  1. at "##", trust the length if it lands on "&&" + 4 hex;
#  2. otherwise resync on "&&" + 4 hex followed by CR, LF, the next "##" or (at EOF) the end;
#  3. a "##" chunk that still cannot be delimited is handed on as far as the next "##", so that
#     parse_packet can classify it (LengthError / FrameError); bytes outside "##…" are garbage.
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
_END_LINE = re.compile(rb"&&[0-9A-Fa-f]{4}(?=[\r\n])")
_END_ANY = re.compile(rb"&&[0-9A-Fa-f]{4}(?=[\r\n]|\Z)")
_BLANK = b" \t\r\n\x00"
# "##" + 4 digits + at most 9999 bytes + CRC + CR LF: a longer run without an end is cut.
_MAX_PACKET = 2 + 4 + 9999 + 4 + 2


def _scan(buf: bytes, final: bool, offset: int) -> tuple[list[Item], int]:
    """Packets and errors found in ``buf`` and how many bytes were consumed.

    Unless ``final``, a tail that may still grow into a packet is left unconsumed.
    ``offset`` is the stream position of ``buf[0]`` (for error positions).
    """
    out: list[Item] = []
    i, n = 0, len(buf)
    while True:
        while i < n and buf[i] in _BLANK:
            i += 1
        if i >= n:
            return out, n
        start = buf.find(b"##", i)
        if start == -1:
            # Keep a lone trailing "#": it may be the first half of the next "##".
            stop = n if final or not buf.endswith(b"#") else n - 1
            if buf[i:stop].strip(_BLANK):
                out.append(_garbage(buf[i:stop], offset + i))
            return out, stop
        while buf[start + 2 : start + 3] == b"#":
            start += 1  # "###0121…": the frame starts at the last "##"
        if start > i:
            if buf[i:start].strip(_BLANK):
                out.append(_garbage(buf[i:start], offset + i))
            i = start
        end = _delimit(buf, i, final)
        if end is None:
            return out, i
        out.append(buf[i:end])
        i = end


def _delimit(buf: bytes, p: int, final: bool) -> int | None:
    """End of the packet starting at ``buf[p:p+2] == b"##"``, or None to wait for more bytes."""
    n = len(buf)
    digits = buf[p + 2 : p + 6]
    waiting = False  # the declared length reaches past the bytes we have
    if len(digits) == 4 and digits.isascii() and digits.isdigit():
        end = p + 6 + int(digits) + 4
        if end <= n:
            if buf[end - 6 : end - 4] == b"&&" and _HEX4.fullmatch(buf, end - 4, end):
                return end
        else:
            waiting = not final
    elif not final and len(digits) < 4 and (not digits or digits.isdigit()):
        return None  # "##01" and more to come
    following = buf.find(b"##", p + 2)
    limit = n if following == -1 else following
    at_end = final or following != -1
    found = (_END_ANY if at_end else _END_LINE).search(buf, p + 6, limit)
    if found is not None:
        return found.end()
    if waiting:
        return None
    if at_end or limit - p > _MAX_PACKET:
        return limit  # undelimitable: let parse_packet say why
    return None


def _garbage(chunk: bytes, position: int) -> FrameError:
    chunk = chunk.rstrip(_BLANK)
    more = "…" if len(chunk) > 40 else ""
    return FrameError(f"{len(chunk)} bytes outside any '##' packet: {chunk[:40]!r}{more}", position)


def iter_packets(payload: bytes) -> Iterator[bytes | FrameError]:
    """The packets in one complete payload (one or several, glued, with or without CR LF).

    Each packet is yielded as bytes from "##" to its CRC (no CR LF), ready for parse_packet;
    bytes outside any packet are yielded as a FrameError whose position is their offset.
    """
    if payload[:2] == b"##" and payload[2:3] != b"#":
        # The usual message is one packet, with or without CR LF: what _scan would find first
        # (at 0, nothing to skip) and, when only blanks follow, all it would find.
        end = _delimit(payload, 0, True)
        if end is not None and not payload[end:].strip(_BLANK):
            yield payload[:end]
            return
    items, _ = _scan(payload, True, 0)
    yield from items


class StreamReader:
    """Sans-I/O framing for a byte stream: feed it reads, get packets; keeps a partial tail.

    >>> reader = StreamReader()
    >>> reader.feed(b"##0013ST=91;CP=&&&&")  # not complete yet: the CRC is missing
    []
    >>> reader.feed(b"3B80\\r\\n##00")
    [b'##0013ST=91;CP=&&&&3B80']

    A packet is released as soon as its declared length and CRC are in (CR LF not needed).
    When the length is wrong, the packet ends at "&&" + 4 hex followed by CR, LF or "##".
    At the end of the stream call ``finish()`` (the end counts as a terminator) or ``close()``
    (an unfinished tail is an error).
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0  # stream position of self._buffer[0]

    @property
    def pending(self) -> int:
        """How many bytes are held back as an incomplete tail."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        """Add ``data``; return every packet (bytes) or garbage (FrameError) now complete."""
        buffer = self._buffer + data if self._buffer else bytes(data)
        items, used = _scan(buffer, False, self._offset)
        self._buffer = buffer[used:]
        self._offset += used
        return items

    def finish(self) -> list[bytes | FrameError]:
        """End of stream: treat the end as a terminator and return what the tail holds."""
        items, _ = _scan(self._buffer, True, self._offset)
        self._offset += len(self._buffer)
        self._buffer = b""
        return items

    def close(self) -> list[FrameError]:
        """End of connection: a leftover tail is an incomplete packet, reported as an error."""
        tail = self._buffer
        position = self._offset
        self._offset += len(tail)
        self._buffer = b""
        if not tail.strip(_BLANK):
            return []
        return [
            FrameError(f"stream ended inside a packet ({len(tail)} bytes): {tail[:40]!r}", position)
        ]
