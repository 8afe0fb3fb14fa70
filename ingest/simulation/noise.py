"""Counter-based randomness: every draw is a pure function of (keys…), never of a running state.

The simulator asks "what does this outlet read at instant t?" without replaying the past, so the
same seed gives the same value for the same instant whatever range is generated, and real-time
and back-filled runs agree. Keys are 64-bit integers; :func:`key` turns text into one.
"""

from __future__ import annotations

import hashlib
import math

__all__ = ["gauss", "key", "smooth", "unit"]

_MASK = (1 << 64) - 1


def key(*parts: object) -> int:
    """A stable 64-bit key for text parts (unlike ``hash()``, the same in every process)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


_GAMMA = 0x9E3779B97F4A7C15  # splitmix64 increment


def _draw(k: int, i: int) -> int:
    """64 random bits for (stream k, counter i): the splitmix64 output function."""
    x = (k + i * _GAMMA) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def unit(k: int, i: int) -> float:
    """A uniform draw in [0, 1) for (stream ``k``, counter ``i``)."""
    return (_draw(k, i) >> 11) * (1.0 / (1 << 53))


def gauss(k: int, i: int) -> float:
    """An approximately standard-normal draw (Irwin-Hall of 4 × 16 bits, bounded by ±3.5)."""
    h = _draw(k, i)
    total = (h & 0xFFFF) + ((h >> 16) & 0xFFFF) + ((h >> 32) & 0xFFFF) + (h >> 48)
    return (total / 65536.0 - 2.0) * _SQRT3


_SQRT3 = math.sqrt(3.0)


def smooth(k: int, t_s: float, period_s: float) -> float:
    """Smooth noise in [-1, 1]: random knots every ``period_s`` seconds, eased in between.

    Values less than a period apart are strongly correlated: the autocorrelation of a slowly
    drifting analyser reading or plant load.
    """
    x = t_s / period_s
    i = math.floor(x)
    f = x - i
    a = 2.0 * unit(k, i) - 1.0
    b = 2.0 * unit(k, i + 1) - 1.0
    return a + (b - a) * f * f * (3.0 - 2.0 * f)
