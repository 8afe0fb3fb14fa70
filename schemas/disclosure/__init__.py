"""Disclosure of the eight categories of pollution-source supervision information.

Records (``disclosure_records``) of typed record types, their authoring workflow, the legal
clocks on the Chinese working-day calendar, and the hash-chained, signed publication log.
"""
