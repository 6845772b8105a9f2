"""The outputs of a sweep: ``results.csv``, ``layers.npz``, ``report.md`` and the error figure.

Rendering only: these functions take the spec and the finished records and return text,
arrays or a figure; :mod:`._run` writes them through :mod:`depthscope.report._output`.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..report._markdown import table
from ..report._plot import new_figure, styled
from ._cells import LAYER_FIELDS, Cell, summarize
from ._spec import AXES, SweepSpec

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["COLUMNS", "error_figure", "layers_arrays", "markdown_report", "results_csv", "rows"]

#: Columns of ``results.csv``.
COLUMNS = (
    "key",
    *AXES,
    "networks",
    "seed",
    "status",
    "mc_mean",
    "mc_sd",
    "mc_dead",
    "mc_collapsed",
    "mc_used",
    "pred_mean",
    "pred_sd",
    "error_mean",
    "error_sd",
    "ks",
    "warnings",
)
#: Asymptotic critical value of the one-sample KS distance at level 1 %: c/√n (Kolmogorov).
KS_CRITICAL_1PC = 1.628


def rows(spec: SweepSpec, records: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one row per cell of the grid (grid order), failed or missing cells included."""
    out = []
    for cell in spec.cells():
        record = records.get(cell.key)
        row: dict[str, Any] = {"key": cell.key, **cell.parameters(), "seed": spec.seed}
        row["status"] = "missing" if record is None else record["status"]
        if record is not None and record["status"] == "ok":
            row |= summarize(cell, record["result"])
        else:
            row["error"] = "not computed" if record is None else record["error"]
        out.append(row)
    return out


def results_csv(table_rows: Sequence[dict[str, Any]]) -> str:
    """Format the rows as CSV (floats exactly, by repr; an empty field where undefined)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in table_rows:
        writer.writerow([_field(row.get(name)) for name in COLUMNS])
    return buffer.getvalue()


def _field(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def layers_arrays(spec: SweepSpec, records: Mapping[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Return the per-layer arrays, ``KEY.FIELD`` for each finished cell, and ``keys``."""
    arrays: dict[str, np.ndarray] = {}
    keys = []
    for cell in spec.cells():
        record = records.get(cell.key)
        if record is None or record["status"] != "ok":
            continue
        keys.append(cell.key)
        for name in LAYER_FIELDS:
            arrays[f"{cell.key}.{name}"] = np.asarray(record["result"][name], dtype=np.float64)
    arrays["keys"] = np.asarray(keys, dtype=str)
    return arrays


def _critical(row: dict[str, Any]) -> float:
    return KS_CRITICAL_1PC / math.sqrt(row["mc_used"]) if row.get("mc_used") else math.nan


def markdown_report(
    spec: SweepSpec, table_rows: Sequence[dict[str, Any]], engine: str, duration_s: float
) -> str:
    """Write ``report.md``: what ran, the worst cells, where the predictor fails, failures."""
    done = [r for r in table_rows if r["status"] == "ok"]
    failed = [r for r in table_rows if r["status"] != "ok"]
    lines = [
        "# depthscope sweep",
        "",
        f"{len(table_rows)} cells ({' × '.join(str(len(spec.axes[a])) for a in AXES)} over "
        f"{', '.join(AXES)}), {spec.networks} networks each, seed {spec.seed}; "
        f"engine: {engine}; {duration_s:.1f} s.",
        "",
        "Each cell simulates the networks exactly (Monte Carlo) and compares ln sin²θ at the "
        "last layer with the predictor: `error_sd` = predicted sd − simulated sd, `ks` = the "
        "Kolmogorov-Smirnov distance between the predicted CDF and the simulated sample. A cell "
        f"*fails* when ks exceeds the 1 % critical value {KS_CRITICAL_1PC}/√n of the KS test "
        "(n = networks with a finite angle at the last layer).",
        "",
    ]
    if done:
        lines += _findings(done, spec)
    if failed:
        lines += ["## Cells that did not finish", ""]
        lines += [f"{len(failed)} cell(s) raised an error on every attempt:", ""]
        lines += table(
            ["key", "cell", "error"],
            [[r["key"], _label(r, list(AXES)), str(r["error"]).replace("|", "/")] for r in failed],
        )
        lines.append("")
    return "\n".join(lines) + "\n"


