"""The shared policy core ("one brain"): every checkout decision, written once.

Policies are generator functions that *yield operations* (``checkoutsim.policy.ops``)
and receive each operation's result back. They never do I/O themselves: the
simulation turns each operation into SimPy events, the real implementation
performs it against SQLite and the fake gateway. So the same decision code is
measured in both bodies.
"""
