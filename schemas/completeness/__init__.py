"""Completeness: what each outlet was expected to send, what it sent, and the regulator's
transmission and validity rates (docs/completeness.md).

- :mod:`schemas.completeness.record` — the record ingest keeps (received and valid records per
  outlet, pollutant, data kind and hour);
- :mod:`schemas.completeness.expected` — what the registry says is expected;
- :mod:`schemas.completeness.rates` — 传输率, 有效率 and 传输有效率 per day, month, quarter;
- :mod:`schemas.completeness.gaps` — the outlet-hours expected but not (wholly) received.
"""
