"""What the TCP gateway remembers about the addresses that connect to it (docs/security.md#the-tcp-gateway):

- how many connections each IP has open (at most ``max_per_ip``);
- how many of its frames were rejected lately (wrong PW, unknown MN, bad CRC, garbage: all
  alike): past ``max_rejections`` within ``window_s`` the IP is *throttled* — its connections
  are answered nothing more, held for ``throttle_delay_s`` and closed, until the window has
  passed without more rejections;
- how many dead letters it may still leave (``dead_letters_per_minute``, and all IPs together
  ``dead_letters_per_minute_total``, so that many addresses do not multiply the rate; the rule
  of :mod:`ingest.dead_letter_cap`): the rest are counted, not stored.

In memory, per gateway process; times are ``time.monotonic()`` seconds, passed in so that the
rules can be tested without waiting. Thread-safe: the event loop counts connections, the
store's threads take dead-letter tokens.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field

from ingest.dead_letter_cap import DeadLetterCap, DeadLetterLimits

__all__ = ["PeerLimits", "Peers"]


@dataclass(frozen=True, slots=True)
class PeerLimits:
    max_per_ip: int = 20
    max_rejections: int = 10
    window_s: float = 600.0
    throttle_delay_s: float = 5.0
    dead_letters_per_minute: float = 60.0
    dead_letters_per_minute_total: float = 0.0  # 0: no total limit


@dataclass(slots=True)
class _Peer:
    open: int = 0
    rejections: deque[float] = field(default_factory=deque)


class Peers:
    def __init__(self, limits: PeerLimits) -> None:
        self.limits = limits
        self._peers: defaultdict[str, _Peer] = defaultdict(_Peer)
        self._lock = threading.Lock()
        self.dead_letters = DeadLetterCap(
            DeadLetterLimits(
                per_source_per_minute=limits.dead_letters_per_minute,
                total_per_minute=limits.dead_letters_per_minute_total,
            ),
            source_kind="IP",
        )

    def open(self, ip: str) -> bool:
        """Count a new connection from ``ip``; False (nothing counted) when it has too many."""
        with self._lock:
            peer = self._peers[ip]
            if peer.open >= self.limits.max_per_ip:
                return False
            peer.open += 1
            return True

    def closed(self, ip: str) -> None:
        with self._lock:
            peer = self._peers.get(ip)
            if peer is not None:
                peer.open = max(0, peer.open - 1)

    def reject(self, ip: str, count: int, now: float) -> None:
        """``count`` frames from ``ip`` were rejected at ``now``."""
        if count <= 0:
            return
        with self._lock:
            peer = self._peers[ip]
            peer.rejections.extend([now] * min(count, self.limits.max_rejections + 1))
            self._expire(peer, now)

    def throttled(self, ip: str, now: float) -> bool:
        """True while ``ip`` has had more than ``max_rejections`` rejected frames within the
        last ``window_s``."""
        with self._lock:
            peer = self._peers.get(ip)
            if peer is None:
                return False
            self._expire(peer, now)
            return len(peer.rejections) > self.limits.max_rejections

    def take_dead_letter(self, ip: str, now: float) -> bool:
        """True when ``ip`` may leave one more dead letter now (and counts it)."""
        return self.dead_letters.take(ip, now) is None

    def prune(self, now: float) -> None:
        """Forget the IPs with nothing open, no rejection within the window and a full
        dead-letter bucket, so that the tables do not grow with every address ever seen."""
        with self._lock:
            for ip, peer in list(self._peers.items()):
                self._expire(peer, now)
                if peer.open == 0 and not peer.rejections:
                    del self._peers[ip]
        self.dead_letters.prune(now)

    def __len__(self) -> int:
        """The IPs remembered: with connections or rejections, or a dead-letter bucket."""
        with self._lock:
            ips = set(self._peers)
        return len(ips | self.dead_letters.sources())

    def _expire(self, peer: _Peer, now: float) -> None:
        while peer.rejections and peer.rejections[0] <= now - self.limits.window_s:
            peer.rejections.popleft()
