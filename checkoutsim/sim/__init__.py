"""The SimPy body: the policy core driven in simulated time."""
