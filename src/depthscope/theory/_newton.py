"""Safeguarded Newton for increasing functions, elementwise (the closures' quantile solver)."""

from __future__ import annotations

import numpy as np

__all__ = ["solve_increasing"]

_TINY = 1e-300


def solve_increasing(excess_and_slope, lo, hi, start, iterations=200):
    """Root of increasing functions, elementwise: Newton's method kept inside a bisection bracket.

    Parameters
    ----------
    excess_and_slope : callable
        x ↦ (f(x), f'(x)) elementwise, f increasing; the root is where f = 0.
    lo, hi, start : ndarray
        Bracket (f(lo) ≤ 0 ≤ f(hi); lo = hi pins an element) and first guess, broadcast.
    """
    lo, hi, start = np.broadcast_arrays(np.asarray(lo, dtype=np.float64), hi, start)
    x = np.clip(start, lo, hi)
    for _ in range(iterations):
        e, slope = excess_and_slope(x)
        lo, hi = np.where(e < 0, x, lo), np.where(e > 0, x, hi)
        newton = x - e / np.maximum(slope, _TINY)
        x_new = np.where((newton >= lo) & (newton <= hi), newton, 0.5 * (lo + hi))
        done = np.abs(x_new - x) <= 1e-11 * (1.0 + np.abs(x))
        x = x_new
        if done.all():
            break
    return x
