"""Backends of :func:`depthscope.simulate`: each runs one chunk of networks of a plan.

A backend is opened with :func:`open_backend`-like functions ``(plan, device) -> (run_chunk,
device_name)``; ``run_chunk(plan, root, start, stop)`` simulates networks ``start..stop-1`` from
the root ``SeedSequence`` and returns ``(values, dead)``: a dict of (L+1, stop − start) arrays
(``ln_sin2`` for two inputs, the panel for a batch) and the dead mask of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = ["ChunkResult", "RunChunk"]

ChunkResult: TypeAlias = tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]]
RunChunk: TypeAlias = Callable[[Any, np.random.SeedSequence, int, int], ChunkResult]
