"""All the SQL the public API runs, one module per resource.

Each function builds an :class:`api.db.Statement` (no I/O): values are placeholders, anything
structural (sort columns, optional conditions) is composed with ``psycopg.sql``. The routes run
them through :class:`api.db.Database`; :mod:`api.queries.limits` is the exception, as it calls
:func:`schemas.limits.rules.limits_for_outlet` on a connection.
"""
