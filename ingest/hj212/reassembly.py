"""Split packets (拆分包): hold the parts of one upload and hand back one merged Frame."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .crc import CRCResult
from .frame import Frame, parse_segment

__all__ = ["Reassembler"]

# Table 3: "PNUM 指示本次通讯总共包含的包数 ... PNO 指示当前数据包的包号";
# Flag D: "1-数据包中包含包号和总包数两部分". Tables C.49/C.50: each part is a complete CP that
# repeats DataTime and carries other factors, with its own QN (so answer each part's 9014 before
# reassembly). So the key is (MN, CN, DataTime), never QN (docs/protocol.md#split-packets).
# Some libraries cut the CP *text* instead (IceCoffee.HJ212, HJ212Interpreter): a part whose CP
# does not start with "DataTime=" is such a continuation, and the parts are concatenated as text.
_Key = tuple[str | None, str | None, int]


@dataclass
class _Group:
    key: _Key
    data_time: str | None
    opened: float
    parts: dict[int, Frame] = field(default_factory=dict)

    def complete(self) -> bool:
        return all(pno in self.parts for pno in range(1, self.key[2] + 1))


def _data_time(frame: Frame) -> str | None:
    if frame.cp.lstrip().startswith("DataTime="):
        return frame.attributes.get("DataTime")
    return None


class Reassembler:
    """Collects split packets; ``timeout_s`` is how long an incomplete upload is held."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._groups: list[_Group] = []

    @property
    def pending(self) -> int:
        """How many uploads are waiting for parts."""
        return len(self._groups)

    def add(self, frame: Frame, now: float) -> Frame | None:
        """Return ``frame`` itself if it is not split, the merged Frame once all parts are in,
        else None (held). A resent part replaces the earlier copy of the same PNO."""
        if frame.pnum is None or frame.pno is None or frame.pnum <= 1:
            return frame
        key: _Key = (frame.mn, frame.cn, frame.pnum)
        data_time = _data_time(frame)
        group = self._find(key, data_time, frame.pno)
        if group is None:
            group = _Group(key, data_time, now)
            self._groups.append(group)
        group.parts[frame.pno] = frame
        if not group.complete():
            return None
        self._groups.remove(group)
        return _merge(group)

    def expire(self, now: float) -> list[Frame]:
        """Give up on uploads older than the timeout; return them merged as far as they go."""
        stale = [g for g in self._groups if now - g.opened >= self.timeout_s]
        for group in stale:
            self._groups.remove(group)
        return [_merge(group) for group in stale]

    def _find(self, key: _Key, data_time: str | None, pno: int) -> _Group | None:
        candidates = [g for g in self._groups if g.key == key]
        if data_time is not None:
            for group in candidates:
                if group.data_time == data_time:
                    return group
            for group in reversed(candidates):  # text continuations that arrived first
                if group.data_time is None and pno not in group.parts:
                    group.data_time = data_time
                    return group
            return None
        for group in reversed(candidates):
            if pno not in group.parts:
                return group
        return None


def _merge(group: _Group) -> Frame:
    parts = [group.parts[pno] for pno in sorted(group.parts)]
    first = parts[0]
    if all(_data_time(part) is not None for part in parts):
        pieces = [first.cp]
        for part in parts[1:]:
            rest = part.cp.lstrip().partition(";")[2]  # drop the repeated DataTime
            if rest:
                pieces.append(rest)
        cp = ";".join(pieces)
    else:
        cp = "".join(part.cp for part in parts)
    fields = [f"{k}={v}" for k, v in first.header.items() if k not in ("PNUM", "PNO")]
    segment = ";".join([*fields, f"CP=&&{cp}&&"])
    merged = parse_segment(segment.encode(first.encoding))
    algorithms = {part.crc.algorithm for part in parts}
    crc = CRCResult(
        received=None,
        computed=merged.crc.computed,
        algorithm=algorithms.pop() if len(algorithms) == 1 else None,
        ok=all(part.crc.ok for part in parts),
    )
    return dataclasses.replace(merged, crc=crc, length_ok=all(part.length_ok for part in parts))
