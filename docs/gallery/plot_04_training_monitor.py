"""
Probing a PyTorch MLP during training
=====================================

:func:`depthscope.probe` hooks every activation module of a PyTorch model and measures, per
layer, :math:`\\ln\\sin^2\\theta` between two inputs of a batch and the batch's
effective-dimension panel, beside the theory's predicted band wherever the model is a
bias-free Linear+ReLU stack. :class:`depthscope.TrainingMonitor` repeats the probe every
``every`` optimisation steps. Here a 64→64×5→10 MLP learns scikit-learn's bundled digits for
a few epochs.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits

import depthscope as ds

torch.manual_seed(0)
torch.set_num_threads(2)
data = load_digits()
x = (data.data - data.data.mean(0)) / (data.data.std(0) + 1e-8)
x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(data.target)
x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]

layers = []
fan_in = 64
for _ in range(5):  # bias-free, He-normal: the setting the theory covers
    linear = torch.nn.Linear(fan_in, 64, bias=False)
    torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
    layers += [linear, torch.nn.ReLU()]
    fan_in = 64
model = torch.nn.Sequential(*layers, torch.nn.Linear(fan_in, 10))

# %%
# At initialization, the measured angle should sit inside the predicted 95% band.
batch = x_test[:32]
at_init = ds.probe(model, batch, rng=0)
for name, value, low, high in zip(at_init.layers, at_init.ln_sin2, at_init.theory.low,
                                  at_init.theory.high, strict=True):
    print(f"{name:>5}  ln sin²θ = {value:7.3f}   predicted 95% band [{low:7.3f}, {high:7.3f}]")

# %%
# Train with a monitor that probes the same batch every 10 steps (and once before training).
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
with ds.TrainingMonitor(model, batch, every=10) as monitor:
    monitor.record(0)
    for _epoch in range(3):
        for idx in torch.randperm(len(x_train)).split(64):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            monitor.step()
model.eval()
with torch.no_grad():
    accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
print(f"{len(monitor.history)} probes; test accuracy {accuracy:.3f}")

# %%
# ``monitor.series(metric, layer)`` returns the steps and values of one metric at one layer.
# The angle and the centered effective rank of the activations (names as in
# ``ProbeResult.layers``: "1", "3", ... are the ReLU modules of the Sequential):
relus = [name for name in at_init.layers if name != "input"]
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for i, name in enumerate(relus):
    steps, values = monitor.series("ln_sin2", name)
    ax.plot(steps, values, color=f"C{i}", label=f"module {name}")
    steps, values = monitor.series("erank_centered", name)
    ax2.plot(steps, values, color=f"C{i}", label=f"module {name}")
ax.set(xlabel="training step", ylabel="ln sin²θ of inputs 0 and 1", title="the angle")
ax2.set(xlabel="training step", ylabel="centered entropy effective rank",
        title="effective dimension of 32 digits")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# The last probe against the theory band at initialization: training moves the deep layers
# out of the band the random network lives in.
final = monitor.history[-1][1]
depth = np.arange(len(final.layers))
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.fill_between(depth, final.theory.low, final.theory.high, alpha=0.25,
                label="predicted 95% band (initialization)")
ax.plot(depth, at_init.ln_sin2, "o-", label="measured at initialization")
ax.plot(depth, final.ln_sin2, "s-", label=f"measured after training (acc {accuracy:.2f})")
ax.set_xticks(depth, final.layers)
ax.set(xlabel="probed layer", ylabel="ln sin²θ")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
