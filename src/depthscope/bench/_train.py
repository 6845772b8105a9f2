"""Build, initialise and train the bias-free ReLU MLPs of ``depthscope bench`` (PyTorch).

The model follows the paper's Figure 3 setup (Jakub & Nica 2023, notebooks): hidden layers
``Linear(n_{l-1}, n_l, bias=False)`` + ReLU, then a bias-free ``Linear(n_L, 10)``; softmax
cross-entropy; Adam with learning rate 1e-3; batch 100; test accuracy as the metric.

Initialisation is Keras' ``HeNormal`` for every layer: a normal distribution truncated at ±2
standard deviations whose standard deviation is rescaled by 1/0.87962566103423978 so that the
truncated weights keep the He variance 2/fan_in.  (The theory of the angle assumes the
untruncated He normal; the two agree in the first two moments.)

Randomness comes only from the integer ``seed`` of a run, spread with
:class:`numpy.random.SeedSequence` into three independent streams: the weights, the order of the
training examples, and the minibatch the zero-cost proxies see.  No global torch seed is set.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from ._data import Dataset

__all__ = ["SCHEDULES", "Task", "build_mlp", "evaluate", "run_task", "streams", "train"]

#: Training schedules: number of epochs.  "paper" is the paper's single epoch.
SCHEDULES: dict[str, int] = {"paper": 1, "long": 10}
#: Keras' HeNormal correction: the sd of a standard normal truncated to [-2, 2].
_TRUNCATED_SD = 0.87962566103423978


@dataclass(frozen=True)
class Task:
    """One training run: an architecture, a seed and a schedule.

    Attributes
    ----------
    widths : tuple of int
        Hidden widths.
    seed : int
        Run seed (0, 1, ...), combined with ``root_seed``.
    schedule : str
        Name of the schedule (a key of ``epochs`` in the bench configuration).
    epochs : int
    root_seed : int
    batch_size : int
    learning_rate : float
    proxy_batch : int
        Minibatch size of the zero-cost proxies.
    angle_pairs : int
        Number of input pairs of the measured angle.
    """

    widths: tuple[int, ...]
    seed: int
    schedule: str
    epochs: int
    root_seed: int = 0
    batch_size: int = 100
    learning_rate: float = 1e-3
    proxy_batch: int = 64
    angle_pairs: int = 8


def streams(root_seed: int, seed: int, widths: Sequence[int]) -> list[int]:
    """Three independent 63-bit seeds (weights, data order, proxy batch) for one run.

    They depend on the root seed, the run seed and the architecture, never on the order in
    which runs are scheduled or on the number of workers.
    """
    key = (int(seed), len(widths), *(int(w) for w in widths))
    sequence = np.random.SeedSequence(int(root_seed), spawn_key=key)
    return [int(s.generate_state(2, np.uint64)[0] >> np.uint64(1)) for s in sequence.spawn(3)]


def he_normal_(weight: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Fill ``weight`` (out, in) in place with Keras' HeNormal: truncated normal, var 2/fan_in."""
    import torch

    sd = math.sqrt(2.0 / weight.shape[1]) / _TRUNCATED_SD
    with torch.no_grad():
        torch.nn.init.trunc_normal_(weight, 0.0, sd, -2.0 * sd, 2.0 * sd, generator=generator)
    return weight


def build_mlp(
    input_dim: int, widths: Sequence[int], n_classes: int = 10, *, seed: int
) -> nn.Sequential:
    """Build a bias-free He-initialised ReLU MLP: ``[Linear, ReLU] * L``, ``Linear(n_L, 10)``.

    Parameters
    ----------
    input_dim : int
    widths : sequence of int
        Hidden widths n_1 .. n_L.
    n_classes : int
    seed : int
        Seed of the weights (a :class:`torch.Generator` is made from it).

    Returns
    -------
    torch.nn.Sequential
    """
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    fan_in = input_dim
    for width in widths:
        linear = nn.Linear(fan_in, width, bias=False)
        he_normal_(linear.weight, generator)
        layers += [linear, nn.ReLU()]
        fan_in = width
    head = nn.Linear(fan_in, n_classes, bias=False)
    he_normal_(head.weight, generator)
    layers.append(head)
    return nn.Sequential(*layers)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Classification accuracy of ``model`` on ``(x, y)``."""
    import torch

    correct = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            logits = model(x[start : start + batch])
            correct += int((logits.argmax(dim=1) == y[start : start + batch]).sum())
    return correct / max(x.shape[0], 1)


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    seed: int,
    batch_size: int = 100,
    learning_rate: float = 1e-3,
) -> float:
    """Train with Adam and softmax cross-entropy; return the mean loss of the last epoch.

    Each epoch visits the training examples once in an order drawn from ``seed``; the last
    minibatch may be smaller than ``batch_size`` (as in Keras).
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()
    last = math.nan
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        total, count = 0.0, 0
        for start in range(0, x.shape[0], batch_size):
            idx = order[start : start + batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * idx.numel()
            count += idx.numel()
        last = total / max(count, 1)
    return last


def run_task(task: Task, dataset: Dataset) -> dict[str, Any]:
    """Measure the proxies of one freshly initialised network, train it, test it.

    Torch and BLAS run on one thread for the duration (restored afterwards): the result is
    then the same in this process and on any Dask worker, and parallel runs do not
    oversubscribe the cores.

    Parameters
    ----------
    task : Task
    dataset : Dataset

    Returns
    -------
    dict
        The per-run columns of ``results.csv``: ``test_accuracy``, ``final_loss``,
        ``train_seconds`` and every measured proxy (see :mod:`depthscope.bench._proxies`).
    """
    import torch

    from ..sweep._engine import single_threaded_blas

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with single_threaded_blas():
            return _run_task(task, dataset)
    finally:
        torch.set_num_threads(threads)


def _run_task(task: Task, data: Dataset) -> dict[str, Any]:
    import torch

    from ._proxies import measure_proxies

    weight_seed, order_seed, proxy_seed = streams(task.root_seed, task.seed, task.widths)
    model = build_mlp(data.input_dim, task.widths, data.n_classes, seed=weight_seed)
    x_train = torch.from_numpy(data.x_train)
    y_train = torch.from_numpy(data.y_train)
    row: dict[str, Any] = measure_proxies(
        model,
        data.x_train,
        data.y_train,
        rng=np.random.default_rng(proxy_seed),
        batch=task.proxy_batch,
        angle_pairs=task.angle_pairs,
    )
    started = time.perf_counter()
    row["final_loss"] = train(
        model,
        x_train,
        y_train,
        epochs=task.epochs,
        seed=order_seed,
        batch_size=task.batch_size,
        learning_rate=task.learning_rate,
    )
    row["train_seconds"] = time.perf_counter() - started
    row["test_accuracy"] = evaluate(
        model, torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    )
    return row
