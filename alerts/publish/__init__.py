"""Automatic disclosure records from data: enterprise profiles, daily summaries, exceedance
notices, monthly emission totals and tax estimates (:class:`Publisher`)."""

from alerts.publish.service import Publisher, PublisherOptions

__all__ = ["Publisher", "PublisherOptions"]
