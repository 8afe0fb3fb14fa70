"""The public, portal and staff HTTP API."""
