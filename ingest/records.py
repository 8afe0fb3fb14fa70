"""What ingest stores: frames (accepted), their measurement rows, and rejected messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

__all__ = [
    "Accepted",
    "AcceptedDraft",
    "MeasurementRow",
    "MeasurementRowDraft",
    "Rejected",
    "digest",
]


def digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


@dataclass(frozen=True, slots=True)
class MeasurementRow:
    """One value row: (outlet, pollutant, kind, ts) with what the logger sent for it."""

    pollutant: str
    kind: str  # rtd | min | hour | day
    ts: datetime  # aware
    value: Decimal | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    cou: Decimal | None = None
    zs_value: Decimal | None = None
    zs_min: Decimal | None = None
    zs_max: Decimal | None = None
    flag: str | None = None
    eflag: str | None = None
    sample_time: datetime | None = None
    extra: dict[str, str] | None = None


class MeasurementRowDraft:
    """MeasurementRow's slots without its frozen __setattr__ (a call per field, 14 fields): a
    decoder that makes many rows fills one with plain attribute stores (every slot), then makes
    it a MeasurementRow by switching ``__class__`` (the layouts are the same, so CPython allows
    it), as the codec does with its Values. The row is then indistinguishable from one made by
    ``MeasurementRow(...)``."""

    __slots__ = MeasurementRow.__slots__


@dataclass(frozen=True, slots=True)
class Accepted:
    """A frame (or JSON upload) from a registered outlet that passed the checks."""

    transport: str  # mqtt | mqtt-json | tcp
    topic: str | None
    received_at: datetime
    raw: bytes
    outlet_id: int
    mn: str
    st: str | None
    cn: str | None
    qn: str | None
    data_time: datetime | None
    crc_received: str | None = None
    crc_computed: str | None = None
    crc_algorithm: str | None = None
    crc_ok: bool | None = None
    length_ok: bool | None = None
    rows: tuple[MeasurementRow, ...] = ()
    reply: bytes | None = None  # 9014 to send once the rows are durable
    digest: bytes = field(default=b"", compare=False)

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", digest(self.raw))


class AcceptedDraft:
    """Accepted's slots without its frozen __setattr__ (a call per field, 18 fields), filled and
    made an Accepted as MeasurementRowDraft is made a MeasurementRow. Whoever fills one sets
    every slot, ``digest`` included (``digest(raw)``: __post_init__ does not run)."""

    __slots__ = Accepted.__slots__


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message or frame that goes to the dead-letter table, with the reason."""

    transport: str
    topic: str | None
    received_at: datetime
    raw: bytes
    # crc | length | format | json | unknown-mn | wrong-pw | mn-mismatch | no-time | future
    reason: str
    detail: str
    mn: str | None = None
    digest: bytes = field(default=b"", compare=False)

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", digest(self.raw))
