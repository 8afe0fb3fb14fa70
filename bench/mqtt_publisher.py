"""A lean MQTT 5 publisher for the benchmarks: what the loggers send, at little CPU.

paho's client spends about 100 µs of Python per QoS 1 message (its packet objects, properties,
callbacks, a thread hand-off per acknowledgement). Run on the benchmark's own 2 cores, beside
the worker, PostgreSQL and the broker, that was 2 s of CPU per 20,000 frames taken from the
system being measured; in a deployment the loggers are other machines. This one writes the
PUBLISH packets back to back over one socket, within a window of unacknowledged ones, and counts
the PUBACKs as they come: about a tenth of the CPU. QoS 1, in order, every message acknowledged
before :meth:`RawPublisher.publish_all` returns; a refusal (a PUBACK reason code of 0x80 or more,
a refused CONNACK) raises.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import struct
from collections.abc import Iterable

__all__ = ["RawPublisher"]


def _varint(n: int) -> bytes:
    """MQTT's variable byte integer (§1.5.5)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


class RawPublisher:
    """One MQTT 5 connection (clean start) that publishes at QoS 1."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        window: int = 1000,
        *,
        tls: bool = False,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        sock = socket.create_connection((host, port), timeout=600)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self._in = bytearray()
        self._mid = 0
        flags = 0x02 | (0x80 if user is not None else 0) | (0x40 if password is not None else 0)
        body = _string("MQTT") + bytes([5, flags]) + struct.pack("!H", 60) + _varint(0)
        body += _string(client_id)
        body += _string(user) if user is not None else b""
        body += _string(password) if password is not None else b""
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        kind, connack = self._next()
        if kind != 0x20 or len(connack) < 2 or connack[1] != 0:
            raise ConnectionError(f"CONNACK refused: {connack[:2]!r}")
        self.window = min(window, _receive_maximum(connack[2:]))

    def packet(self, topic: str, payload: bytes) -> bytes:
        """A QoS 1 PUBLISH of ``payload`` to ``topic`` with the next packet id."""
        self._mid = self._mid % 65535 + 1
        body = _string(topic) + struct.pack("!H", self._mid) + b"\x00" + payload
        return b"\x32" + _varint(len(body)) + body

    def publish_all(self, packets: Iterable[bytes]) -> int:
        """Send every packet (from :meth:`packet`), at most ``window`` unacknowledged at a
        time; returns how many were acknowledged (all of them) once the last one is."""
        source = iter(packets)
        sent = acked = 0
        more = True
        while more or acked < sent:
            room = self.window - (sent - acked)
            if more and room > 0:
                chunk = list(itertools.islice(source, room))
                if not chunk:
                    more = False
                    continue
                self.sock.sendall(b"".join(chunk))
                sent += len(chunk)
            acked += self._acks()
        return acked

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT, normal
        finally:
            self.sock.close()

    def _acks(self) -> int:
        """Wait for the next packet, then count it and every other PUBACK already received."""
        count = 0
        got: tuple[int, bytes] | None = self._next()
        while got is not None:
            kind, body = got
            if kind & 0xF0 == 0x40:
                if len(body) > 2 and body[2] >= 0x80:
                    raise ConnectionError(f"PUBACK with reason code {body[2]:#x}")
                count += 1
            got = _split(self._in)
        return count

    def _next(self) -> tuple[int, bytes]:
        """The next whole packet from the broker: (its first byte, its body)."""
        while (got := _split(self._in)) is None:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the broker closed the connection")
            self._in += data
        return got


def _split(buf: bytearray) -> tuple[int, bytes] | None:
    """Take one whole packet off the front of ``buf``; None while it is not all there."""
    length, mult, i = 0, 1, 1
    while True:
        if i >= len(buf):
            return None
        byte = buf[i]
        length += (byte & 0x7F) * mult
        mult *= 128
        i += 1
        if not byte & 0x80:
            break
    if len(buf) < i + length:
        return None
    kind, body = buf[0], bytes(buf[i : i + length])
    del buf[: i + length]
    return kind, body


# CONNACK properties (§3.2.2.3) by identifier: their size in bytes, 0 for a variable byte
# integer, -1 for a length-prefixed string or binary, -2 for a string pair.
_PROPERTY_SIZES = {
    0x11: 4, 0x12: -1, 0x13: 2, 0x15: -1, 0x16: -1, 0x1A: -1, 0x1C: -1, 0x1F: -1, 0x21: 2,
    0x22: 2, 0x24: 1, 0x25: 1, 0x26: -2, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1,
}  # fmt: skip
_RECEIVE_MAXIMUM = 0x21


def _receive_maximum(props: bytes) -> int:
    """The broker's Receive Maximum from CONNACK's properties; 65,535 when it sends none."""
    if not props:
        return 65535
    size, mult, i = 0, 1, 0
    while True:
        byte = props[i]
        size += (byte & 0x7F) * mult
        mult *= 128
        i += 1
        if not byte & 0x80:
            break
    end = i + size
    while i < end:
        ident, i = props[i], i + 1
        if ident == _RECEIVE_MAXIMUM:
            return int(struct.unpack_from("!H", props, i)[0])
        kind = _PROPERTY_SIZES.get(ident)
        if kind is None:
            raise ConnectionError(f"unknown CONNACK property {ident:#x}")
        if kind > 0:
            i += kind
        elif kind == 0:
            while props[i] & 0x80:
                i += 1
            i += 1
        else:
            for _ in range(-kind):
                (length,) = struct.unpack_from("!H", props, i)
                i += 2 + length
    return 65535
