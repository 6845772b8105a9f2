"""``depthscope probe``: measure a saved PyTorch model layer by layer on a batch of inputs."""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import math
import os
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DepthscopeError, DepthscopeWarning
from ..report._output import prepare_out_dir, write_manifest, write_outputs
from ._common import add_command, command_line, nonneg_seed, positive_float, positive_int

__all__ = ["register"]

_HELP = "measure a saved PyTorch model layer by layer (angle, effective dimension, theory)"
_DESCRIPTION = (
    "Run a batch of inputs through a saved PyTorch model and report, per activation "
    "layer, ln sin²θ between two inputs, the effective-dimension panel of the batch, "
    "and the theory's prediction where the model is a chain of Linear layers and activations "
    "(ReLU, LeakyReLU, Tanh, GELU, SiLU) or residual blocks x + α·V φ(W x + b)."
)

_EXAMPLES = """\
examples:
  depthscope probe --model model.pt --inputs batch.npy --out runs/probe
  depthscope probe --model weights.pt --arch 256x4,10 --inputs batch.npy --out runs/probe
  depthscope probe --model cnn.pt --inputs images.npy --out runs/cnn --max-features 4096

The model is a TorchScript file (torch.jit.script(model).save(FILE); an nn.Sequential is
probed inside) or a state_dict (torch.save(model.state_dict(), FILE)) of
nn.Sequential(Linear, ReLU, ..., Linear) with --arch giving the Linear widths. Pickled
modules are never loaded. Writes layers.csv, layers.json, probe.png, probe.svg and
manifest.json into --out.
"""

_COLUMNS = (
    ("ln_sin2", "ln_sin2"),
    ("theory_mean", "theory"),
    ("theory_sd", "sd"),
    ("numerical_rank", "nrank"),
    ("erank_centered", "erank_c"),
    ("mean_cosine", "cos"),
    ("dead_fraction", "dead"),
)


def register(subparsers: Any) -> None:
    """Add the ``probe`` subcommand."""
    parser = add_command(subparsers, "probe", _HELP, _DESCRIPTION, _EXAMPLES)
    parser.add_argument("--model", required=True, metavar="FILE", help="TorchScript or state_dict")
    parser.add_argument(
        "--inputs", required=True, metavar="FILE.npy", help="batch of m ≥ 2 inputs, shape (m, ...)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--arch", metavar="SPEC", help="Linear widths for a state_dict, e.g. 256x4,10"
    )
    parser.add_argument(
        "--final-relu", action="store_true", help="state_dict: a ReLU after the last Linear too"
    )
    parser.add_argument(
        "--layers",
        nargs="+",
        metavar="PATTERN",
        help="module name patterns to probe (fnmatch); default: every activation module",
    )
    parser.add_argument("--pair", nargs=2, type=int, default=(0, 1), metavar=("I", "J"))
    parser.add_argument("--tolerance", type=positive_float, default=1e-3, help="numerical-rank τ")
    parser.add_argument(
        "--max-features", type=positive_int, metavar="N", help="subsample coordinates"
    )
    parser.add_argument(
        "--channels", type=positive_int, metavar="C", help="subsample channels (≥3-D)"
    )
    parser.add_argument(
        "--positions", type=positive_int, metavar="P", help="subsample positions (≥3-D)"
    )
    parser.add_argument("--seed", type=nonneg_seed, default=0, help="seed of the subsampling")
    parser.add_argument("--no-theory", action="store_true", help="skip the theory overlay")
    parser.add_argument("--no-figure", action="store_true", help="skip probe.png / probe.svg")
    parser.add_argument("--force", action="store_true", help="write into a non-empty --out")
    parser.set_defaults(func=run)


