"""The bottom layer: settings (the only reader of the environment), logs, the metrics registry,
supervision of background parts, and Redis (connection, key names, claims and locks).

Imports nothing else of ``starkrelay``; every other package may import it.
"""
