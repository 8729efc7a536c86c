"""Capacity planning: the plan, its assumptions, the queueing formulas behind it, and its cost
(a prices table with sources, and the cost a month and per order).

Imports nothing else from the package: the settings check a plan with it.
"""