def _load_inputs(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        missing = "is a directory, not a file" if os.path.isdir(path) else "does not exist"
        raise DepthscopeError(f"inputs file {path!r} {missing}.")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError, pickle.UnpicklingError) as err:
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        if "pickled" in reason:  # numpy's advice to unpickle is not ours to give
            reason = "it holds pickled Python objects, which depthscope never loads"
        raise DepthscopeError(
            f"{path!r} is not a numeric .npy array file (np.save): {reason}"
        ) from None
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise DepthscopeError(f"{path!r} must hold one numeric array (an .npy file), not a .npz.")
    if arr.dtype.kind == "c":
        raise DepthscopeError(
            f"{path!r} holds complex numbers ({arr.dtype}); the probe takes real inputs. Save "
            "the real part (or the modulus) yourself if that is what you mean."
        )
    if arr.dtype.kind not in "biuf":
        raise DepthscopeError(
            f"{path!r} holds {arr.dtype} values; need a real numeric array (bool, int, float)."
        )
    if arr.ndim < 2 or arr.shape[0] < 2:
        raise DepthscopeError(f"{path!r} has shape {arr.shape}; need (m, ...) with m ≥ 2 inputs.")
    return arr


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def format_table(records: list[dict[str, Any]], kinds: tuple[str, ...] = ()) -> str:
    """Render the per-layer records as a fixed-width table.

    ``kinds``: the overlay's per-row ``kind``; a covered row predicted by a line (no sd) reads
    ``line (no sd)`` instead of inside/OUTSIDE.
    """
    head = f"{'layer':<14} {'module':<10} {'n':>6} " + " ".join(
        f"{short:>8}" for _, short in _COLUMNS
    )
    lines = [head + "  theory"]
    for index, row in enumerate(records):
        cells = " ".join(f"{_format(row[key]):>8}" for key, _ in _COLUMNS)
        inside = {True: "inside", False: "OUTSIDE", None: "-"}[row["theory_inside"]]
        if index < len(kinds) and kinds[index] == "line":
            inside = "line (no sd)"
        verdict = inside if row["theory_status"] == "covered" else "not covered"
        if row.get("nonfinite"):
            verdict = "NON-FINITE (NaN/inf output)"
        lines.append(
            f"{row['layer'][:14]:<14} {row['module'][:10]:<10} {row['n_features']:>6} {cells}  "
            f"{verdict}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Execute ``depthscope probe``."""
    from ..probing._load import load_model
    from ..probing._probe import probe

    started = time.perf_counter()
    inputs = _load_inputs(args.inputs)
    model = load_model(args.model, arch=args.arch, final_relu=args.final_relu)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DepthscopeWarning)
        result = probe(
            model,
            inputs,
            args.layers,
            tolerance=args.tolerance,
            pair=tuple(args.pair),
            max_features=args.max_features,
            channels=args.channels,
            positions=args.positions,
            theory=not args.no_theory,
            rng=args.seed,
        )
    for warning in caught:  # one line each, like the errors
        if issubclass(warning.category, DepthscopeWarning):
            print(f"depthscope: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    out = prepare_out_dir(args.out, force=args.force)
    records = result.records()
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    files = write_outputs(out, {"layers.csv": table.getvalue(), "layers.json": result.to_dict()})
    if not args.no_figure:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise DepthscopeError(
                f"the table is written ({out / 'layers.csv'}); the figure needs matplotlib: "
                "pip install 'depthscope[plot]', or pass --no-figure."
            ) from None
        from ..probing._plot import plot_probe

        figure = plot_probe(result, [Path(args.model).name], title=f"depthscope probe {args.model}")
        files += write_outputs(out, {"probe": figure})
    write_manifest(
        out,
        command=command_line(args),
        seed=args.seed,
        configuration={
            "arch": args.arch,
            "final_relu": args.final_relu,
            "layers": args.layers,
            "pair": list(args.pair),
            "tolerance": args.tolerance,
            "subsample": dict(result.subsample),
            "theory": not args.no_theory,
            "mode": result.mode,
            "dtype": result.dtype,
        },
        duration_s=time.perf_counter() - started,
        files=files,
        extra={
            "model": {"path": os.path.abspath(args.model), "sha256": _sha256(args.model)},
            "inputs": {
                "path": os.path.abspath(args.inputs),
                "sha256": _sha256(args.inputs),
                "shape": list(inputs.shape),
                "dtype": str(inputs.dtype),
            },
        },
    )
    print(format_table(records, result.theory.kind))
    for stack in result.theory.stacks:
        if not stack.paper:
            print(f"# theory for {', '.join(stack.layers)}: {stack.activation}: {stack.init}")
    for note in result.notes:
        print(f"# note: {note}")
    print(f"# wrote {', '.join(files)}, manifest.json to {out}")
    return 0
