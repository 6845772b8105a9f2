"""The engine: run named tasks serially or on a Dask cluster, results handed back as they finish.

Every long command routes its grid through :func:`run_tasks`: a mapping ``key -> arguments``,
a pure top-level function, and two callbacks (``on_result``, ``on_error``) called *in the
driving process* as tasks finish, in any order. The driving process is the only one that
writes files; the workers only compute. Randomness must come from the task's arguments (a seed
derived from its key), never from the order of execution, so the results do not depend on the
engine. :func:`open_client` gives the engine: ``None`` (serial, no Dask imported), a
``LocalCluster`` of single-threaded worker processes, or a client of an existing scheduler.

The recipe of a command (``sweep``, ``bench``, ``claims``, ``tools/make_markov_table.py``,
``tools/make_law_table.py``): key each task by a stable name, seed it with
:func:`label_seed` (or a spawn key of its parameters), send a large shared argument once with
:func:`share`, and write each result in ``on_result`` (atomically, keyed, so that a killed run
resumes). :func:`engine_name` names the engine for reports.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .._errors import DepthscopeError

__all__ = [
    "ProgressLine",
    "engine_name",
    "label_seed",
    "open_client",
    "run_tasks",
    "share",
    "single_threaded_blas",
]


#: Settings of our LocalCluster's workers. Dask's nannies set ``MALLOC_TRIM_THRESHOLD_=65536``,
#: which pins glibc's mmap threshold: every large numpy temporary is then mapped and unmapped
#: again (measured: +25 ms of system time and ~8000 page faults per 2000-network cell). The
#: statistical profiler (the dashboard's profile page) cost ~15 % of a cell's CPU time here.
#: The periodic callbacks (event-loop tick every 20 ms, work stealing, system and memory
#: monitors) cost 6.5 % of a core with an idle 2-worker cluster, 1.2 % with the slower
#: intervals below: on a 2-core machine that time is taken from the workers. (The nannies
#: already start the workers with ``OMP/OPENBLAS/MKL_NUM_THREADS=1``: no BLAS oversubscription.)
_LOCAL_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.work-stealing": False,
}


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise DepthscopeError(
            "running on a Dask cluster needs dask.distributed: pip install 'depthscope[sweep]' "
            "(or run serially with --workers 0)."
        ) from None
    return distributed


@contextmanager
def open_client(
    workers: int | None = None, scheduler: str | None = None, *, dashboard: bool = True
) -> Iterator[Any]:
    """Open the engine for the duration of a ``with`` block.

    Parameters
    ----------
    workers : int, optional
        0: serial (yields None, Dask is not imported). Without ``scheduler``: the number of
        worker processes of a ``LocalCluster`` (default: the machine's cores), one thread each,
        listening on 127.0.0.1 only.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``), e.g. started with
        ``dask scheduler`` and ``dask worker``, or by dask-jobqueue; ``workers`` is then ignored.
    dashboard : bool
        Serve the dashboard of a LocalCluster (on 127.0.0.1, a free port).

    Yields
    ------
    distributed.Client or None
    """
    if scheduler is None and workers == 0:
        yield None
        return
    distributed = _distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except OSError as err:
            raise DepthscopeError(f"cannot reach the Dask scheduler {scheduler}: {err}") from None
        with client:
            yield client
        return
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers < 0:
        raise DepthscopeError(f"--workers must be ≥ 0, got {n_workers}.")
    import dask

    with (
        dask.config.set(_LOCAL_CONFIG),
        distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0" if dashboard else None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def engine_name(workers: int | None = None, scheduler: str | None = None) -> str:
    """Name the engine :func:`open_client` opens for these arguments (for reports)."""
    if scheduler is not None:
        return f"Dask scheduler {scheduler}"
    if workers == 0:
        return "serial"
    return f"Dask LocalCluster, {workers or os.cpu_count() or 1} worker processes"


def run_tasks(
    function: Callable[..., Any],
    tasks: Mapping[str, Sequence[Any]],
    *,
    client: Any = None,
    retries: int = 2,
    on_result: Callable[[str, Any], None],
    on_error: Callable[[str, str], None],
) -> None:
    """Run ``function(*tasks[key])`` for every key; hand each outcome back as it finishes.

    Parameters
    ----------
    function : callable
        A top-level (picklable) function, pure: the same arguments give the same result.
    tasks : mapping of str to sequence
        The arguments of each task by its key (unique).
    client : distributed.Client, optional
        The cluster (:func:`open_client`); None runs the tasks one after the other here, with
        BLAS limited to one thread as on a worker (:func:`single_threaded_blas`).
    retries : int
        A task that raises is run again up to ``retries`` times (Dask ``retries=``; a lost
        worker's tasks are rescheduled by Dask itself).
    on_result, on_error : callable
        ``on_result(key, value)`` after a success; ``on_error(key, message)`` after the last
        failed attempt (the message names the exception). Called in this process.
    """
    if client is None:
        with single_threaded_blas():  # as on a Dask worker: the same bits, whatever the engine
            for key, arguments in tasks.items():
                for attempt in range(retries + 1):
                    try:
                        value = function(*arguments)
                    except Exception as err:
                        if attempt == retries:
                            on_error(key, _describe(err))
                    else:
                        on_result(key, value)
                        break
        return
    distributed = _distributed()
    # Dask shares a key between clients: a token per call keeps two runs on one scheduler
    # (other seeds, other data, the same task names) from receiving each other's results.
    run = uuid.uuid4().hex[:8]
    futures = {
        client.submit(function, *arguments, key=f"depthscope-{key}-{run}", retries=retries): key
        for key, arguments in tasks.items()
    }
    for future in distributed.as_completed(futures):
        key = futures.pop(future)
        if future.status == "finished":
            on_result(key, future.result())
        else:
            on_error(key, _describe(future.exception()))
        future.release()


def share(client: Any, value: Any) -> Any:
    """Send ``value`` to every worker once; pass the result among a task's arguments.

    Serially (``client`` None) the value itself is returned. On a cluster it is a future of
    the value scattered to every worker (``broadcast=True``): Dask hands each task the value
    held by its worker, so a large argument (a dataset) is pickled once, not once per task.
    """
    if client is None:
        return value
    return client.scatter(value, broadcast=True, hash=False)


def label_seed(seed: int, label: str) -> np.random.SeedSequence:
    """Return the stream of the task named ``label``: ``SeedSequence(seed, spawn_key=...)``.

    The spawn key is four 32-bit integers of the SHA-256 of the label: the stream depends on
    the root seed and the task's name only, never on the order of the tasks or the engine.
    """
    digest = hashlib.sha256(label.encode()).digest()
    key = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return np.random.SeedSequence(seed, spawn_key=key)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS/LAPACK to one thread for the duration, if threadpoolctl is installed.

    A task then computes the same bits in this process as on a Dask worker (whose nanny
    starts it with ``OPENBLAS_NUM_THREADS=1``), and many small factorisations run much faster
    on a busy machine (measured: a 1024×64 ``dgeqrf`` took 0.7 s with 2 OpenBLAS threads under
    load, 1 ms with one).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError:  # pragma: no cover - optional
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _describe(err: BaseException | None) -> str:
    return f"{type(err).__name__}: {err}"


class ProgressLine:
    """Cells done/total, rate and ETA on stderr (``quiet`` silences it).

    On a terminal the line is rewritten at most every half second; otherwise one line is
    printed at each tenth of the work and at the end.
    """

    def __init__(self, name: str, total: int, *, done: int = 0, quiet: bool = False) -> None:
        self.name, self.total, self.done, self.quiet = name, total, done, quiet
        self.first = done
        self.started = time.perf_counter()
        self.shown = 0.0
        self.tenths = done * 10 // max(total, 1)
        self.tty = sys.stderr.isatty()

    def restart(self) -> None:
        """Measure the rate from now on (once the engine is up)."""
        self.started = time.perf_counter()

    def say(self, text: str) -> None:
        """Print one line ``name: text``."""
        if not self.quiet:
            print(f"{self.name}: {text}", file=sys.stderr, flush=True)

    def step(self) -> None:
        """Count one finished cell and show the line when due."""
        self.done += 1
        now = time.perf_counter()
        end = self.done == self.total
        tenths = self.done * 10 // max(self.total, 1)
        if self.quiet or not (end or (self.tty and now - self.shown > 0.5) or tenths > self.tenths):
            return
        self.shown, self.tenths = now, tenths
        elapsed = now - self.started
        rate = (self.done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        text = f"{self.done}/{self.total} cells, {rate:.2f} cells/s, ETA {_duration(eta)}"
        if self.tty:
            print(f"\r{self.name}: {text}", end="\n" if end else "", file=sys.stderr, flush=True)
        else:
            self.say(text)


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
