"""Simulated HJ 212 data loggers: plausible enterprises, their traffic, and a publisher.

- :func:`make_enterprises` — registry JSON dicts (``schemas.registry.entries`` shape);
- :func:`generate_traffic` — pure, deterministic uploads (:class:`SimMessage`) for a time range;
- :func:`run_simulator` — publishes them over MQTT, in real time or back-filled.
"""

from .enterprises import make_enterprises, write_registry
from .episodes import Episode, EpisodeKind, EpisodeRates, episodes_between
from .frames import CORRUPTIONS, SimMessage
from .publisher import SimulatorOptions, run_simulator
from .signals import FACTORS, LIMITS
from .traffic import TrafficConfig, generate_traffic

__all__ = [
    "CORRUPTIONS",
    "FACTORS",
    "LIMITS",
    "Episode",
    "EpisodeKind",
    "EpisodeRates",
    "SimMessage",
    "SimulatorOptions",
    "TrafficConfig",
    "episodes_between",
    "generate_traffic",
    "make_enterprises",
    "run_simulator",
    "write_registry",
]
