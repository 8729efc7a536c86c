"""The real checkout: SQLite stores, a fake payment gateway, and the shared policy core.

Nothing here imports gevent or Locust. Concurrency comes from outside: the
load-test layer (``checkoutsim.load``) hands in a thread pool, a cooperative
sleeper and the unpatched threading primitives; unit tests hand in plain threads
and a manual clock.
"""
