r"""
Beyond ReLU: other activations, biases and residual blocks
==========================================================

The paper's theory covers bias-free ReLU networks. At infinite width the angle between two
inputs follows a deterministic kernel map for any activation :math:`\varphi`, weight scale
:math:`\sigma_w` (weights :math:`\mathcal N(0, \sigma_w^2/n)`), bias scale
:math:`\sigma_b` and residual block :math:`h \leftarrow h + \alpha V \varphi(W h + b)`:
:func:`depthscope.predict` computes it with ``method="infinite"`` and the keywords
``activation``, ``weight_std``, ``bias_std`` and ``residual`` (the formulas are in
:doc:`/theory/kernel-maps`). The finite-width law of these networks is not implemented
yet; :func:`depthscope.simulate` measures it exactly where it can (ReLU and leaky ReLU, with
or without biases).
"""

# %%
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

import depthscope as ds

arch, theta0 = "256x30", 1.0
# label: keywords of ds.predict beyond the defaults (He weights, σ_w = √2)
configs: dict[str, dict[str, Any]] = {
    "ReLU": {"activation": "relu"},
    "leaky ReLU, slope 0.1": {"activation": "leaky:0.1"},
    "tanh, σ_w = 1": {"activation": "tanh", "weight_std": 1.0},
    "GELU": {"activation": "gelu"},
    "ReLU, σ_b = 0.5": {"activation": "relu", "bias_std": 0.5},
    "ReLU residual blocks, α = 0.5": {"activation": "relu", "residual": "block:0.5"},
}
infinite = {
    label: ds.predict(arch, theta0, method="infinite", **kw) for label, kw in configs.items()
}
for label, p in infinite.items():
    print(f"{label:>30}: ln sin²θ at layer 30 = {p.mean[-1]:7.3f}")

# %%
# Each curve is the infinite-width value of :math:`\ln\sin^2\theta_\ell`, with no spread
# (the kernel map is deterministic). ReLU-like activations lose the angle steadily, a bias
# makes it faster, a residual branch slows it down; tanh at :math:`\sigma_w = 1` moves the
# two inputs towards orthogonality instead.
layers = np.arange(len(infinite["ReLU"].mean))
fig, ax = plt.subplots(figsize=(7, 4.2))
for i, (label, p) in enumerate(infinite.items()):
    ax.plot(layers, p.mean, color=f"C{i}", label=label)
ax.set(xlabel="layer ℓ", ylabel="ln sin²θ_ℓ (infinite width)", title=f"the kernel map, {arch}")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# A finite-width check: :func:`depthscope.simulate` draws 1000 random networks of width 256
# for each configuration it supports today (``activation="relu"`` or ``"leaky:S"``,
# ``bias_std``; weights :math:`\mathcal N(0, 2/n)`, the default ``weight_std`` of
# :func:`depthscope.predict`). The simulated mean sits a little below the infinite-width
# curve: that gap is the finite-width effect, which the default predictor
# (``method="markov"``, dashed) captures for bias-free ReLU networks.
fig, ax = plt.subplots(figsize=(7, 4.2))
for label in ["ReLU", "leaky ReLU, slope 0.1", "ReLU, σ_b = 0.5"]:
    act, bias = configs[label]["activation"], configs[label].get("bias_std", 0.0)
    sim = ds.simulate(arch, theta0, n_networks=1000, rng=0, activation=act, bias_std=bias)
    assert sim.ln_sin2 is not None  # two inputs: an angle per layer and network
    x = np.where(np.isfinite(sim.ln_sin2), sim.ln_sin2, np.nan)  # dead/collapsed left out
    mean, sd = np.nanmean(x, axis=1), np.nanstd(x, axis=1)
    color = f"C{list(configs).index(label)}"
    ax.plot(layers, infinite[label].mean, color=color, label=f"{label}: infinite width")
    ax.errorbar(layers[::3], mean[::3], yerr=sd[::3], fmt="o", ms=3, color=color, alpha=0.7)
    print(
        f"{label:>22}: layer 30 simulated {mean[-1]:.3f} ± {sd[-1] / np.sqrt(1000):.3f} (SE), "
        f"infinite width {infinite[label].mean[-1]:.3f}"
    )
markov = ds.predict(arch, theta0)
ax.plot(layers, markov.mean, "k--", lw=1, label="ReLU: default predictor (finite width)")
ax.set(xlabel="layer ℓ", ylabel="ln sin²θ_ℓ", title="points: simulated mean ± sd, 1000 networks")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"ReLU, default predictor at layer 30: {markov.mean[-1]:.3f}")
