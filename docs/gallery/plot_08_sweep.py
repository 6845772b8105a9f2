r"""
A sweep: where does the predictor match simulation?
===================================================

``depthscope sweep SPEC --out DIR`` runs a grid of cells, each an exact Monte Carlo
(:func:`depthscope.simulate`) and a prediction (:func:`depthscope.predict`) compared at
every layer, serially or on a Dask cluster (:doc:`/sweep`). Its Python entry point is
``depthscope.sweep``: ``parse_spec`` checks a spec given as a dictionary (the same keys as the
YAML file) and ``run_sweep`` computes it into a folder. Here a small grid runs serially
(``workers=0``, no Dask): widths 8 to 64, depth 10, four input angles, the default predictor
(``markov``) beside the previous one (``lattice``), 2000 networks per cell.
"""

# %%
import csv
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from depthscope.sweep import parse_spec, run_sweep

spec = parse_spec(
    {
        "architectures": ["8x10", "16x10", "32x10", "64x10"],
        "theta0": [0.25, 0.5, 1.0, 1.5],
        "method": ["markov", "lattice"],
        "networks": 2000,
        "seed": 11,
    }
)
print(len(spec.cells()), "cells; varying:", spec.varying())

out = Path(tempfile.mkdtemp()) / "sweep"
summary = run_sweep(spec, out, workers=0, quiet=True)  # = depthscope sweep ... --workers 0
print(f"computed {summary.computed} of {summary.total} cells, {summary.failed} failed")
print(sorted(p.name for p in out.iterdir()))
report = (out / "report.md").read_text()

# %%
# A second run with the same spec and folder resumes: every finished cell is read back from
# ``cells.jsonl``, nothing is computed again (this is how an interrupted sweep continues).
again = run_sweep(spec, out, workers=0, quiet=True)
print(f"second run: {again.reused} reused, {again.computed} computed")

# %%
# ``results.csv`` has one row per cell at the last layer: the simulated and predicted mean
# and sd, their differences, and the Kolmogorov-Smirnov distance ``ks`` between the
# predicted CDF and the simulated sample (:doc:`/outputs`). A cell *fails* when ``ks``
# exceeds the 1 % critical value :math:`1.628/\sqrt{n}`, n the networks with a finite angle.
with open(out / "results.csv", newline="") as f:
    rows = list(csv.DictReader(f))
print(", ".join(list(rows[0])[:12]), ", ...")
widths = [8, 16, 32, 64]


def cells(method, theta0):
    """Return the rows of one method and one input angle, in order of width."""
    return [r for r in rows if r["method"] == method and float(r["theta0"]) == theta0]


fig, ax = plt.subplots(figsize=(7, 4.2))
for i, theta0 in enumerate(spec.axes["theta0"]):
    ax.plot(
        widths,
        [float(r["ks"]) for r in cells("markov", theta0)],
        "o-",
        color=f"C{i}",
        label=f"θ₀ = {theta0}",
    )
    ax.plot(widths, [float(r["ks"]) for r in cells("lattice", theta0)], "s--", color=f"C{i}")
critical = [1.628 / np.sqrt(float(r["mc_used"])) for r in cells("markov", 1.0)]
ax.plot(widths, critical, ":", color="k", label="1% critical value (θ₀ = 1)")
ax.set(
    yscale="log",
    xlabel="width (depth 10)",
    ylabel="KS distance, last layer",
    title="markov (solid) against lattice (dashed)",
)
ax.set_xscale("log", base=2)
ax.set_xticks(widths, [str(w) for w in widths])
ax.minorticks_off()
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# ``layers.npz`` keeps every layer of every cell, keyed ``"<cell key>.<quantity>"``: here the
# narrowest cell from θ₀ = 1, where 8-unit layers lose networks to dead or collapsed angles.
layers = np.load(out / "layers.npz")
fig, ax = plt.subplots(figsize=(7, 4.2))
for method, style in (("markov", "-"), ("lattice", "--")):
    key = cells(method, 1.0)[0]["key"]  # the first width: 8x10
    ax.plot(layers[f"{key}.pred_mean"], style, label=f"predicted mean, {method}")
ax.plot(layers[f"{key}.mc_mean"], "ko", ms=4, label="simulated mean")
ax.set(xlabel="layer ℓ", ylabel="ln sin²θ_ℓ", title="8x10, θ₀ = 1, per layer")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# The sweep's own summary in ``report.md``, in plain words: how many cells pass, and the worst
# cells (the folder also holds the figure ``errors.png``, ``manifest.json`` and the checked
# ``spec.json``).
in_short = report.split("## In short")[1].split("## Worst cells")[0].strip()
worst = report.split("## Worst cells")[1].strip().splitlines()[:7]
print(in_short, "", "Worst cells:", *worst, sep="\n")
