"""The checkout service's request threads: the ``[server]`` section.

Many small shops run on a web server with a fixed pool of request threads
(gunicorn's ``--threads``, waitress, Tomcat's ``maxThreads``, a
``ThreadPoolExecutor`` behind ``http.server``). A request holds its thread from
the moment one picks it up until it answers, pauses and payment calls included,
and requests beyond the pool wait in line before any of their work starts. That
line bounds how many checks can be in flight at once, so it bounds a
check-then-write race as much as it slows the answers. Off (0) by default: a
thread per request or an event loop, where only the database's workers queue.

Before any of that, a server does work of its own on every request: it
accepts the connection, reads and parses the request, routes it. In one Python
process that work runs one request at a time (the GIL), however many threads
serve, and past its rate new requests wait in line *at the door* (the listen
backlog), before their check. A request already inside does not wait behind
that line again: the write a check-then-decrement makes after its window waits
only for the database. ``acceptors`` requests are worked on at once, each for
``accept_s`` on the way in, in line; a request answered anything but sold
out (an order above all: its write's and its answer's work) then takes a
place again for ``respond_s`` at its answer, ahead of the line. Off (0) by
default.
"""

from __future__ import annotations

from pydantic import Field

from checkoutsim.scenario.sections import Section


class Server(Section):
    """The request threads every checkout request holds from start to answer."""

    #: Threads in the pool; each request holds one for its whole run, first come
    #: first served. 0: no such pool (a thread per request, or an event loop).
    threads: int = Field(0, ge=0, le=100_000)
    #: Requests the server works on at once (the door), each holding one for
    #: ``accept_s`` before its work starts; 0: no door.
    acceptors: int = Field(0, ge=0, le=100_000)
    #: Seconds of the server's own work on a request before its check (in line).
    accept_s: float = Field(0.0, ge=0.0, le=60.0)
    #: Seconds of its work on an answer other than sold out, ahead of the line.
    respond_s: float = Field(0.0, ge=0.0, le=60.0)
