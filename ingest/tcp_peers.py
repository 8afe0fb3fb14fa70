"""What the TCP gateway remembers about the addresses that connect to it (docs/security.md#the-tcp-gateway):

- how many connections each IP has open (at most ``max_per_ip``);
- how many of its frames were rejected lately (wrong PW, unknown MN, bad CRC, garbage: all
  alike): past ``max_rejections`` within ``window_s`` the IP is *throttled* — its connections
  are answered nothing more, held for ``throttle_delay_s`` and closed, until the window has
  passed without more rejections;
- how many dead letters it may still leave (a token bucket of ``dead_letters_per_minute``):
  the rest are counted, not stored.

In memory, per gateway process; times are ``time.monotonic()`` seconds, passed in so that the
rules can be tested without waiting. Thread-safe: the event loop counts connections, the
store's threads take dead-letter tokens.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field

__all__ = ["PeerLimits", "Peers"]


@dataclass(frozen=True, slots=True)
class PeerLimits:
    max_per_ip: int = 20
    max_rejections: int = 10
    window_s: float = 600.0
    throttle_delay_s: float = 5.0
    dead_letters_per_minute: float = 60.0


@dataclass(slots=True)
class _Peer:
    open: int = 0
    rejections: deque[float] = field(default_factory=deque)
    tokens: float = -1.0  # dead letters it may still leave; < 0: not started yet
    tokens_at: float = 0.0


class Peers:
    def __init__(self, limits: PeerLimits) -> None:
        self.limits = limits
        self._peers: defaultdict[str, _Peer] = defaultdict(_Peer)
        self._lock = threading.Lock()

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
        with self._lock:
            peer = self._peers[ip]
            self._refill(peer, now)
            if peer.tokens < 1.0:
                return False
            peer.tokens -= 1.0
            return True

    def prune(self, now: float) -> None:
        """Forget the IPs with nothing open, no rejection within the window and a full bucket,
        so that the table does not grow with every address ever seen."""
        with self._lock:
            for ip, peer in list(self._peers.items()):
                self._expire(peer, now)
                self._refill(peer, now)
                if peer.open == 0 and not peer.rejections and peer.tokens >= self._burst:
                    del self._peers[ip]

    def __len__(self) -> int:
        return len(self._peers)

    @property
    def _burst(self) -> float:
        return max(1.0, self.limits.dead_letters_per_minute)

    def _refill(self, peer: _Peer, now: float) -> None:
        if peer.tokens < 0:
            peer.tokens, peer.tokens_at = self._burst, now
        rate = self.limits.dead_letters_per_minute / 60.0
        peer.tokens = min(self._burst, peer.tokens + (now - peer.tokens_at) * rate)
        peer.tokens_at = now

    def _expire(self, peer: _Peer, now: float) -> None:
        while peer.rejections and peer.rejections[0] <= now - self.limits.window_s:
            peer.rejections.popleft()
