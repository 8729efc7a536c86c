"""What a run produces and how it is judged: history, the metrics contract, the audit,
statistics, comparison and encoding.

Imports nothing else from the package: both bodies, the experiments, the report and the
command line build on it.
"""
