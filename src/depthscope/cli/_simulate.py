"""``depthscope simulate``: Monte Carlo of random networks, a per-layer table or one JSON object."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from .._errors import DepthscopeError
from ..report._output import dumps_json, prepare_out_dir, write_manifest, write_outputs
from ..simulation._inputs import load_inputs
from ..simulation._plan import MemoryBudgetError
from ..simulation._simulate import SimulationResult, simulate
from ._common import (
    add_command,
    add_network_arguments,
    angle,
    command_line,
    mebibytes,
    network_arguments,
    nonneg_seed,
    positive_float,
    positive_int,
)

__all__ = ["register"]

_EXAMPLES = """\
examples:
  depthscope simulate 256x31 --theta0 0.1 --networks 5000 --seed 1
  depthscope simulate 64x20 --theta0 0.9 --networks 4000 --sampler dense \\
      --input-dim 64 --init orthogonal
  depthscope simulate 256x20 --inputs 16 --networks 50 --seed 0 --json
"""

_PANEL_COLUMNS = (
    ("rank", "rank"),
    ("numerical_rank", "nrank"),
    ("erank", "erank"),
    ("erank_centered", "erank_c"),
    ("participation_ratio", "PR"),
    ("stable_rank", "srank"),
    ("mean_cosine", "cos"),
    ("active_fraction", "active"),
    ("mask_rank", "mask_rk"),
)


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand."""
    parser = add_command(
        subparsers,
        "simulate",
        "simulate random networks: ln sin²θ per layer, or the effective-dimension panel",
        "Simulate random fully connected networks at initialization and report, per layer, "
        "the mean and sd over networks of ln sin²θ between two inputs (--theta0), or of the "
        "effective-dimension panel of a batch of inputs (--inputs, --inputs-file).",
        _EXAMPLES,
    )
    parser.add_argument(
        "architecture", metavar="ARCH", help="hidden widths, e.g. 256x31 or 512,256"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--theta0", type=angle, help="angle between two inputs (radians)")
    source.add_argument(
        "--inputs", type=positive_int, metavar="M", help="a batch of M Gaussian inputs"
    )
    source.add_argument("--inputs-file", metavar="F.npy", help="a fixed (m, n0) batch of inputs")
    parser.add_argument("--networks", type=positive_int, required=True, help="number of networks")
    parser.add_argument(
        "--seed", type=nonneg_seed, default=None, help="random seed (default: fresh)"
    )
    parser.add_argument("--sampler", choices=("gram", "dense"), default="gram")
    parser.add_argument(
        "--init", choices=("gaussian", "orthogonal", "truncated_normal"), default="gaussian"
    )
    add_network_arguments(parser, "the network (default: bias-free He ReLU)")
    parser.add_argument("--input-dim", type=positive_int, default=None, help="input dimension n0")
    parser.add_argument(
        "--tolerance",
        type=positive_float,
        default=1e-3,
        help="relative tolerance of the numerical rank",
    )
    parser.add_argument(
        "--memory-budget",
        type=mebibytes,
        default=None,
        metavar="MIB",
        help="working memory the simulation may use, in MiB (default 1024); chunks over networks",
    )
    parser.add_argument("--device", default="cpu", help="cpu (numpy), cuda, cuda:N or torch:cpu")
    parser.add_argument("--save", metavar="DIR", help="write per-network arrays and a manifest")
    parser.add_argument("--force", action="store_true", help="allow --save into a non-empty DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def _progress(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return None
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        if time.perf_counter() - started > 2.0 or done == total:
            end = "\n" if done == total else ""
            print(f"\rsimulate: {done}/{total} networks", end=end, file=sys.stderr, flush=True)

    return report


def _budget(mib: float | None) -> dict[str, int]:
    if mib is None:
        return {}
    if not math.isfinite(mib) or mib <= 0:
        raise DepthscopeError(f"--memory-budget must be a positive number of MiB, got {mib}.")
    return {"memory_budget": int(mib * 2**20)}


def _read_inputs(args: argparse.Namespace) -> Any:
    """Return the ``inputs`` of simulate: M Gaussian inputs, the --inputs-file array, or None."""
    if args.inputs_file is not None:
        return load_inputs(args.inputs_file)
    return args.inputs


def run(args: argparse.Namespace) -> int:
    """Run ``depthscope simulate`` with parsed arguments; return the exit status."""
    directory = prepare_out_dir(args.save, force=args.force) if args.save else None
    started = time.perf_counter()
    try:
        result = simulate(
            args.architecture,
            args.theta0,
            inputs=_read_inputs(args),
            n_networks=args.networks,
            rng=args.seed,
            sampler=args.sampler,
            init=args.init,
            **network_arguments(args),
            input_dim=args.input_dim,
            tolerance=args.tolerance,
            device=args.device,
            **_budget(args.memory_budget),
            progress=None if args.json else _progress(args.quiet),
        )
    except MemoryBudgetError as err:
        raise DepthscopeError(f"{err} On the command line: --memory-budget MIB.") from None
    duration = time.perf_counter() - started
    if directory is not None:
        save(result, directory, duration, command_line(args))
    if args.json:  # the summary's keys, and the configuration that reproduces it
        print(dumps_json({**result.summary(), "configuration": result.configuration()}))
    else:
        print(format_table(result))
    return 0


def save(result: SimulationResult, directory: Path, duration: float, command: list[str]) -> None:
    """Write ``arrays.npz`` (per-network arrays) and ``manifest.json`` into ``directory``."""
    arrays = result.arrays()
    write_outputs(directory, {"arrays.npz": arrays})
    write_manifest(
        directory,
        command=command,
        seed=result.seed,
        configuration=result.configuration(),
        duration_s=duration,
        files=["arrays.npz"],
        extra={
            "summary": result.summary(),
            "arrays": {name: list(arr.shape) for name, arr in arrays.items()},
        },
    )


def _cell(value: float | None, width: int, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return "-".rjust(width)
    return f"{value:{width}.{digits}f}"


def _setting(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_table(result: SimulationResult) -> str:
    """Format a readable per-layer table of the summary, with a header stating the configuration."""
    config = result.configuration()
    summary = result.summary()
    header = (
        f"# {config['architecture']}  networks={result.n_networks}  sampler={result.sampler}"
        f"  init={result.init}  activation={result.activation}  bias_std={result.bias_std:g}"
        + "".join(  # weight_std, q0, residual where they differ from their defaults
            f"  {key}={_setting(config[key])}"
            for key in ("weight_std", "q0", "residual")
            if key in config
        )
        + f"  seed={result.seed}"
    )
    lines = [header]
    if result.ln_sin2 is not None:
        lines[0] += f"  theta0={result.theta0:g}"
        lines.append("# ln sin²θ over networks with a defined, non-zero angle")
        lines.append(f"{'layer':>5} {'mean':>9} {'sd':>8} {'dead':>7} {'collapsed':>9}")
        for i in summary["layers"]:
            lines.append(
                f"{i:5d} {_cell(summary['mean'][i], 9, 4)} {_cell(summary['sd'][i], 8, 4)}"
                f" {_cell(summary['dead_fraction'][i], 7, 4)}"
                f" {_cell(summary['collapsed_fraction'][i], 9, 4)}"
            )
        return "\n".join(lines)
    lines[0] += f"  inputs={result.n_inputs}  input_dim={result.input_dim}"
    lines.append(f"# effective-dimension panel, mean over networks; tolerance={result.tolerance:g}")
    lines.append(f"{'layer':>5} " + " ".join(f"{label:>8}" for _, label in _PANEL_COLUMNS))
    for i in summary["layers"]:
        cells = " ".join(_cell(summary[name]["mean"][i], 8, 3) for name, _ in _PANEL_COLUMNS)
        lines.append(f"{i:5d} {cells}")
    return "\n".join(lines)
