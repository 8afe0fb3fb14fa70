"""``python -m bench``: every benchmark, then the summary table (bench/summary.py)."""

from bench.summary import main

main()
