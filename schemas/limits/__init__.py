"""Emission limits and validity rules: the versioned tables, which limit binds an outlet on a
day, outlet-specific permit limits, and the one judgement of a value against a limit."""
