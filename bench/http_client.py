"""One concurrent client of :mod:`bench.api`, in its own process (no GIL shared with the other
clients or with the bench), importing nothing but httpx2 so that it starts fast.

    python -m bench.http_client BASE_URL < paths   # one path a line

It warms up by GETting each of its paths once (a fresh process's first requests cost it about twice
the CPU of later ones, and that CPU competes with the server's for the cores), prints
``ready``, waits for a line on standard input, GETs every path in turn on one keep-alive
connection, then prints on one line the ``time.monotonic()`` at which it began, then the one at
which each request ended (the same clock in every process of the machine).
"""

from __future__ import annotations

import sys
import time

import httpx2


def main() -> None:
    base = sys.argv[1]
    paths = [line.strip() for line in iter(sys.stdin.readline, "\n") if line.strip()]
    with httpx2.Client(base_url=base, timeout=120) as client:

        def get(path: str) -> None:
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
            response.read()

        for path in dict.fromkeys(paths):  # each path once (a path may come again)
            get(path)
        print("ready", flush=True)  # noqa: T201
        sys.stdin.readline()
        ended = [time.monotonic()]  # when it began, then when each request ended
        for path in paths:
            get(path)
            ended.append(time.monotonic())
        print(" ".join(map(repr, ended)), flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
