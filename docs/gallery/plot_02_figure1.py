"""
Figure 1 of Jakub & Nica, in brief
==================================

Figure 1 of the paper follows the angle between two inputs at :math:`\\theta_0 = 0.1`
through 31 ReLU layers of width 256 and compares simulated networks with the infinite-width
rule and the paper's approximations. ``depthscope reproduce fig1`` does it in full (5000
networks, Kolmogorov-Smirnov tests, a report; see :doc:`/outputs`); this is the short version
with 1000 networks and every predictor of :func:`depthscope.predict`.

The predictors are ``infinite`` (the arc-cosine map
:math:`\\cos\\theta_{\\ell+1} = 2 J_{1,1}(\\theta_\\ell)`: no finite-width effect),
``mean`` (Theorem 1's :math:`\\mu` iterated: the paper's Algorithm 1), ``approx2`` (the
paper's Approximation 2) and ``markov`` (depthscope's default: the exact one-step law).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import depthscope as ds

widths, theta0 = [256] * 31, 0.1
sim = ds.simulate(widths, theta0, n_networks=1000, rng=2)
x = np.where(np.isfinite(sim.ln_sin2), sim.ln_sin2, np.nan)
mean = np.nanmean(x, axis=1)
se = np.nanstd(x, axis=1, ddof=1) / np.sqrt(np.sum(np.isfinite(x), axis=1))
layers = np.arange(len(widths) + 1)

methods = ["markov", "mean", "approx2", "infinite"]
preds = {m: ds.predict(widths, theta0, method=m) for m in methods}

fig, ax = plt.subplots(figsize=(6.5, 4.2))
ax.errorbar(layers, mean, yerr=1.96 * se, fmt="o", ms=3, color="k", label="simulated mean ± 1.96 SE")
for m, p in preds.items():
    ax.plot(layers, p.mean, label=m)
ax.set(xlabel="layer ℓ", ylabel="E ln sin²θ_ℓ", title="31 layers of width 256, θ₀ = 0.1")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# The mean hides most of the difference; the spread is where the predictors part. Theorem 1
# gives a variance too, but only the ``markov`` and ``approx2`` methods propagate a
# distribution, so only they have a density at layer 30.
last = 30
ok = np.isfinite(x[last])
grid = np.linspace(x[last][ok].min() - 0.5, x[last][ok].max() + 0.5, 300)
fig, ax2 = plt.subplots(figsize=(6.5, 4.2))
ax2.hist(x[last][ok], bins=40, density=True, color="0.8", label="simulated")
for m in ("markov", "approx2"):
    ax2.plot(grid, preds[m].density(last, grid), label=m)
ax2.axvline(preds["infinite"].mean[last], color="C3", ls="--", label="infinite width")
ax2.set(xlabel=f"ln sin²θ at layer {last}", ylabel="density")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# At layer 30, in units of the simulated standard error of the mean:
for m, p in preds.items():
    print(f"{m:>9}: predicted mean {p.mean[last]:7.3f}, "
          f"{(p.mean[last] - mean[last]) / se[last]:+6.1f} SE from the simulation")
