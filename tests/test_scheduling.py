"""Tasks handed out costliest group first still come back complete and in task order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.experiments.scheduling import costliest_first


def _work(group: int, value: int) -> tuple[int, int]:
    return group, value * value


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(-100, 100)), max_size=30),
    st.integers(1, 3),
)
def test_results_in_task_order(tasks: list[tuple[int, int]], workers: int) -> None:
    seen: list[tuple[int, int]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = costliest_first(
            pool,
            _work,
            tasks,
            lambda task: task[0],
            workers,
            lambda done, total: seen.append((done, total)),
        )
    assert results == [_work(*task) for task in tasks]
    assert seen == [(done, len(tasks)) for done in range(1, len(tasks) + 1)]
