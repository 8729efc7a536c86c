"""Test-wide settings.

Hypothesis fails an example that takes over 200 ms by default; on a machine
whose cores are busy with other work, an ordinary example can take that long,
and the test would fail for the host rather than for the code. The tests'
examples are judged on what they compute, never on how long they took.

Locust monkey-patches the process that imports it (threads become greenlets),
and every test after it in the same process would then run on gevent: real
threads no longer race, and a sweep's worker processes inherit the patching. So
each test must leave the process unpatched; tests that need Locust run it in a
child process.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gevent import monkey
from hypothesis import settings

settings.register_profile("busy-host", deadline=None)
settings.load_profile("busy-host")


@pytest.fixture(autouse=True)
def _the_process_stays_unpatched(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that monkey-patched this process (by importing Locust, say)."""
    yield
    if monkey.is_module_patched("threading"):
        pytest.fail(
            f"{request.node.nodeid} left this test process monkey-patched by gevent"
            " (it imported Locust or gevent.monkey in process); every later test would"
            " run on greenlets: run that code in a child process instead",
            pytrace=False,
        )
