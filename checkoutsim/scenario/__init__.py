"""Scenario files (find, read, override, validate) and the settings schema they are read
into.

Imports nothing else from the package but the capacity plan, which checks a scale
section.
"""
