"""The SimPy body: the policy core driven in simulated time."""

from collections.abc import Generator
from typing import Any

import simpy

#: A SimPy process body, or a step of one driven with ``yield from``.
SimStep = Generator[simpy.Event, Any, Any]
