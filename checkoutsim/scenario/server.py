"""The checkout service's request threads: the ``[server]`` section.

Many small shops run on a web server with a fixed pool of request threads
(gunicorn's ``--threads``, waitress, Tomcat's ``maxThreads``, a
``ThreadPoolExecutor`` behind ``http.server``). A request holds its thread from
the moment one picks it up until it answers, pauses and payment calls included,
and requests beyond the pool wait in line before any of their work starts. That
line bounds how many checks can be in flight at once, so it bounds a
check-then-write race as much as it slows the answers. Off (0) by default: a
thread per request or an event loop, where only the database's workers queue.
"""

from __future__ import annotations

from pydantic import Field

from checkoutsim.scenario.sections import Section


class Server(Section):
    """The request threads every checkout request holds from start to answer."""

    #: Threads in the pool; each request holds one for its whole run, first come
    #: first served. 0: no such pool (a thread per request, or an event loop).
    threads: int = Field(0, ge=0, le=100_000)
