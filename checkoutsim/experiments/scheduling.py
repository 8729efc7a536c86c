"""Hand tasks to a pool of local processes, the costliest kinds first.

With N processes, a run ends when the last task does; a costly task started
last leaves the other processes idle while it runs. Tasks come in groups of
alike cost (the replications of one variant), so the first task of each
group measures its cost and the rest go out costliest group first: the tasks
left for the end are the cheapest, and the processes finish close together.
Only a few tasks are in the pool at a time, so each choice uses what the
finished ones measured. Results come back in task order whatever the order
of running, so the numbers do not depend on it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any

Progress = Callable[[int, int], None]


def timed(function: Callable[..., Any], *arguments: Any) -> tuple[Any, float]:
    """Run ``function(*arguments)`` in a worker; return its result and wall seconds."""
    started = time.perf_counter()
    result = function(*arguments)
    return result, time.perf_counter() - started


def costliest_first(
    pool: Executor,
    function: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    group_of: Callable[[tuple[Any, ...]], Hashable],
    workers: int,
    progress: Progress | None = None,
) -> list[Any]:
    """``function(*task)`` for every task on ``pool``; results in task order."""
    pending: dict[Hashable, deque[int]] = {}
    for index, task in enumerate(tasks):
        pending.setdefault(group_of(task), deque()).append(index)
    #: Each group's measured seconds (total, tasks), and the groups already started.
    measured: dict[Hashable, tuple[float, int]] = {}
    started: set[Hashable] = set()
    group_at: dict[Future[Any], Hashable] = {}
    index_at: dict[Future[Any], int] = {}
    results: list[Any] = [None] * len(tasks)
    # Two per process: one running, one queued behind it, so none waits on us.
    window = 2 * workers
    done_count = 0

    def mean_cost(group: Hashable) -> float:
        total, count = measured[group]
        return total / count

    def submit_next() -> None:
        fresh = [group for group in pending if group not in started]
        known = [group for group in pending if group in measured]
        if fresh:
            group = fresh[0]  # one task of each group first, to measure it
        elif known:
            group = max(known, key=mean_cost)
        else:
            group = next(iter(pending))
        started.add(group)
        index = pending[group].popleft()
        if not pending[group]:
            del pending[group]
        future = pool.submit(timed, function, *tasks[index])
        group_at[future] = group
        index_at[future] = index

    while pending and len(index_at) < window:
        submit_next()
    while index_at:
        finished, _ = wait(list(index_at), return_when=FIRST_COMPLETED)
        for future in finished:
            result, seconds = future.result()
            index = index_at.pop(future)
            group = group_at.pop(future)
            results[index] = result
            total, count = measured.get(group, (0.0, 0))
            measured[group] = (total + seconds, count + 1)
            done_count += 1
            if progress:
                progress(done_count, len(tasks))
        while pending and len(index_at) < window:
            submit_next()
    return results
