"""The shared core: migrations, code tables, settings and the connection factory.

It imports none of the app packages (ingest, api, alerts).
"""
