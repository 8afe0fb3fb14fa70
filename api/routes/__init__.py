"""HTTP routes, one module per resource; :func:`api.app.create_app` includes their routers."""
