"""Test-wide settings.

Hypothesis fails an example that takes over 200 ms by default; on a machine
whose cores are busy with other work, an ordinary example can take that long,
and the test would fail for the host rather than for the code. The tests'
examples are judged on what they compute, never on how long they took.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("busy-host", deadline=None)
settings.load_profile("busy-host")
