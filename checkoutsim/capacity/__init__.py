"""Capacity planning: the plan, its assumptions and the queueing formulas behind it.

Imports nothing else from the package: the settings check a plan with it.
"""
