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
and is written to ``--cache/node_<n>_<bits>_<draws>.npz`` (atomically, by the driving process,
as nodes finish); a rerun skips nodes already there, so the result depends neither on the
engine, nor on the number of workers, nor on interruptions, nor on the other nodes. The nodes
run through the sweep engine (:func:`depthscope.sweep.run_tasks`), with the flags of the long
commands: serially (``--workers 0`` or ``--serial``), on a local Dask cluster (``--workers N``,
default: the cores) or on a running Dask scheduler (``--scheduler tcp://host:8786``); Dask
comes with ``pip install 'depthscope[sweep]'``. ``--widths`` and ``--thetas`` restrict the grid
(a check of a few nodes against the shipped table; they need ``--out``).

Usage::

    python tools/make_law_table.py --workers 2            # src/depthscope/data/law_table.npz
    python tools/make_law_table.py --scheduler tcp://10.0.0.5:8786   # on a cluster
    python tools/make_law_table.py --quick --serial --out /tmp/law_quick.npz --cache /tmp/lawq
    python tools/make_law_table.py --serial --widths 4 --thetas 20:30 --out /tmp/w4.npz \
        --cache /tmp/w4                                    # ten shipped nodes, bit for bit
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from depthscope.cli._common import add_engine_arguments, engine_arguments, positive_int
from depthscope.report._output import atomic_save_npz
from depthscope.sweep import open_client, run_tasks
from depthscope.sweep._engine import ProgressLine

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


def node_summary(theta: float, n: int, samples: int) -> dict[str, Any]:
    """Simulate node (θ, n) with ``samples`` draws; return its summary (pure: no files).

    Keys: ``knots`` (z at the levels with the two end knots; NaN when fewer than
    ``MIN_CONTINUOUS`` draws are continuous), ``atoms`` (fractions dead, collapsed, atom),
    ``n_continuous``, ``mean`` and ``var`` of z.
    """
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
    return {
        "knots": knots,
        "atoms": counts / samples,
        "n_continuous": len(z),
        "mean": z.mean() if len(z) else np.nan,
        "var": z.var(ddof=1) if len(z) > 1 else np.nan,
    }


def _widths(text: str) -> tuple[int, ...]:
    """Argument type: comma-separated widths of the table's grid."""
    widths = tuple(positive_int(part) for part in text.split(","))
    unknown = [n for n in widths if n not in WIDTHS]
    if unknown:
        raise argparse.ArgumentTypeError(f"{unknown} not in the table's widths {WIDTHS}")
    return widths


def _index_slice(text: str) -> slice:
    """Argument type: ``START:STOP[:STEP]`` (or one index), indices into the θ grid."""
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return slice(int(parts[0]), int(parts[0]) + 1)
        if len(parts) in (2, 3):
            step = int(parts[2]) if len(parts) == 3 and parts[2] else None
            if step is not None and step < 1:
                raise ValueError
            return slice(*(int(part) if part else None for part in parts[:2]), step)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected START:STOP[:STEP] (θ indices), got {text!r}")


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    default_out = root / "src/depthscope/data/law_table.npz"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help=f"the table (default: {default_out})")
    parser.add_argument("--cache", type=Path, default=root / "build/law_table_nodes")
    add_engine_arguments(parser, default="the machine's cores")
    parser.add_argument("--quick", action="store_true", help="every 3rd θ, 1/8 of the draws")
    parser.add_argument("--widths", type=_widths, help="only these widths, e.g. 4,8 (needs --out)")
    parser.add_argument(
        "--thetas", type=_index_slice, help="only these θ nodes, START:STOP[:STEP] (needs --out)"
    )
    args = parser.parse_args(argv)
    if (args.widths or args.thetas) and args.out is None:
        parser.error("--widths and --thetas make a partial table: give --out")
    out = args.out if args.out is not None else default_out
    thetas = THETAS if not args.quick else THETAS[::3]
    if args.thetas is not None:
        thetas = thetas[args.thetas]
    widths = tuple(n for n in WIDTHS if n in args.widths) if args.widths else WIDTHS
    if not len(thetas):
        parser.error("--thetas selects no θ node")
    samples = SAMPLES if not args.quick else SAMPLES // 8
    args.cache.mkdir(parents=True, exist_ok=True)
    nodes = [(float(t), n, samples_for(float(t), n, samples)) for t in thetas for n in widths]
    todo = [node for node in nodes if not (args.cache / node_name(*node)).exists()]
    todo.sort(key=lambda node: -node[1] * node[2])  # longest first for load balance
    progress = ProgressLine("make_law_table", len(nodes), done=len(nodes) - len(todo))
    progress.say(f"{len(nodes)} nodes, {len(nodes) - len(todo)} cached in {args.cache}")
    failed: list[str] = []

    def store(key: str, summary: dict[str, Any]) -> None:
        atomic_save_npz(args.cache / f"{key}.npz", summary, compressed=False)
        progress.step()

    def fail(key: str, message: str) -> None:
        failed.append(f"{key}: {message}")
        progress.say(f"node {key} failed: {message}")

    start = time.time()
    with open_client(**engine_arguments(args)) as client:
        progress.restart()
        tasks = {node_name(*node).removesuffix(".npz"): node for node in todo}
        run_tasks(node_summary, tasks, client=client, on_result=store, on_error=fail)
    if failed:  # the other nodes are cached: a rerun computes only these
        raise SystemExit(f"{len(failed)} node(s) failed, no table written: {failed[0]}")
    shape = (len(thetas), len(widths))
    knots = np.zeros((*shape, len(LEVELS) + 2))
    atoms = np.zeros((*shape, 3))
    moments = np.zeros((*shape, 3))
    for i in range(shape[0]):
        for k in range(shape[1]):
            draws = samples_for(float(thetas[i]), widths[k], samples)
            with np.load(args.cache / node_name(float(thetas[i]), widths[k], draws)) as node:
                knots[i, k], atoms[i, k] = node["knots"], node["atoms"]
                moments[i, k] = node["n_continuous"], node["mean"], node["var"]
    # The continuous part has θ' < π/2, i.e. z < z_max(θ, n): clamp the top knots (the end knot
    # is extrapolated from the tail mean and can overshoot).
    z_max = np.sqrt(np.asarray(widths, dtype=np.float64))[None, :] * (
        math.log(math.pi / 2) - np.array([log_theta_inf(float(t)) for t in thetas])[:, None]
    )
    knots = np.minimum(knots, z_max[..., None])
    # Nodes near θ = π have (almost) no continuous part: carry the nearest lower θ's law.
    for i in range(1, shape[0]):
        empty = np.isnan(knots[i, :, 0])
        knots[i, empty] = knots[i - 1, empty]
    out.parent.mkdir(parents=True, exist_ok=True)
    table = {
        "theta": thetas,
        "n": np.asarray(widths, dtype=np.float64),
        "levels": np.concatenate([[0.0], LEVELS, [1.0]]),
        "knots": knots,  # float64: near θ = π the headroom z_max − z is far below float32's ulp
        "atoms_mc": atoms.astype(np.float32),
        "z_moments": moments,
        "log_theta_inf": np.array([log_theta_inf(float(t)) for t in thetas]),
        "samples": np.array(samples),
        "node_samples": np.array(
            [[samples_for(float(t), n, samples) for n in widths] for t in thetas]
        ),
        "seed": np.array(SEED),
        "quick": np.array(args.quick),
        "generator": np.array("tools/make_law_table.py"),
    }
    atomic_save_npz(out, table)
    progress.say(f"wrote {out} ({len(nodes)} nodes, {time.time() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
