"""The Flag header field: standard version, split bit, answer bit."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FlagBits"]

# HJ 212-2017 Table 3, "Flag=标志位，这个标志位包含标准版本号、是否拆分包、数据是否应答":
#   "V5 V4 V3 V2 V1 V0 D A"
#   "V5~V0：标准版本号；Bit：000000 表示标准 HJ/T 212-2005，000001 表示本次标准修订版本号"
#   "A：命令是否应答；Bit：1-应答，0-不应答"
#   "D：是否有数据包序号；Bit：1-数据包中包含包号和总包数两部分，0-数据包中不包含包号和总包数两部分"
# HJ 212-2025 uses version 000010 (Flag 8..11) [secondary: caoyiliang/HJ212 Enum.cs].
_STANDARDS = {0: "HJ/T 212-2005", 1: "HJ 212-2017", 2: "HJ 212-2025"}


@dataclass(frozen=True, slots=True)
class FlagBits:
    """A decoded Flag. ``raw`` is None when the packet had no Flag (2005-style headers)."""

    raw: int | None = None
    version: int | None = None
    split: bool = False
    ack: bool = False

    @classmethod
    def from_raw(cls, raw: int | None) -> FlagBits:
        """Decode ``version = flag >> 2``, ``split = flag & 2``, ``ack = flag & 1``."""
        if raw is None:
            return cls()
        return cls(raw=raw, version=raw >> 2, split=bool(raw & 2), ack=bool(raw & 1))

    @property
    def standard(self) -> str | None:
        """The standard the version bits name, or None when absent or unknown."""
        if self.version is None:
            return None
        return _STANDARDS.get(self.version)
