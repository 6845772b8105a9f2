"""Type aliases shared across depthscope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ArrayLike", "Convention", "FloatArray", "Method", "RNGLike", "Widths"]

FloatArray: TypeAlias = NDArray[np.float64]
RNGLike: TypeAlias = "np.random.Generator | int | None"
Widths: TypeAlias = "str | Sequence[int]"
Convention: TypeAlias = Literal["exact", "paper"]
Method: TypeAlias = Literal["markov", "infinite", "mean", "approx1", "approx2"]
