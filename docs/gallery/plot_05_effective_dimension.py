"""
The effective-dimension panel of a batch
========================================

With ``inputs=m`` instead of an angle, :func:`depthscope.simulate` pushes a batch of m
Gaussian inputs through random ReLU networks and measures, at every layer, the
effective-dimension panel of the m × n activation matrix:

* ``rank`` — the rank as ``numpy.linalg.matrix_rank`` counts it; ``numerical_rank`` — the
  number of singular values above τ times the largest (τ = ``tolerance``, 1e-3 by default);
* ``erank`` and ``erank_centered`` — entropy effective rank :math:`\\exp(-\\sum_i p_i \\ln p_i)`,
  :math:`p_i = s_i / \\sum_j s_j` over the singular values, of the matrix and of its
  column-centered version;
* ``participation_ratio`` — :math:`(\\sum_i s_i^2)^2 / \\sum_i s_i^4`; ``stable_rank`` —
  :math:`\\sum_i s_i^2 / s_1^2`;
* ``mean_cosine`` — mean cosine similarity of the pairs of inputs;
* ``active_fraction`` and ``mask_rank`` — fraction of active units and the rank of the 0/1
  activation pattern (NaN at layer 0, the inputs).

The command line equivalent is ``depthscope simulate 256x20 --inputs 16 --networks 50``.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import depthscope as ds

res = ds.simulate("256x20", inputs=16, n_networks=50, rng=0)
layers = np.arange(res.depth + 1)
# res.panel[name] has one column per network; res.summary() gives the mean and sd over
# networks per layer (None where undefined, such as the activation pattern of the inputs).
summary = res.summary()
mean = {name: np.array(summary[name]["mean"], dtype=float) for name in res.panel}
for name, values in mean.items():
    print(f"{name:>20}: layer 0 {values[0]:7.3f}   layer 20 {values[-1]:7.3f}")

# %%
# The algebraic rank stays at m = 16 at every layer: nothing is lost exactly. What degenerates,
# monotonically, is the soft effective dimension, and the inputs become ever more aligned.
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for name in ("rank", "numerical_rank", "erank", "erank_centered", "participation_ratio",
             "stable_rank"):
    axes[0].plot(layers, mean[name], label=name)
axes[0].set(xlabel="layer ℓ", ylabel="dimension (of m = 16)", title="ranks")
axes[0].legend(fontsize=7)
axes[1].plot(layers, mean["mean_cosine"], color="C6")
axes[1].set(xlabel="layer ℓ", ylabel="mean pairwise cosine", title="alignment", ylim=(0, 1))
axes[2].plot(layers, mean["active_fraction"], color="C7", label="active fraction")
axes[2].plot(layers, mean["mask_rank"] / res.n_inputs, color="C8", label="mask rank / m")
axes[2].set(xlabel="layer ℓ", title="activation pattern", ylim=(0, 1.05))
axes[2].legend(fontsize=7)
fig.suptitle("256x20, 16 Gaussian inputs, 50 networks (mean over networks)")
fig.tight_layout()
plt.show()

# %%
# The spread over networks of the centered effective rank, a quantity the angle alone does
# not give:
q = np.nanquantile(res.panel["erank_centered"], [0.1, 0.5, 0.9], axis=1)
print("erank_centered at layer 20, 10/50/90 % over networks:", np.round(q[:, -1], 2))
