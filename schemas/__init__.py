"""The shared core: migrations, code tables, settings, the connection factory, and the case
workflow, evidence bundles and case errors that alerts and the API both use.

It imports none of the app packages (ingest, api, alerts).
"""
