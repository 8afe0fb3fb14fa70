"""The simulator's public API under the name ``sourcewatch simulate`` imports; the code lives in
the ``ingest.simulation`` package."""

from ingest.simulation import (
    SimMessage,
    SimulatorOptions,
    TrafficConfig,
    generate_traffic,
    make_enterprises,
    run_simulator,
    write_registry,
)

__all__ = [
    "SimMessage",
    "SimulatorOptions",
    "TrafficConfig",
    "generate_traffic",
    "make_enterprises",
    "run_simulator",
    "write_registry",
]
