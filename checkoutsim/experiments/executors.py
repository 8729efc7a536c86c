"""Where simulation tasks run: inline, local processes, or a Dask cluster.

Every replication and sweep point is an independent task with its own seed, so
any ``concurrent.futures.Executor`` can run them and the results are put back
in task order: the same seeds give the same frame, bit for bit, wherever the
tasks ran. Dask is optional (``pip install 'checkoutsim[dask]'``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor


class ExecutorError(Exception):
    """The requested executor cannot be had (no Dask, cluster unreachable)."""


@contextlib.contextmanager
def executor_for(jobs: int, cluster: str | None = None) -> Iterator[Executor | None]:
    """An executor for ``jobs`` local processes or a Dask scheduler address.

    Yields None for a single local job: the caller then runs tasks inline,
    which is fastest for one process and keeps tracebacks simple.
    """
    if cluster:
        with _dask_executor(cluster) as executor:
            yield executor
        return
    if jobs <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        yield pool
    finally:
        pool.shutdown()


#: How long to wait for a Dask scheduler to answer before saying it cannot be reached.
CONNECT_TIMEOUT_S = 10.0


@contextlib.contextmanager
def _dask_executor(address: str) -> Iterator[Executor]:
    """A ``concurrent.futures`` view of a Dask distributed scheduler."""
    try:
        from distributed import Client
    except ImportError:
        raise ExecutorError("--cluster needs Dask: pip install 'checkoutsim[dask]'") from None
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S:g}s", set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ExecutorError(f"--cluster {address}: cannot reach the scheduler: {error}") from None
    try:
        yield client.get_executor()
    finally:
        client.close()
