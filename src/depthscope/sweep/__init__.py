"""Sweeps: a grid of (architecture, θ0, activation, σ_b, predictor) cells, on Dask or serially.

:mod:`._spec` reads and checks a spec and expands its grid; :mod:`._cells` computes one cell
(simulate + predict, pure, seeded from the cell's key); :mod:`._engine` runs named tasks
serially or on a Dask cluster (the engine other long commands can route through);
:mod:`._store` keeps finished cells in a checksummed JSON-lines file; :mod:`._report` renders
``results.csv``, ``layers.npz``, ``report.md`` and the figure; :mod:`._run` ties them together.
Dask is imported only when a cluster is used: ``import depthscope`` never imports it.
"""

from ._cells import Cell as Cell
from ._engine import open_client as open_client
from ._engine import run_tasks as run_tasks
from ._run import SweepSummary as SweepSummary
from ._run import run_sweep as run_sweep
from ._spec import SweepSpec as SweepSpec
from ._spec import load_spec as load_spec
from ._spec import parse_spec as parse_spec

__all__ = [
    "Cell",
    "SweepSpec",
    "SweepSummary",
    "load_spec",
    "open_client",
    "parse_spec",
    "run_sweep",
    "run_tasks",
]
