"""Emission limits and validity rules: the versioned tables, which limit binds an outlet on a
day, and outlet-specific permit limits."""
