"""Load generation with Locust, used as a library.

Importing ``locust`` monkey-patches the whole process with gevent, so every
module here that needs Locust or gevent imports it inside functions, and nothing
outside this package imports those modules at top level. ``schedule`` is pure
and safe to import anywhere.
"""
