"""The numpy backend of :func:`depthscope.simulate`: the samplers of :mod:`.._samplers`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._metrics import ln_sin2_rows
from .._plan import Plan, network_streams
from .._samplers import batch_chain, pair_chain
from . import ChunkResult, RunChunk

__all__ = ["numpy_backend"]


def numpy_backend(plan: Plan, device: Any) -> tuple[RunChunk, str]:
    """Return ``(run_chunk, "cpu")``: every sampler, on numpy generators (one per network)."""
    return run_chunk, "cpu"


def run_chunk(plan: Plan, root: np.random.SeedSequence, start: int, stop: int) -> ChunkResult:
    """Simulate networks ``start..stop-1`` of ``plan``; network j draws from child j of ``root``."""
    streams = network_streams(root, start, stop)
    options: dict[str, Any] = {
        "sampler": plan.sampler,
        "init": plan.init,
        "input_dim": plan.input_dim,
        "slope": plan.slope,
        "bias_std": plan.bias_std,
    }
    if plan.theta0 is not None:
        stats = pair_chain(plan.widths, plan.theta0, streams, network=plan.network, **options)
        ln_sin2, dead = ln_sin2_rows(stats, plan.theta0)
        return {"ln_sin2": ln_sin2}, dead
    return batch_chain(
        plan.widths,
        plan.inputs,
        streams,
        n_inputs=plan.n_inputs,
        tolerance=plan.tolerance,
        network=plan.network,
        **options,
    )
