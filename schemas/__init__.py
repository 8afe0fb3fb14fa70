"""The shared core of sourcewatch. It imports none of the app packages (ingest, api, alerts).

Three kinds of thing, each in its own place:

* ``schemas.core`` — the database core and process plumbing: connection factories, migrations,
  settings, NOTIFY channels and the listen loop, the health server;
* ``schemas.codes`` — code tables (``schemas/codes/data/*.csv``, each row with its source) and
  their loaders, and the wire contracts (the JSON uplink schema);
* domain packages, one home per concept: ``schemas.cases``, ``schemas.limits``,
  ``schemas.registry``, ``schemas.staff`` and ``schemas.disclosure``.
"""
