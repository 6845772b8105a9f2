"""
The J functions and Theorem 1's μ and σ²
========================================

For a ReLU :math:`\\varphi` and standard normals :math:`X, Y` with correlation
:math:`\\cos\\theta`, the mixed moments

.. math::

   J_{a,b}(\\theta) = \\mathbb{E}\\left[\\varphi(X)^a\\, \\varphi(Y)^b\\right]

(:func:`depthscope.J`, with :math:`\\varphi^0` the indicator :math:`1\\{x > 0\\}`) are all the
theory needs. The infinite-width rule is :math:`\\cos\\theta_\\infty = 2J_{1,1}(\\theta)`
(:func:`depthscope.infinite_width_map`); Theorem 1 of Jakub & Nica gives the mean
:math:`\\mu(\\theta, n)` and variance :math:`\\sigma^2(\\theta, n)` of
:math:`\\ln\\sin^2\\theta_{\\ell+1}` given :math:`\\theta_\\ell = \\theta` after one layer of
width :math:`n`, to :math:`O(n^{-2})` (:func:`depthscope.mu`, :func:`depthscope.sigma2`).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import depthscope as ds

theta = np.linspace(0, np.pi, 400)
fig, ax = plt.subplots(figsize=(6, 3.8))
for a, b in [(0, 0), (1, 1), (2, 2), (3, 1), (2, 0)]:
    ax.plot(theta, ds.J(a, b, theta), label=f"J_{{{a},{b}}}")
ax.set(xlabel="θ", ylabel="J_{a,b}(θ)", title="mixed moments of the ReLU", yscale="log",
       ylim=(1e-4, 2))
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# Closed forms: :math:`J_{0,0}(\theta) = (\pi - \theta)/(2\pi)` and
# :math:`J_{1,1}(\theta) = (\sin\theta + (\pi - \theta)\cos\theta)/(2\pi)`.
print(np.allclose(ds.J(0, 0, theta), (np.pi - theta) / (2 * np.pi)))
print(np.allclose(ds.J(1, 1, theta), (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)))

# %%
# Theorem 1 against one simulated layer: the mean drop
# :math:`\mu(\theta, n) - \ln\sin^2\theta` and the variance :math:`\sigma^2(\theta, n)`,
# with the infinite-width drop for comparison, at width 16 and 64. The points are 4000
# one-layer networks each (:func:`depthscope.simulate` with one hidden layer).
theta = np.linspace(0.05, np.pi - 0.05, 200)
checks = np.linspace(0.2, 2.9, 7)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for i, n in enumerate([16, 64]):
    color = f"C{i}"
    drop = ds.mu(theta, n) - np.log(np.sin(theta) ** 2)
    axes[0].plot(theta, drop, color=color, label=f"μ − ln sin²θ, n = {n}")
    axes[1].plot(theta, ds.sigma2(theta, n), color=color, label=f"σ², n = {n}")
    for t in checks:
        x = ds.simulate([n], t, n_networks=4000, rng=int(1000 * t) + n).ln_sin2[1]
        x = x[np.isfinite(x)]
        axes[0].plot(t, x.mean() - np.log(np.sin(t) ** 2), "o", color=color, ms=4)
        axes[1].plot(t, x.var(ddof=1), "o", color=color, ms=4)
infinite = np.log(np.sin(ds.infinite_width_map(theta)) ** 2) - np.log(np.sin(theta) ** 2)
axes[0].plot(theta, infinite, "k--", label="infinite width")
axes[0].set(xlabel="θ_ℓ", ylabel="change of ln sin²θ in one layer", title="Theorem 1: mean")
axes[1].set(xlabel="θ_ℓ", ylabel="variance of ln sin²θ_{ℓ+1}", title="Theorem 1: variance")
axes[0].legend(fontsize=7)
axes[1].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %%
# As :math:`\theta \to 0` the mean change per layer tends to :math:`-\rho(n)`, Corollary 2's
# drift (:func:`depthscope.rho`), :math:`\rho(n) = 2/n + 100/n^2 + O(n^{-3})`:
for n in (16, 64, 256):
    drop = float(ds.mu(1e-6, n) - np.log(np.sin(1e-6) ** 2))
    print(f"n = {n:4d}: mu - ln sin²θ at θ = 1e-6: {drop:.5f};  rho = {float(ds.rho(n)):.5f};"
          f"  2/n + 100/n² = {2 / n + 100 / n**2:.5f}")
