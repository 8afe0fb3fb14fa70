"""The one exception hierarchy of the HJ 212 codec.

::

    HJ212Error              kind = "format"   root; never raised directly
     +-- FrameError         kind = "format"   framing or grammar: no "##", length field not
     |                                        4 digits, no "CP=&&...&&", bad Flag/PNUM/PNO,
     |                                        bytes that are neither UTF-8 nor GB18030, garbage
     +-- LengthError        kind = "length"   the declared length is wrong AND the frame cannot
     |                                        be delimited by its "&&" + CRC either
     +-- CRCError           kind = "crc"      the check value does not verify under the policy

Every error carries ``detail`` (human text) and ``position`` (byte offset of the offending
byte inside the packet, segment or stream that was handed in, or ``None``). ``kind`` is the
short class label the operator tool prints.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["CRCError", "FrameError", "HJ212Error", "LengthError"]


class HJ212Error(Exception):
    """Root of everything the HJ 212 codec raises."""

    kind: ClassVar[str] = "format"

    def __init__(self, detail: str, position: int | None = None) -> None:
        super().__init__(detail, position)
        self.detail = detail
        self.position = position

    def __str__(self) -> str:
        if self.position is None:
            return self.detail
        return f"{self.detail} (at byte {self.position})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r}, position={self.position!r})"


class FrameError(HJ212Error):
    """The bytes are not a well-formed HJ 212 packet (framing or grammar)."""

    kind: ClassVar[str] = "format"


class LengthError(HJ212Error):
    """The declared data-segment length is wrong and nothing else delimits the frame."""

    kind: ClassVar[str] = "length"


class CRCError(HJ212Error):
    """The CRC does not verify under the chosen :class:`~ingest.hj212.crc.CRCPolicy`."""

    kind: ClassVar[str] = "crc"

    def __init__(
        self,
        detail: str,
        position: int | None = None,
        *,
        received: str | None = None,
        computed: str | None = None,
    ) -> None:
        super().__init__(detail, position)
        self.received = received
        self.computed = computed
