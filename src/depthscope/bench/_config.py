"""The settings of a ``depthscope bench`` run (one frozen object, saved as ``bench.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ._grid import full_grid, quick_grid
from ._train import SCHEDULES

__all__ = ["BenchConfig"]


@dataclass(frozen=True)
class BenchConfig:
    """Every setting of a bench run.

    Attributes
    ----------
    dataset : str
        Dataset spec (see :func:`depthscope.bench._data.load_dataset`).
    grid : tuple of tuple of int
        Hidden widths of each architecture.
    seeds : int
        Runs per architecture and schedule (seeds 0 .. seeds − 1).
    schedules : tuple of (str, int)
        Schedule names and their numbers of epochs.
    root_seed, batch_size, learning_rate, proxy_batch, angle_pairs
        See :class:`depthscope.bench._train.Task`.
    max_train : int or None
        Keep only the first ``max_train`` training examples (None: all).
    n_boot : int
        Bootstrap replicates of the correlation intervals.

    The engine (serial, local Dask cluster or a scheduler) is not a setting of the run: the
    results do not depend on it; see :func:`depthscope.bench.run_bench`.
    """

    dataset: str = "digits"
    grid: tuple[tuple[int, ...], ...] = field(default_factory=lambda: tuple(full_grid()))
    seeds: int = 5
    schedules: tuple[tuple[str, int], ...] = tuple(SCHEDULES.items())
    root_seed: int = 0
    batch_size: int = 100
    learning_rate: float = 1e-3
    proxy_batch: int = 64
    angle_pairs: int = 8
    max_train: int | None = None
    n_boot: int = 1000

    @classmethod
    def quick(cls, **changes: Any) -> BenchConfig:
        """Return the ``--quick`` bench: eight architectures × 3 seeds, schedules 1 and 5 epochs."""
        settings: dict[str, Any] = {
            "grid": tuple(quick_grid()),
            "seeds": 3,
            "schedules": (("paper", 1), ("long", 5)),
            "n_boot": 300,
        }
        settings.update(changes)
        return cls(**settings)

    def identity(self) -> dict[str, Any]:
        """Return the settings that a resumed run must share with the results already written."""
        keep = (
            "dataset",
            "schedules",
            "root_seed",
            "batch_size",
            "learning_rate",
            "proxy_batch",
            "angle_pairs",
            "max_train",
        )
        data = asdict(self)
        return json.loads(json.dumps({k: data[k] for k in keep}))

    def replace(self, **changes: Any) -> BenchConfig:
        """Return a copy with some settings changed."""
        return replace(self, **changes)
