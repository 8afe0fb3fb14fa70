"""paho's MQTT 5 properties, their lookup tables built once instead of for every packet.

paho-mqtt 2.x decodes every incoming packet's properties into a new
:class:`paho.mqtt.properties.Properties`, whose constructor builds three lookup tables (the
property names, their types, the packets each applies to) and whose ``unpack`` first clears
every property by name: about half of the time paho spends decoding a PUBLISH. The tables are
the same for every instance and paho only reads them, so :class:`SharedTables` builds them once
per packet type and shares them; ``clear`` removes what was set, as paho's does.

:func:`install` makes paho's packet decoders (its private module ``paho.mqtt._packet``) build
these; the worker's MQTT process calls it (:mod:`ingest.mqtt_process`), which runs only the
worker's own client. tests/ingest/test_mqtt_properties.py fails if paho's ``Properties`` or its
decoders change what this relies on.
"""

from __future__ import annotations

from typing import Any, ClassVar

import paho.mqtt._packet as paho_packet
from paho.mqtt.properties import Properties

__all__ = ["SharedTables", "install"]

TABLES = ("packetType", "types", "names", "properties")  # paho's own attributes, not properties


class SharedTables(Properties):
    """:class:`paho.mqtt.properties.Properties`, its tables shared between instances."""

    _tables: ClassVar[dict[int, dict[str, Any]]] = {}

    def __init__(self, packetType: int) -> None:
        tables = self._tables.get(packetType)
        if tables is None:
            paho = Properties(packetType)  # type: ignore[no-untyped-call]
            tables = self._tables[packetType] = dict(vars(paho))
        vars(self).update(tables)

    def clear(self) -> None:
        attributes = vars(self)
        if len(attributes) > len(TABLES):
            for name in [n for n in attributes if n not in TABLES]:
                delattr(self, name)


def install() -> None:
    """paho's packet decoders build :class:`SharedTables` (in this process)."""
    paho_packet.Properties = SharedTables  # type: ignore[attr-defined]
