"""The SimPy body: the policy core driven in simulated time.

Imports the brain, the world, the settings and the history it fills; never the real body
or Locust.
"""

from collections.abc import Generator
from typing import Any

import simpy

#: A SimPy process body, or a step of one driven with ``yield from``.
SimStep = Generator[simpy.Event, Any, Any]
