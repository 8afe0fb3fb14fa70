"""Code tables and wire contracts: the CSV tables in ``data/`` (pollutants, flags, limits,
validity and pattern rules, disclosure catalogue, tax tables) with their loaders, and the JSON
uplink schema."""