def _findings(done: list[dict[str, Any]], spec: SweepSpec) -> list[str]:
    axes = spec.varying()
    fails = [r for r in done if r["ks"] > _critical(r)]
    ks = np.array([r["ks"] for r in done], dtype=np.float64)
    lines = [
        "## In short",
        "",
        f"The predictor passes {len(done) - len(fails)} of {len(done)} cells; median KS distance "
        f"{np.nanmedian(ks):.3f}, largest {np.nanmax(ks):.3f}.",
    ]
    outside = [
        r
        for r in done
        if r["activation"] != "relu" or r["bias_std"] > 0 or r.get("residual", "none") != "none"
    ]
    if outside:
        lines.append(
            f"{len(outside)} cell(s) are networks beyond bias-free ReLU: the default method "
            "predicts them by its Gram-state closure, calibrated on a narrower domain than the "
            "ReLU law (docs/theory/general-predictor.md); `warnings` says which cells are outside."
        )
    warned = [r for r in done if r.get("warnings")]
    if warned:
        messages = sorted({m for r in warned for m in r["warnings"].split("; ")})
        shown = "; ".join(messages[:3]) + (
            f"; and {len(messages) - 3} more" if len(messages) > 3 else ""
        )
        lines.append(
            f"{len(warned)} cell(s) raised warnings (column `warnings` of results.csv): {shown}."
        )
    lines += ["", "## Worst cells", ""]
    worst = sorted(done, key=lambda r: -r["ks"] if math.isfinite(r["ks"]) else 0.0)[:10]
    lines += table(
        ["cell", "ks", "critical", "error_mean", "error_sd", "mc_dead"],
        [
            [
                _label(r, axes or list(AXES)),
                f"{r['ks']:.3f}",
                f"{_critical(r):.3f}",
                f"{r['error_mean']:+.3f}",
                f"{r['error_sd']:+.3f}",
                f"{r['mc_dead']:.3f}",
            ]
            for r in worst
        ],
    )
    lines += ["", "## Where the predictor fails", ""]
    for axis in axes:
        parts = []
        for value in spec.axes[axis]:  # in the spec's order
            group = [r for r in done if r[axis] == value]
            if not group:
                continue
            n_fail = sum(r["ks"] > _critical(r) for r in group)
            parts.append(f"{value}: {n_fail}/{len(group)} fail")
        lines.append(f"* by {axis}: " + "; ".join(parts) + ".")
    if not axes:
        lines.append("* one cell only: nothing varies.")
    return [*lines, ""]


def _label(row: Mapping[str, Any], axes: list[str]) -> str:
    return Cell(**{k: row[k] for k in (*AXES, "networks")}).label(axes)


@styled
def error_figure(spec: SweepSpec, table_rows: Sequence[dict[str, Any]]) -> Figure:
    """Draw the KS distance and the sd error of every cell.

    Two or more varying axes: heatmaps, rows along the first varying axis, columns along the
    others (crossed). Otherwise: an error map, one point per cell.
    """
    axes = spec.varying()
    fig = new_figure(figsize=(10, 4.2), layout="constrained")
    panels = fig.subplots(1, 2)
    quantities = (("ks", "KS distance", "viridis"), ("error_sd", "sd error (pred − MC)", "RdBu_r"))
    if len(axes) >= 2:
        row_values = list(spec.axes[axes[0]])
        col_values = list(itertools.product(*(spec.axes[a] for a in axes[1:])))
        index = {(r[axes[0]], tuple(r[a] for a in axes[1:])): r for r in table_rows}
        for ax, (name, title, cmap) in zip(panels, quantities, strict=True):
            grid = np.array(
                [[_value(index.get((rv, cv)), name) for cv in col_values] for rv in row_values]
            )
            limit = np.nanmax(np.abs(grid)) if np.isfinite(grid).any() else 1.0
            vmin = -limit if name == "error_sd" else 0.0
            image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=limit, aspect="auto")
            fig.colorbar(image, ax=ax, shrink=0.85)
            ax.set_yticks(range(len(row_values)), [_text(v) for v in row_values])
            ax.set_xticks(
                range(len(col_values)),
                [",".join(_text(v) for v in cv) for cv in col_values],
                rotation=60 if len(col_values) > 4 else 0,
            )
            ax.set_ylabel(axes[0])
            ax.set_xlabel(", ".join(axes[1:]))
            ax.set_title(title)
    else:
        labels = [
            Cell(**{k: r[k] for k in (*AXES, "networks")}).label(axes) or r["key"]
            for r in table_rows
        ]
        positions = np.arange(len(table_rows))
        for ax, (name, title, _) in zip(panels, quantities, strict=True):
            ax.plot(positions, [_value(r, name) for r in table_rows], "o-", color="#0072B2")
            if name == "error_sd":
                ax.axhline(0.0, color="#999999", linewidth=0.8)
            else:
                ax.plot(
                    positions,
                    [_critical(r) if r["status"] == "ok" else math.nan for r in table_rows],
                    "--",
                    color="#999999",
                    label="1 % critical value",
                )
                ax.legend()
            ax.set_xticks(positions, labels, rotation=60 if len(labels) > 4 else 0)
            ax.set_title(title)
    fig.suptitle(f"depthscope sweep: last layer, {spec.networks} networks per cell")
    return fig


def _value(row: Mapping[str, Any] | None, name: str) -> float:
    if row is None or row["status"] != "ok":
        return math.nan
    return float(row[name])


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
