"""The real checkout: SQLite/PostgreSQL stores, Redis locks, a fake payment gateway, and
the shared policy core.

Imports the brain, the world, the settings and results; never the SimPy body,
experiments or Locust.
"""
