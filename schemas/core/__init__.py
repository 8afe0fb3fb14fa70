"""The database core and process plumbing every app shares: connection factories, migrations,
settings, the health/metrics server and broker URLs."""
