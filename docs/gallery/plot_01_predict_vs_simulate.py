"""
Predicted law against simulation, layer by layer
================================================

:func:`depthscope.predict` gives the whole distribution of
:math:`X_\\ell = \\ln \\sin^2\\theta_\\ell` at every layer of a fully connected, bias-free
ReLU network with He-initialised Gaussian weights, from the architecture and the input angle
:math:`\\theta_0` alone. :func:`depthscope.simulate` draws random networks of the same
architecture exactly. Here the two are laid over each other for 20 layers of width 64,
starting from :math:`\\theta_0 = 0.5`.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import depthscope as ds

arch, theta0 = "64x20", 0.5
pred = ds.predict(arch, theta0)  # default method "markov": the one-step law, propagated
sim = ds.simulate(arch, theta0, n_networks=4000, rng=0)

print(pred.probabilities)  # the levels of pred.quantiles, per layer
print(f"layer 20: predicted mean {pred.mean[-1]:.3f}, sd {pred.sd[-1]:.3f}")

# %%
# The simulated angles per network are ``sim.ln_sin2`` (shape ``(L+1, networks)``, row 0 the
# inputs). An angle is undefined (NaN) where an input has no active unit left, and ``-inf``
# where the two representations became parallel; both are counted, not hidden
# (``sim.dead_fraction``, ``sim.collapsed_fraction``), and left out of the quantiles.
x = sim.ln_sin2
finite = np.isfinite(x)
print("dead or collapsed networks at the last layer:", int((~finite[-1]).sum()))
levels = np.array(pred.probabilities)
sim_q = np.array([np.quantile(row[ok], levels) for row, ok in zip(x, finite, strict=True)])

layers = np.arange(len(pred.mean))
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), width_ratios=(1.6, 1))
ax.fill_between(layers, pred.quantiles[:, 0], pred.quantiles[:, -1], color="C0", alpha=0.18,
                label="predicted 95% band")
ax.fill_between(layers, pred.quantiles[:, 1], pred.quantiles[:, 3], color="C0", alpha=0.35,
                label="predicted 50% band")
ax.plot(layers, pred.quantiles[:, 2], color="C0", label="predicted median")
for j, style in ((0, ":"), (1, "--"), (2, "-"), (3, "--"), (4, ":")):
    ax.plot(layers, sim_q[:, j], style, color="k", lw=1,
            label="simulated quantiles" if j == 2 else None)
ax.set(xlabel="layer ℓ", ylabel="ln sin²θ_ℓ", title=f"{arch}, θ₀ = {theta0}")
ax.legend(loc="lower left", fontsize=8)

# The law at the last layer: predicted density against the histogram of 4000 networks.
last = len(layers) - 1
grid = np.linspace(np.nanmin(x[last][finite[last]]), np.nanmax(x[last][finite[last]]), 300)
ax2.hist(x[last][finite[last]], bins=60, density=True, color="0.75", label="simulated")
ax2.plot(grid, pred.density(last, grid), color="C0", label="predicted density")
ax2.set(xlabel=f"ln sin²θ at layer {last}", ylabel="density", title="the last layer")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# The same comparison as numbers: the predicted CDF at the simulated quartiles should read
# close to 0.25, 0.5 and 0.75 if the law is right.
print(np.round(pred.cdf(last, sim_q[last, 1:4]), 3))
