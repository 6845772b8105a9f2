"""Probe a model every k steps of a training loop and log the per-layer metrics over steps."""

from __future__ import annotations

import csv
import math
import numbers
import os
import warnings
import weakref
from pathlib import Path
from typing import IO, Any

import numpy as np

from .._errors import DepthscopeError, DepthscopeWarning
from .._optional import import_torch
from ..report._output import dumps_json
from ._probe import METRICS, InputCache, ProbeResult, probe_with_cache

__all__ = ["CSV_NAME", "JSON_NAME", "TrainingMonitor", "lightning_callback"]

CSV_NAME = "probe_log.csv"
JSON_NAME = "probe_log.jsonl"
_SCALARS = ("ln_sin2", *METRICS)


class TrainingMonitor:
    """Probe ``model`` on a fixed batch every ``every`` steps; log CSV, JSON lines, TensorBoard.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained (probed in eval mode; its mode, buffers and torch's random
        state are restored after each probe, and no gradient is recorded).
    probe_batch : torch.Tensor or array_like, shape (m, ...)
        The fixed batch probed each time (m ≥ 2; keep m small, 16 to 64, for low overhead). An
        array is copied into a tensor now; a tensor is used as is (an in-place change of it is
        noticed at the next probe).
    every : int, default 10
        Probe when the step number is a multiple of ``every`` (a positive integer; a bool
        raises TypeError, NaN, 0, -1 or 1.5 DepthscopeError).
    log_dir : str or path-like, optional
        Folder for the logs (created; files of an earlier run there are replaced):
        ``probe_log.csv`` (one row per step and layer, the columns of
        :meth:`ProbeResult.columns` with ``step`` first) and ``probe_log.jsonl`` (one JSON
        object per probe: ``{"step": s, **result.to_dict()}``). Without it nothing is written
        and the results are only kept in :attr:`history`.
    tensorboard : bool, optional
        Also write scalars ``depthscope/<metric>/<layer>`` with
        ``torch.utils.tensorboard.SummaryWriter`` into ``log_dir``. Default: when the
        ``tensorboard`` package is installed and ``log_dir`` is given. True raises if it is not
        installed.
    keep_history : bool, default True
        Keep every :class:`ProbeResult` in :attr:`history` (a few kB each).
    **probe_options
        Passed to :func:`~depthscope.probing.probe` (``layers``, ``tolerance``,
        ``max_features``, ``theory``, ...). ``rng`` defaults to 0 so that a subsampled layer
        uses the same coordinates at every step.

    Attributes
    ----------
    steps_done : int
        Calls of :meth:`step` without an explicit step number so far.
    history : list of (int, ProbeResult)
        The probes made, with their step numbers.

    Notes
    -----
    A layer whose output holds NaN or ±inf (training diverged) is logged with NaN metrics and
    ``nonfinite`` True, and the monitor warns once (:class:`depthscope.DepthscopeWarning`)
    instead of raising: the training loop goes on. The JSON lines stay strict JSON (null).

    Call :meth:`step` once per optimisation step, after ``optimizer.step()``: the k-th call
    is step k (1, 2, ...), so with ``every=10`` the model is probed after 10, 20, ... updates.
    :meth:`record` probes unconditionally, e.g. ``monitor.record(0)`` before training.

    Examples
    --------
    >>> import torch
    >>> from depthscope.probing import TrainingMonitor
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> monitor = TrainingMonitor(net, torch.randn(8, 4), every=2)
    >>> [monitor.step() is not None for _ in range(4)]
    [False, True, False, True]
    >>> [step for step, _ in monitor.history]
    [2, 4]
    """

    def __init__(
        self,
        model: Any,
        probe_batch: Any,
        *,
        every: int = 10,
        log_dir: str | os.PathLike[str] | None = None,
        tensorboard: bool | None = None,
        keep_history: bool = True,
        **probe_options: Any,
    ) -> None:
        torch = import_torch()
        _check_every(every)
        self.model = model
        if not isinstance(probe_batch, torch.Tensor):  # a copy: the batch is fixed from here on
            probe_batch = torch.as_tensor(np.array(probe_batch))
        self.probe_batch = probe_batch
        self.every = int(every)
        self.probe_options = {"rng": 0, **probe_options}
        self.keep_history = keep_history
        self.steps_done = 0
        self.history: list[tuple[int, ProbeResult]] = []
        self.log_dir = None if log_dir is None else Path(log_dir)
        self._logs: list[IO[str]] = []  # CSV and JSON-lines files, open from the first probe on
        self._csv: Any = None
        self._started = False  # whether this monitor has written its logs' headers
        self._writer: Any = None
        self._input_cache: InputCache = {}  # the batch's own row, the same at every probe
        self._warned = False  # whether non-finite layers were reported (once per monitor)
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        if tensorboard is None:
            tensorboard = self.log_dir is not None and _tensorboard_available()
        if tensorboard:
            if self.log_dir is None:
                raise DepthscopeError("tensorboard=True needs a log_dir.")
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise DepthscopeError(
                    "tensorboard=True needs the tensorboard package: pip install tensorboard."
                ) from None
            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        del torch

    def step(self, step: int | None = None) -> ProbeResult | None:
        """Count one training step; probe and log if it is a multiple of ``every``.

        Parameters
        ----------
        step : int, optional
            The step number to use (e.g. a global step that survives restarts); by default
            the number of calls so far.

        Returns
        -------
        ProbeResult or None
            The probe made at this step, or None if none was due.
        """
        if step is None:
            self.steps_done += 1
            step = self.steps_done
        if step % self.every:
            return None
        return self.record(step)

    def record(self, step: int) -> ProbeResult:
        """Probe now and log the result under ``step`` (whatever ``every`` says)."""
        result = probe_with_cache(
            self.model, self.probe_batch, self._input_cache, **self.probe_options
        )
        if any(result.nonfinite) and not self._warned:
            self._warned = True
            flagged = [
                name for name, bad in zip(result.layers, result.nonfinite, strict=True) if bad
            ]
            warnings.warn(
                f"TrainingMonitor: non-finite values (NaN or ±inf) at step {step} in "
                f"{len(flagged)} layer(s), first {flagged[0]!r}: training may have diverged. "
                "Their metrics are logged as NaN with nonfinite = True; this monitor warns once.",
                DepthscopeWarning,
                stacklevel=3 if self.steps_done == step else 2,
            )
        if self.keep_history:
            self.history.append((int(step), result))
        if self.log_dir is not None:
            self._write(int(step), result)
        return result

    def _write(self, step: int, result: ProbeResult) -> None:
        assert self.log_dir is not None
        columns = result.columns()
        if not self._logs:
            if not self._started:  # the first probe replaces the files of an earlier run
                for name in (CSV_NAME, JSON_NAME):
                    (self.log_dir / name).write_text("")
            # Append mode: every write goes to the current end of the file, whoever else
            # writes or truncates it meanwhile.
            self._logs = [
                open(self.log_dir / CSV_NAME, "a", newline=""),
                open(self.log_dir / JSON_NAME, "a"),
            ]
            weakref.finalize(self, _close_all, self._logs)  # closed when the monitor is collected
            self._csv = csv.writer(self._logs[0])
            if not self._started:
                self._csv.writerow(["step", *columns])
            self._started = True
        csv_file, json_file = self._logs
        self._csv.writerows([step, *row] for row in zip(*columns.values(), strict=True))
        json_file.write(dumps_json({"step": step, **result.to_dict()}) + "\n")
        csv_file.flush()  # complete lines on disk after every probe
        json_file.flush()
        if self._writer is not None:
            for i, layer in enumerate(result.layers):
                values = {"ln_sin2": result.ln_sin2[i]}
                values.update({name: result.metrics[name][i] for name in METRICS})
                for name in _SCALARS:
                    value = float(values[name])
                    if math.isfinite(value):
                        self._writer.add_scalar(f"depthscope/{name}/{layer}", value, step)
            self._writer.flush()

    def series(self, metric: str, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """Return steps and values of one metric (``"ln_sin2"`` or in METRICS) at one layer."""
        if metric != "ln_sin2" and metric not in METRICS:
            raise DepthscopeError(f"unknown metric {metric!r}; choose ln_sin2 or one of {METRICS}.")
        steps, values = [], []
        for step, result in self.history:
            if layer in result.layers:
                i = result.layers.index(layer)
                row = result.ln_sin2 if metric == "ln_sin2" else result.metrics[metric]
                steps.append(step)
                values.append(float(row[i]))
        return np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64)

    def close(self) -> None:
        """Close the CSV and JSON-lines logs and the TensorBoard writer.

        The logs are flushed after every probe, so they are complete even without this call;
        a monitor that is garbage-collected closes its files too. A later probe reopens them
        and appends.
        """
        _close_all(self._logs)
        self._logs = []
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> TrainingMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_every(every: object) -> None:
    """Refuse an ``every`` that is not a positive whole number (bool, NaN, 1.5, 0, -1)."""
    if isinstance(every, bool) or not isinstance(every, numbers.Real):
        raise TypeError(f"every must be a positive integer, not {type(every).__name__} {every!r}.")
    value = float(every)
    if not (math.isfinite(value) and value >= 1 and value.is_integer()):
        raise DepthscopeError(f"every = {every!r} must be a positive integer (1, 2, ...).")


