"""Generate ``src/depthscope/data/markov_table.npz``: the exact one-step law of the angle.

For two inputs at angle θ, the angle θ' one ReLU layer of width n later has a law that
depends only on (θ, n) (Jakub & Nica, arXiv:2302.09712; ``docs/theory/angle-theory.md`` §1):
with ξ, η iid N(0, I_n), X = ξ, Y = cos θ ξ + sin θ η, a = φ(X), b = φ(Y), Δ = b − a,

    θ' = atan2( sqrt(|a|²|Δ|² − (a·Δ)²), a·b ).

This script estimates, by Monte Carlo, the conditional mean and variance of u' = ln θ' on a
grid of θ and n, and stores

* ``A[i, k] = n_k (E[u' | θ_i, n_k] − ln θ_∞(θ_i))`` — the finite-width correction to the
  infinite-width map θ_∞ = arccos(2 J₁₁(θ)), scaled so it has a finite limit as n → ∞;
* ``B[i, k] = n_k Var[u' | θ_i, n_k]``;
* ``AX``, ``BX``: the same for X' = ln sin²θ' (against X_∞ = ln sin²θ_∞), from the same draws;
* their Monte Carlo standard errors ``A_se``, ``B_se``, ``AX_se``, ``BX_se``.

The predictor propagates the law of u (smooth near θ = π/2, where ln sin² is flat) and reads
the moments of X at each layer through AX, BX by the law of total variance.

The mean uses a regression control variate: the per-network sample means P = |a|²/n,
Q = |Δ|²/n, R = a·Δ/n have known expectations 1/2, 1 − 2J₁₁, J₁₁ − 1/2, and regressing u' on
them removes the O(1/√n) part of its fluctuation (standard error ≈ 2/√n times smaller).
Networks whose angle is undefined (a layer with every unit inactive for an input) or has
collapsed to exactly 0 (both inputs active on the same single unit) are excluded: the table
describes the live chain; both events have probability < 1e-8 per layer for n ≥ 30.

Reproducible: every (θ, n) node has its own stream, ``SeedSequence(SEED, spawn_key=(i, k))``
indexed by node, so results do not depend on the engine or the number of workers. The nodes run
through the sweep engine (:func:`depthscope.sweep.run_tasks`): serially (``--workers 0``), on a
local Dask cluster (``--workers N``, default: the cores) or on a running Dask scheduler
(``--scheduler tcp://host:8786``); Dask comes with ``pip install 'depthscope[sweep]'``.

Usage::

    python tools/make_markov_table.py --workers 2            # full table (≈ 15 min, 2 cores)
    python tools/make_markov_table.py --scheduler tcp://10.0.0.5:8786   # on a cluster
    python tools/make_markov_table.py --quick --workers 0 --out /tmp/t.npz  # smoke test
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from depthscope.cli._common import add_engine_arguments, engine_arguments
from depthscope.report._output import atomic_save_npz
from depthscope.sweep import open_client, run_tasks

SEED = 20261122
N_GRID = (
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    10,
    12,
    14,
    16,
    20,
    24,
    28,
    32,
    40,
    48,
    64,
    80,
    96,
    128,
    160,
    192,
    256,
    384,
    512,
    768,
    1024,
    1536,
    2048,
)
# θ nodes: the small-angle limit, log-spaced up to 1 rad, then uniform up to π.
THETA_GRID = np.unique(
    np.concatenate(
        [
            [1e-4],
            np.geomspace(1e-3, 1.0, 31),
            np.linspace(1.0, math.pi, 25)[1:],
        ]
    )
)
WORK_PER_NODE = 1.0e7  # samples × width per (θ, n) node
MIN_SAMPLES, MAX_SAMPLES = 5_000, 200_000


def one_minus_two_j11(theta: float) -> float:
    """1 − 2 J₁₁(θ) = (π(1 − cos θ) + θ cos θ − sin θ)/π without cancellation at small θ."""
    one_minus_cos = 2.0 * math.sin(theta / 2.0) ** 2
    if theta < 0.05:  # θ cos θ − sin θ = Σ_k (−1)^k θ^(2k+1) (1/(2k)! − 1/(2k+1)!), k ≥ 1
        tail = sum(
            (-1) ** k
            * theta ** (2 * k + 1)
            * (1 / math.factorial(2 * k) - 1 / math.factorial(2 * k + 1))
            for k in range(1, 8)
        )
    else:
        tail = theta * math.cos(theta) - math.sin(theta)
    return (math.pi * one_minus_cos + tail) / math.pi


def log_infinite_width_angle(theta: float) -> float:
    """ln θ_∞ with θ_∞ = arccos(2 J₁₁(θ)), computed as 2 arcsin(sqrt((1 − 2J₁₁)/2))."""
    return math.log(2.0 * math.asin(math.sqrt(one_minus_two_j11(theta) / 2.0)))


def samples_for(n: int) -> int:
    return int(min(MAX_SAMPLES, max(MIN_SAMPLES, WORK_PER_NODE / n)))


def _moments(
    values: np.ndarray, design: np.ndarray, use_cv: bool
) -> tuple[float, float, float, float]:
    """(mean, se_mean, var, se_var); the mean with the regression control variate if asked."""
    if use_cv:
        beta, *_ = np.linalg.lstsq(design, values, rcond=None)
        resid = values - design @ beta
        mean, se_mean = float(beta[0]), float(resid.std(ddof=4) / math.sqrt(len(values)))
    else:
        mean, se_mean = float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))
    centred = (values - values.mean()) ** 2
    var = float(centred.mean() * len(values) / (len(values) - 1))
    return mean, se_mean, var, float(centred.std(ddof=1) / math.sqrt(len(values)))


def one_node(args: tuple[int, int, float, int, int]) -> tuple[int, int, list[float], float]:
    """Simulate one (θ, n) node; return (i, k, moments of u' then of X', excluded fraction)."""
    i, k, theta, n, n_samples = args
    rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(i, k)))
    sin_t, one_minus_cos = math.sin(theta), 2.0 * math.sin(theta / 2.0) ** 2
    chunk = max(1, int(4e6 // n))
    logs, log_sin2, feats, excluded, done = [], [], [], 0, 0
    while done < n_samples:
        size = min(chunk, n_samples - done)
        xi = rng.standard_normal((size, n))
        eta = rng.standard_normal((size, n))
        delta_pre = sin_t * eta - one_minus_cos * xi  # Y − X without cancellation
        a = np.maximum(xi, 0.0)
        diff = np.maximum(xi + delta_pre, 0.0) - a
        p = np.einsum("ij,ij->i", a, a) / n
        q = np.einsum("ij,ij->i", diff, diff) / n
        r = np.einsum("ij,ij->i", a, diff) / n
        cross = np.sqrt(np.maximum(p * q - r * r, 0.0))
        ok = (p > 0) & (p + 2 * r + q > 0) & (cross > 0)
        excluded += int(size - ok.sum())
        logs.append(np.log(np.arctan2(cross[ok], (p + r)[ok])))
        log_sin2.append(2.0 * np.log(cross[ok]) - np.log(p[ok]) - np.log((p + 2 * r + q)[ok]))
        feats.append(np.column_stack([p[ok], q[ok], r[ok]]))
        done += size
    u = np.concatenate(logs)
    features = np.concatenate(feats)
    d = one_minus_two_j11(theta)
    design = np.column_stack([np.ones(len(u)), features - np.array([0.5, d, -d / 2.0])])
    use_cv = n >= 16  # below 16, dead units make the feature expectations conditional
    stats = [*_moments(u, design, use_cv), *_moments(np.concatenate(log_sin2), design, use_cv)]
    return i, k, stats, excluded / n_samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1]
        / "src"
        / "depthscope"
        / "data"
        / "markov_table.npz",
    )
    add_engine_arguments(parser, default="one worker per core")
    parser.add_argument("--quick", action="store_true", help="coarse grid, 1/20 of the samples")
    args = parser.parse_args(argv)

    thetas = THETA_GRID[::3] if args.quick else THETA_GRID
    widths = N_GRID
    scale = 0.05 if args.quick else 1.0
    jobs = [
        (i, k, float(t), n, max(1000, int(samples_for(n) * scale)))
        for i, t in enumerate(thetas)
        for k, n in enumerate(widths)
    ]
    jobs.sort(key=lambda job: -job[3] * job[4])  # longest first for load balance
    shape = (len(thetas), len(widths))
    stats = np.zeros((8, *shape))
    excluded = np.zeros(shape)
    start = time.time()
    count = 0

    def store(key: str, result: tuple[int, int, list[float], float]) -> None:
        nonlocal count
        i, k, values, ex = result
        stats[:, i, k], excluded[i, k] = values, ex
        count += 1
        if count % 50 == 0 or count == len(jobs):
            print(f"{count}/{len(jobs)} nodes, {time.time() - start:.0f} s", file=sys.stderr)

    def fail(key: str, message: str) -> None:
        raise RuntimeError(f"node {key} failed: {message}")

    with open_client(**engine_arguments(args)) as client:
        tasks = {f"markov-node-{job[0]}-{job[1]}": (job,) for job in jobs}
        run_tasks(one_node, tasks, client=client, on_result=store, on_error=fail)
    n_arr = np.asarray(widths, dtype=np.float64)
    u_inf = np.array([log_infinite_width_angle(float(t)) for t in thetas])
    x_inf = 2.0 * np.log(np.sin(np.exp(u_inf)))
    mean, se_mean, var, se_var, mean_x, se_mean_x, var_x, se_var_x = stats
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_npz(
        args.out,
        dict(
            theta=thetas,
            n=n_arr,
            u_inf=u_inf,
            A=n_arr * (mean - u_inf[:, None]),
            A_se=n_arr * se_mean,
            B=n_arr * var,
            B_se=n_arr * se_var,
            AX=n_arr * (mean_x - x_inf[:, None]),
            AX_se=n_arr * se_mean_x,
            BX=n_arr * var_x,
            BX_se=n_arr * se_var_x,
            excluded_fraction=excluded,
            samples=np.array([samples_for(n) * scale for n in widths]),
            seed=np.array(SEED),
            quick=np.array(args.quick),
            generator=np.array("tools/make_markov_table.py"),
        ),
    )
    print(f"wrote {args.out} ({len(jobs)} nodes, {time.time() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
