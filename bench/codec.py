"""Codec benchmark: HJ 212 packets parsed per second on one core (no database, no broker).

    python -m bench.codec                 # 20,000 typical frames, best of 5 passes
    python -m bench.codec --frames 50000 --repeat 9

"Typical" is the real-time upload of bench/ingest.py: 9 pollutants, each with Rtd, ZsRtd and
Flag (27 CP values, about 540 bytes), parsed by ``parse_packet`` under the strict CRC policy.
The public corpus (``../shared/data/hj212-public-traffic``, 12,529 frames of real devices and
tools, mostly short) is timed too where it is present. Time is the process's CPU time, so the
figure is what one core does even when other processes share the machine; the best pass counts.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.ingest import make_frames
from ingest.hj212 import CRCPolicy, HJ212Error, parse_packet

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hj212-public-traffic"


@dataclass(frozen=True)
class CodecFigures:
    frames: int
    typical_per_s: float  # typical 9-value frames parsed per CPU second
    corpus_frames: int  # 0 when the corpus is not present
    corpus_per_s: float | None


def best_rate(run: Callable[[], int], repeat: int) -> float:
    """Items per CPU second of the fastest of ``repeat`` runs (``run`` returns its count)."""
    best = 0.0
    for _ in range(repeat):
        started = time.process_time()
        n = run()
        elapsed = time.process_time() - started
        if elapsed > 0:
            best = max(best, n / elapsed)
    return best


def parse_all(packets: list[bytes], policy: CRCPolicy) -> Callable[[], int]:
    def run() -> int:
        for packet in packets:
            try:
                parse_packet(packet, crc_policy=policy)
            except HJ212Error:
                pass  # the corpus's 299 malformed frames cost their parse too
        return len(packets)

    return run


def measure(frames: int = 20_000, repeat: int = 5) -> CodecFigures:
    typical = [raw.rstrip(b"\r\n") for _, raw in make_frames(frames)]
    typical_rate = best_rate(parse_all(typical, CRCPolicy.STRICT), repeat)
    corpus_file = CORPUS / "frames.txt"
    if not corpus_file.is_file():
        return CodecFigures(frames, typical_rate, 0, None)
    corpus = corpus_file.read_bytes().splitlines()
    corpus_rate = best_rate(parse_all(corpus, CRCPolicy.LENIENT), repeat)
    return CodecFigures(frames, typical_rate, len(corpus), corpus_rate)


def report(figures: CodecFigures) -> None:
    print(  # noqa: T201
        f"codec, typical 9-value frames (27 CP values): {figures.typical_per_s:10,.0f} frames/s "
        f"on one core ({figures.frames:,} frames, best pass)"
    )
    if figures.corpus_per_s is not None:
        print(  # noqa: T201
            f"codec, public corpus ({figures.corpus_frames:,} real frames):  "
            f"{figures.corpus_per_s:10,.0f} frames/s on one core"
        )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    return parser


def main() -> None:
    args = parser().parse_args()
    report(measure(args.frames, args.repeat))


if __name__ == "__main__":
    main()