def _close_all(files: list[IO[str]]) -> None:
    for handle in files:
        handle.close()


def _tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def lightning_callback(probe_batch: Any, **monitor_options: Any) -> Any:
    """Make a Lightning ``Callback`` that runs a :class:`TrainingMonitor` on the trained module.

    Parameters
    ----------
    probe_batch : torch.Tensor or array_like
        The fixed batch to probe.
    **monitor_options
        Passed to :class:`TrainingMonitor` (``every``, ``log_dir``, ...). The step number is
        Lightning's ``trainer.global_step``. The module is probed by calling
        ``module(probe_batch)``, so it must define ``forward``.

    Returns
    -------
    lightning.pytorch.Callback

    Raises
    ------
    DepthscopeError
        If neither ``lightning`` nor ``pytorch_lightning`` is installed.
    """
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError:
            raise DepthscopeError(
                "lightning_callback needs Lightning: pip install lightning."
            ) from None

    class DepthscopeCallback(Callback):
        """Probe the LightningModule every ``every`` global steps."""

        def __init__(self) -> None:
            super().__init__()
            self.monitor: TrainingMonitor | None = None
            self.last_step: int | None = None

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
            if self.monitor is None:
                if getattr(type(pl_module), "forward", None) is import_torch().nn.Module.forward:
                    raise DepthscopeError(
                        f"{type(pl_module).__name__} defines no forward(): the probe runs "
                        "module(probe_batch), so give the LightningModule a forward method."
                    )
                self.monitor = TrainingMonitor(pl_module, probe_batch, **monitor_options)
            step = int(trainer.global_step)
            if step != self.last_step:  # gradient accumulation repeats a global step
                self.last_step = step
                self.monitor.step(step)

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            if self.monitor is not None:
                self.monitor.close()

    return DepthscopeCallback()
