"""Sweep engine: a 200-cell sweep serially vs a LocalCluster of 2 workers, and per-cell overhead.

Run:  python benchmarks/bench_sweep.py [--workers 2] [--overhead-only]

* Speedup: 200 cells of 2000 networks × 20 layers (4 widths × 25 angles × 2 predictors)
  through ``run_tasks`` and the checksummed store, serially and on a LocalCluster (start-up
  and the workers' first imports timed apart). Target on a 2-core machine: ≥ 1.7×. The CPU
  time per cell in the workers shows the engine's own cost independently of the machine's load;
  "cores used" (worker CPU time / wall time) shows how much of the machine the run got:
  on a machine shared with other jobs the speedup is bounded by it, not by the engine. The two
  runs must give identical records. The same cells split between two plain processes (no Dask,
  no store) give the ceiling of this machine at this load: the engine's share of the gap is
  the ratio between the two speedups, and that ratio is what to compare between machines.
* Overhead: 400 trivial cells (2 networks × 2 layers, ~2 ms of work) through ``run_tasks`` and
  the checksummed store (one fsync per cell), serially and on the cluster (started beforehand):
  wall time per cell minus the work per cell divided by the workers. Target ≤ 50 ms.
The machine's load average is printed: timings on a shared machine are indicative.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from depthscope.sweep import open_client, parse_spec, run_tasks
from depthscope.sweep._cells import compute_cell
from depthscope.sweep._store import CellStore

HEAVY = {
    "architectures": ["32x20", "48x20", "64x20", "96x20"],
    "theta0": [float(t) for t in np.linspace(0.1, 3.0, 25)],
    "networks": 2000,
    "seed": 1,
    "method": ["markov", "approx1"],
}
TRIVIAL = {
    "architectures": ["4x2"],
    "theta0": [float(t) for t in np.linspace(0.1, 3.0, 200)],
    "networks": 2,
    "seed": 1,
    "method": ["markov", "approx1"],
}


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _warm() -> None:
    """Import what a cell needs (a worker pays it once, at its first cell)."""
    import depthscope.sweep._cells  # noqa: F401


def _plain(cells: list[object], seed: int) -> float:
    """Compute cells in a plain process, BLAS on one thread like a worker; return the seconds."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        compute_cell(cells[0], seed)  # imports and caches, as a warmed worker has them
        start = time.perf_counter()
        for cell in cells:
            compute_cell(cell, seed)
        return time.perf_counter() - start


def ceiling(cells: list[object], seed: int, workers: int) -> float:
    """Wall time of the cells split between ``workers`` plain processes (no engine at all)."""
    parts = [(cells[i::workers], seed) for i in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.starmap(_plain, [(part[:1], seed) for part, _ in parts])
        start = time.perf_counter()
        pool.starmap(_plain, parts)
        return time.perf_counter() - start


def speedup(workers: int, root: Path) -> None:
    spec = parse_spec(HEAVY)
    tasks = {c.key: (c, spec.seed) for c in spec.cells()}
    cells = len(tasks)
    print(f"{cells} cells of 2000 networks x 20 layers ({load()})")
    timings = {}
    for n_workers in (0, workers):
        store = CellStore(root / f"heavy-{n_workers}.jsonl")

        def keep(key: str, value: object, store: CellStore = store) -> None:
            store.append({"key": key, "status": "ok", "result": value})

        start = time.perf_counter()
        with open_client(n_workers, dashboard=False) as client:
            if client is not None:
                client.run(_warm)
            startup = time.perf_counter() - start
            cpu = client.run(time.process_time) if client else {"here": time.process_time()}
            start = time.perf_counter()
            run_tasks(compute_cell, tasks, client=client, on_result=keep, on_error=print)
            wall = time.perf_counter() - start
            after = client.run(time.process_time) if client else {"here": time.process_time()}
        used = sum(after[k] - cpu[k] for k in cpu)
        busy = used / cells
        timings[n_workers] = (startup, wall, store.records)
        label = "serial" if n_workers == 0 else f"LocalCluster, {n_workers} workers"
        print(
            f"  {label:24s} start-up {startup:5.1f} s   cells {wall:6.1f} s   "
            f"{busy * 1e3:4.0f} ms CPU/cell in the worker(s), {used / wall:.2f} cores used   "
            f"({load()})"
        )
    (_, serial, first), (startup, cluster, second) = timings[0], timings[workers]
    plain = ceiling(list(spec.cells()), spec.seed, workers)
    print(f"  {workers} plain processes        cells {plain:6.1f} s   ({load()})")
    print(
        f"  speedup {serial / cluster:.2f}x (cells), {serial / (startup + cluster):.2f}x "
        f"(with start-up)   target >= 1.7x;  identical results: {first == second}\n"
        f"  ceiling of the machine now: {serial / plain:.2f}x with plain processes; the engine "
        f"reaches {plain / cluster:.0%} of it"
    )


def overhead(workers: int, root: Path) -> None:
    spec = parse_spec(TRIVIAL)
    cells = spec.cells()
    tasks = {c.key: (c, spec.seed) for c in cells}
    start = time.perf_counter()
    for cell in cells:
        compute_cell(cell, spec.seed)
    work = (time.perf_counter() - start) / len(cells)
    print(f"{len(cells)} trivial cells, {work * 1e3:.1f} ms of work each ({load()})")
    for label, n_workers in (("serial", 0), (f"LocalCluster, {workers} workers", workers)):
        store = CellStore(root / f"trivial-{n_workers}.jsonl")

        def keep(key: str, value: object, store: CellStore = store) -> None:
            store.append({"key": key, "status": "ok", "result": value})

        with open_client(n_workers, dashboard=False) as client:
            start = time.perf_counter()
            run_tasks(compute_cell, tasks, client=client, on_result=keep, on_error=print)
            wall = time.perf_counter() - start
        per_cell = wall / len(cells)
        extra = per_cell - work / max(n_workers, 1)
        print(
            f"  {label:30s} {per_cell * 1e3:6.2f} ms/cell wall, engine overhead "
            f"{extra * 1e3:6.2f} ms/cell   target <= 50 ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--overhead-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        overhead(args.workers, Path(folder))
        if not args.overhead_only:
            speedup(args.workers, Path(folder))


if __name__ == "__main__":
    main()
