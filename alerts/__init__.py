"""Judges data as a regulator does, and tells enforcement staff."""
