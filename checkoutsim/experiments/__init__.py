"""Runs of the model: replications (runner), sweeps, executors (inline, processes, Dask),
scale checks, benches.

Imports the SimPy body, capacity, the settings and results; never the real body.
"""
