"""The result of a probe: one row per probed layer, as arrays, columns, records or JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError
from ..simulation._metrics import PANEL_METRICS
from ._theory import PROBABILITIES, TheoryOverlay

__all__ = ["METRICS", "ProbeResult"]

#: Per-layer metrics of a probe: the effective-dimension panel, then the dead-unit fraction.
METRICS: tuple[str, ...] = (*PANEL_METRICS, "dead_fraction")


def _floats(values: Sequence[float] | NDArray[np.float64]) -> list[float]:
    """Python floats of a sequence (what ``float`` gives, element by element, but at once)."""
    return list(np.asarray(values, dtype=np.float64).tolist())


@dataclass(frozen=True)
class ProbeResult:
    """Per-layer measurements of one probe (rows = probed layers in execution order).

    Attributes
    ----------
    layers : tuple of str
        Row names: ``"input"`` (the batch itself, flattened per example) and the qualified
        module names (``"3"``, ``"encoder.relu1"``); a module that ran k > 1 times gets
        ``"name#k"`` for its later calls.
    module_types : tuple of str
        Class name of each row's module (``"input"`` for the input row).
    shapes : tuple of tuple of int
        Per-example shape of each row's output (batch dimension removed).
    n_features : ndarray of int, shape (n_layers,)
        Length n of each representation after flattening and subsampling.
    ln_sin2 : ndarray, shape (n_layers,)
        ln sin²θ between the two inputs ``pair`` (natural log, dimensionless); ``-inf`` for
        parallel representations, NaN where one of them is all zero or the row is unsupported.
    metrics : mapping of str to ndarray, shape (n_layers,)
        One array per name in :data:`METRICS`: the effective-dimension panel of the m inputs
        (``rank``, ``numerical_rank`` at ``tolerance``, ``erank``, ``erank_centered``,
        ``participation_ratio``, ``stable_rank``, ``mean_cosine``, ``active_fraction``,
        ``mask_rank``) and ``dead_fraction``, the fraction of units inactive for all m inputs.
        "Active" means output > 0 (for ReLU and leaky ReLU: pre-activation > 0).
        ``erank_centered`` is NaN where the batch-centered representations are zero within
        rounding (all m inputs are the same point there): the entropy of rounding errors is not
        a measurement.
    status : tuple of str
        ``"ok"``, ``"unsupported: <reason>"`` (a non-tensor output, a batch dimension that is
        not m) or ``"non-finite: ..."`` (the output holds NaN or ±inf); such rows hold NaN.
    theory : TheoryOverlay
        The predicted band per row, ``"covered"`` or ``"not covered: <reason>"``.
    n_inputs : int
        m, the batch size.
    pair : tuple of int
        Rows of the batch whose angle is ``ln_sin2``.
    tolerance : float
        Relative tolerance τ of the numerical rank.
    dtype, device : str
        The model's parameter dtype and device.
    mode : str
        ``"eval"``, ``"train"`` or ``"keep"``: the mode the forward pass ran in.
    subsample : mapping
        ``max_features``, ``channels``, ``positions``, ``channel_dim`` as given.
    seed : int or None
        Entropy of the root ``SeedSequence`` of the subsampling streams (None when a Generator
        was passed).
    nonfinite : tuple of bool
        Per layer: True where the output held NaN or ±inf (a diverged training run, a NaN
        input): its metrics and ln sin²θ are NaN. :func:`~depthscope.probing.probe` then warns
        once (:class:`depthscope.DepthscopeWarning`) instead of failing.
    notes : tuple of str
        Messages about the probe as a whole: the default selection found fewer than two
        modules to probe in a larger model (:func:`~depthscope.probing.probe` warns them too).
    across : str
        ``"samples"`` (rows are the batch's inputs) or ``"tokens"`` (rows are the tokens of one
        sequence; then ``n_inputs`` is T and ``pair`` two tokens).
    """

    layers: tuple[str, ...]
    module_types: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    n_features: NDArray[np.int64]
    ln_sin2: NDArray[np.float64]
    metrics: Mapping[str, NDArray[np.float64]]
    status: tuple[str, ...]
    theory: TheoryOverlay
    n_inputs: int
    pair: tuple[int, int]
    tolerance: float
    dtype: str
    device: str
    mode: str
    subsample: Mapping[str, int | None] = field(default_factory=dict)
    seed: int | None = None
    nonfinite: tuple[bool, ...] = ()
    notes: tuple[str, ...] = ()
    across: str = "samples"

    def __post_init__(self) -> None:
        if not self.nonfinite:  # a result made without the flags: no layer is flagged
            object.__setattr__(self, "nonfinite", (False,) * len(self.layers))

    def __len__(self) -> int:
        return len(self.layers)

    def columns(self) -> dict[str, list[Any]]:
        """Return the per-layer table as columns: name → one value per layer (Python scalars).

        The columns of :meth:`records`, in the same order; non-finite numbers are kept as
        floats (NaN, -inf).
        """
        theory = self.theory
        return {
            "layer": list(self.layers),
            "index": list(range(len(self.layers))),
            "module": list(self.module_types),
            "shape": ["x".join(map(str, shape)) for shape in self.shapes],
            "n_features": np.asarray(self.n_features).tolist(),
            "status": list(self.status),
            "nonfinite": list(self.nonfinite),
            "ln_sin2": _floats(self.ln_sin2),
            **{name: _floats(self.metrics[name]) for name in METRICS},
            "theory_status": list(theory.status),
            "theory_mean": _floats(theory.mean),
            "theory_sd": _floats(theory.sd),
            "theory_low": _floats(theory.low),
            "theory_high": _floats(theory.high),
            "theory_inside": list(theory.inside),
        }

    def records(self) -> list[dict[str, Any]]:
        """One flat dictionary per layer (the rows of the CSV table and of :meth:`to_frame`).

        Non-finite numbers are kept as floats (NaN, -inf); :meth:`to_dict` makes them JSON-safe.
        """
        columns = self.columns()
        rows = zip(*columns.values(), strict=True)
        return [dict(zip(columns, values, strict=True)) for values in rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: per-layer lists of every metric, the overlay and the settings.

        ``"notes"`` and ``"across"`` appear when there are notes or in token mode; every stack
        lists the init it assumed, one beyond the paper's network also its network, method and
        band.

        Strict JSON: NaN and ±inf become None (JSON has neither). A None that stands for ±inf
        is listed in ``"infinite"`` (``{"field": "ln_sin2", "layer": "input", "value": "-inf"}``:
        ln sin²θ = −∞ for parallel or antipodal representations); any other None is NaN, an
        undefined or missing value, and ``status`` / ``nonfinite`` say why.
        """
        infinite: list[dict[str, str]] = []

        def clean(
            values: Sequence[float] | NDArray[np.float64], name: str = ""
        ) -> list[float | None]:
            floats = _floats(values)
            for layer, v in zip(self.layers, floats, strict=True):
                if name and math.isinf(v):
                    infinite.append({"field": name, "layer": layer, "value": str(v)})
            return [v if math.isfinite(v) else None for v in floats]

        out = {
            "layers": list(self.layers),
            "module_types": list(self.module_types),
            "shapes": [list(s) for s in self.shapes],
            "n_features": [int(v) for v in self.n_features],
            "status": list(self.status),
            "nonfinite": list(self.nonfinite),
            "ln_sin2": clean(self.ln_sin2, "ln_sin2"),
            "metrics": {name: clean(self.metrics[name], name) for name in METRICS},
            "infinite": infinite,
            "theory": {
                "method": self.theory.method,
                "probabilities": list(PROBABILITIES),
                "status": list(self.theory.status),
                "mean": clean(self.theory.mean),
                "sd": clean(self.theory.sd),
                "low": clean(self.theory.low),
                "high": clean(self.theory.high),
                "inside": list(self.theory.inside),
                "stacks": [s.to_dict() for s in self.theory.stacks],
            },
            "n_inputs": self.n_inputs,
            "pair": list(self.pair),
            "tolerance": self.tolerance,
            "dtype": self.dtype,
            "device": self.device,
            "mode": self.mode,
            "subsample": dict(self.subsample),
            "seed": self.seed,
        }
        if self.notes:
            out["notes"] = list(self.notes)
        if self.across != "samples":
            out["across"] = self.across
        return out

    def to_frame(self) -> Any:
        """Return the per-layer table as a ``pandas.DataFrame`` indexed by layer name.

        Raises
        ------
        DepthscopeError
            If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise DepthscopeError("to_frame needs pandas: pip install pandas.") from None
        return pd.DataFrame.from_records(self.records(), index="layer")
