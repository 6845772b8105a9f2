"""The infinite-width maps refuse quadrature grids that would exhaust memory, in one line.

SiLU at σ_w = 2 doubles its pre-activations' variance each layer; the trapezoid rule of its
kernel map grows with the sd, and by layer 50 asked for 40 GiB (the machine killed the process,
or a MemoryError was reported as float64 overflow). Now a grid above
``theory._activations.MAX_GRID_POINTS`` is a DepthscopeError naming the sd and the default
method; the limit is lowered here so that the tests stay small.
"""

from __future__ import annotations

import pytest

import depthscope as ds
from depthscope.theory import _activations


def test_infinite_map_refuses_an_oversized_grid(monkeypatch) -> None:
    monkeypatch.setattr(_activations, "MAX_GRID_POINTS", 200_000)
    with pytest.raises(ds.DepthscopeError) as caught:
        ds.predict([64] * 50, 1.0, method="infinite", activation="silu", weight_std=2.0)
    message = str(caught.value)
    assert "grid points" in message and "default method" in message
    assert "float64" not in message  # not an overflow: the norms are in range


def test_infinite_map_below_the_limit_still_runs(monkeypatch) -> None:
    """Control: the same network's first layers fit under the same limit and are finite."""
    monkeypatch.setattr(_activations, "MAX_GRID_POINTS", 200_000)
    p = ds.predict([64] * 3, 1.0, method="infinite", activation="silu", weight_std=2.0)
    assert all(abs(m) < 10 for m in p.mean)


def test_infinite_map_limit_is_one_cli_line(refused, monkeypatch) -> None:
    monkeypatch.setattr(_activations, "MAX_GRID_POINTS", 200_000)
    argv = ["predict", "64x50", "--theta0", "1", "--activation", "silu", "--weight-std", "2"]
    line = refused([*argv, "--method", "infinite"])
    assert "grid points" in line
