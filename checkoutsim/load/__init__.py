"""Locust load tests against the real body: shoppers, sessions, local, distributed and
remote runs.

Imports the real body, the world, the settings, results and the brain; never the SimPy
body or experiments.
"""
