"""Generate ``src/depthscope/data/law_table.npz``: the one-step law of ln θ as quantiles.

For two live inputs at angle θ, one bias-free ReLU layer of width n with Gaussian He weights
gives θ' whose law depends only on (θ, n). With ξ, η iid N(0, I_n), X = ξ,
Y = cos θ ξ + sin θ η, a = relu(X), b = relu(Y) (Δ = b − a formed without cancellation):

* ``dead``      — a = 0 or b = 0 (an input has no active unit);
* ``collapsed`` — both live on the same single unit and nowhere else (θ' = 0 exactly);
* ``atom``      — both live with disjoint supports (θ' = π/2 exactly, X' = 0);
* otherwise θ' = atan2(sqrt(|a|²|Δ|² − (a·Δ)²), a·b) is continuous in (0, π/2).

The three atoms have closed forms (p = (π − θ)/(2π) = P(ξ > 0, Y > 0) = P(ξ ≤ 0, Y ≤ 0)):
P(dead) = 2·2⁻ⁿ − pⁿ, P(collapsed) = n pⁿ, P(atom) = (1 − p)ⁿ − 2·2⁻ⁿ + pⁿ; the table stores
the Monte Carlo estimates only as a check. The continuous part is stored, in the scaled variable
z = √n (ln θ' − ln θ_∞(θ)) (θ_∞ the infinite-width arc-cosine map), by its quantile function:
``knots[i, k, :]`` are z at the levels ``levels`` = (0, p₁, …, p_K, 1); the two end knots are
set so that a uniform law between them and the neighbouring quantile has the sample mean of the
tail beyond that quantile (the piecewise-linear quantile function then has the sample's tail
means). Below θ = 1e-8 the law of z no longer depends on θ (scale invariance).

Reproducible and resumable: node (θ, n) uses ``SeedSequence(SEED, spawn_key=(n, bits of θ))``
and is written to ``--cache/node_<n>_<bits>.npz``; a rerun skips nodes already there, so the
result depends neither on the number of workers, nor on interruptions, nor on the other nodes.

Usage::

    python tools/make_law_table.py --workers 2
    python tools/make_law_table.py --quick --out /tmp/law_quick.npz --cache /tmp/lawq
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SEED = 20261124
WIDTHS = (4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 32, 48, 64, 128, 256, 512)
THETAS = np.unique(
    np.concatenate(
        [
            np.geomspace(1e-8, 0.1, 22),
            np.linspace(0.1, math.pi / 2, 16),
            np.linspace(math.pi / 2, math.pi, 9),
            math.pi - np.geomspace(1e-4, 0.6, 20),
        ]
    )
)
_TAIL = np.array([1e-4, 3e-4, 1e-3, 3e-3, 6e-3, 1e-2])
LEVELS = np.concatenate([_TAIL, np.linspace(0.02, 0.98, 49), 1.0 - _TAIL[::-1]])
SAMPLES = 60_000
# Nodes in the scale-invariant regime (θ ≤ 1e-5) drive every deep chain's drift, and the
# predictor pools them: they get more draws (about 1.5e7 / n, at least SAMPLES, at most 5e5).
TINY_THETA, TINY_WORK, TINY_MAX = 1e-5 * (1 + 1e-9), 1.5e7, 500_000


def samples_for(theta: float, n: int, base: int) -> int:
    """Draws for node (θ, n): ``base``, or more in the scale-invariant regime."""
    if theta > TINY_THETA:
        return base
    return int(min(TINY_MAX, max(base, TINY_WORK / n * base / SAMPLES)))


MIN_CONTINUOUS = 400  # fewer continuous draws than this: the node's quantiles are filled later


def log_theta_inf(theta: float) -> float:
    """ln θ_∞, θ_∞ = arccos(2 J₁₁(θ)) = 2 arcsin(sqrt((1 − 2 J₁₁)/2)), no cancellation."""
    one_minus_cos = 2.0 * math.sin(theta / 2.0) ** 2
    if theta < 0.05:
        tail = sum(
            (-1) ** k
            * theta ** (2 * k + 1)
            * (1 / math.factorial(2 * k) - 1 / math.factorial(2 * k + 1))
            for k in range(1, 8)
        )
    else:
        tail = theta * math.cos(theta) - math.sin(theta)
    d = (math.pi * one_minus_cos + tail) / math.pi
    return math.log(2.0 * math.asin(math.sqrt(min(d / 2.0, 1.0))))


def node_key(theta: float, n: int) -> tuple[int, int]:
    """Spawn key of node (θ, n): the width and the bits of θ, so a node's stream does not
    depend on the rest of the grid (nodes can be added and the cache kept)."""
    return n, int(np.float64(theta).view(np.uint64))


def node_name(theta: float, n: int, samples: int) -> str:
    """Cache file of node (θ, n) simulated with ``samples`` draws."""
    return f"node_{n}_{np.float64(theta).view(np.uint64):016x}_{samples}.npz"


def one_node(job: tuple[int, int, float, int, int, str]) -> str:
    """Simulate node (θ, n); write its draws' summary to the cache; return the path."""
    _i, _k, theta, n, samples, cache = job
    path = Path(cache) / node_name(theta, n, samples)
    if path.exists():
        return str(path)
    rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=node_key(theta, n)))
    sin_t, one_minus_cos = math.sin(theta), 2.0 * math.sin(theta / 2.0) ** 2
    chunk = max(1, int(2e6 // n))
    logs, counts, done = [], np.zeros(3), 0
    while done < samples:
        size = min(chunk, samples - done)
        xi = rng.standard_normal((size, n))
        eta = rng.standard_normal((size, n))
        a = np.maximum(xi, 0.0)
        diff = np.maximum(xi + (sin_t * eta - one_minus_cos * xi), 0.0) - a
        b_on = (a + diff) > 0
        a_on = a > 0
        dead = ~a_on.any(axis=1) | ~b_on.any(axis=1)
        union = np.count_nonzero(a_on | b_on, axis=1)
        collapsed = ~dead & (union == 1)
        atom = ~dead & ~collapsed & ~(a_on & b_on).any(axis=1)
        live = ~(dead | collapsed | atom)
        p = np.einsum("ij,ij->i", a[live], a[live])
        q = np.einsum("ij,ij->i", diff[live], diff[live])
        r = np.einsum("ij,ij->i", a[live], diff[live])
        cross = np.sqrt(np.maximum(p * q - r * r, 0.0))
        logs.append(np.log(np.arctan2(cross, p + r)))
        counts += [dead.sum(), collapsed.sum(), atom.sum()]
        done += size
    u = np.concatenate(logs)
    u = u[np.isfinite(u)]
    z = math.sqrt(n) * (np.sort(u) - log_theta_inf(theta))
    knots = np.full(len(LEVELS) + 2, np.nan)
    if len(z) >= MIN_CONTINUOUS:
        q = np.quantile(z, LEVELS)
        lo_mean = z[z <= q[0]].mean() if (z <= q[0]).any() else q[0]
        hi_mean = z[z >= q[-1]].mean() if (z >= q[-1]).any() else q[-1]
        knots = np.concatenate([[2.0 * lo_mean - q[0]], q, [2.0 * hi_mean - q[-1]]])
        knots = np.maximum.accumulate(knots)
    np.savez(
        path,
        knots=knots,
        atoms=counts / samples,
        n_continuous=len(z),
        mean=z.mean() if len(z) else np.nan,
        var=z.var(ddof=1) if len(z) > 1 else np.nan,
    )
    return str(path)


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=root / "src/depthscope/data/law_table.npz")
    parser.add_argument("--cache", type=Path, default=root / "build/law_table_nodes")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="every 3rd θ, 1/8 of the draws")
    args = parser.parse_args(argv)
    thetas = THETAS if not args.quick else THETAS[::3]
    samples = SAMPLES if not args.quick else SAMPLES // 8
    args.cache.mkdir(parents=True, exist_ok=True)
    jobs = [
        (i, k, float(t), n, samples_for(float(t), n, samples), str(args.cache))
        for i, t in enumerate(thetas)
        for k, n in enumerate(WIDTHS)
    ]
    jobs.sort(key=lambda job: -job[3] * job[4])
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        for count, _ in enumerate(pool.map(one_node, jobs, chunksize=1), 1):
            if count % 50 == 0 or count == len(jobs):
                print(f"{count}/{len(jobs)} nodes, {time.time() - start:.0f} s", file=sys.stderr)
    shape = (len(thetas), len(WIDTHS))
    knots = np.zeros((*shape, len(LEVELS) + 2))
    atoms = np.zeros((*shape, 3))
    moments = np.zeros((*shape, 3))
    for i in range(shape[0]):
        for k in range(shape[1]):
            draws = samples_for(float(thetas[i]), WIDTHS[k], samples)
            with np.load(args.cache / node_name(float(thetas[i]), WIDTHS[k], draws)) as node:
                knots[i, k], atoms[i, k] = node["knots"], node["atoms"]
                moments[i, k] = node["n_continuous"], node["mean"], node["var"]
    # The continuous part has θ' < π/2, i.e. z < z_max(θ, n): clamp the top knots (the end knot
    # is extrapolated from the tail mean and can overshoot).
    z_max = np.sqrt(np.asarray(WIDTHS, dtype=np.float64))[None, :] * (
        math.log(math.pi / 2) - np.array([log_theta_inf(float(t)) for t in thetas])[:, None]
    )
    knots = np.minimum(knots, z_max[..., None])
    # Nodes near θ = π have (almost) no continuous part: carry the nearest lower θ's law.
    for i in range(1, shape[0]):
        empty = np.isnan(knots[i, :, 0])
        knots[i, empty] = knots[i - 1, empty]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        theta=thetas,
        n=np.asarray(WIDTHS, dtype=np.float64),
        levels=np.concatenate([[0.0], LEVELS, [1.0]]),
        knots=knots,  # float64: near θ = π the headroom z_max − z is far below float32's ulp
        atoms_mc=atoms.astype(np.float32),
        z_moments=moments,
        log_theta_inf=np.array([log_theta_inf(float(t)) for t in thetas]),
        samples=np.array(samples),
        node_samples=np.array(
            [[samples_for(float(t), n, samples) for n in WIDTHS] for t in thetas]
        ),
        seed=np.array(SEED),
        quick=np.array(args.quick),
        generator=np.array("tools/make_law_table.py"),
    )
    print(f"wrote {args.out} ({len(jobs)} nodes, {time.time() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
