"""``depthscope bench``: train a grid of ReLU MLPs and test whether the predicted angle ranks them.

Needs PyTorch (and scikit-learn for the bundled digits; matplotlib for the figure); none of them
is imported by ``import depthscope`` or by importing this package.

Modules: :mod:`._grid` (the architectures), :mod:`._data` (datasets), :mod:`._train` (model and
training), :mod:`._proxies` (zero-cost proxies and the measured angle), :mod:`._stats` (rank
correlations with bootstrap intervals), :mod:`._run` (the run, its files and report).
"""

from __future__ import annotations

from ._grid import full_grid, quick_grid
from ._run import BenchConfig, run_bench

__all__ = ["BenchConfig", "full_grid", "quick_grid", "run_bench"]
