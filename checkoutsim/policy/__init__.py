"""The brain: the checkout's decisions as pure steps, shared by both bodies.

Imports nothing from the bodies (sim, real, load), nothing that prints and no clock but
the :class:`~checkoutsim.policy.clock.Clock` protocol.
"""
