"""Probe PyTorch models layer by layer, at initialization and during training.

``probe(model, x)`` measures ln sin²θ of two inputs and the effective-dimension panel of the
batch at every activation module, beside the theory's predicted band where the model is a
bias-free Linear+ReLU stack; :class:`TrainingMonitor` repeats it every k steps of a training
loop and logs the result. Importing this package does not import torch; calling into it does
(install the ``torch`` extra).
"""

from __future__ import annotations

from ._load import load_model as load_model
from ._monitor import TrainingMonitor as TrainingMonitor
from ._monitor import lightning_callback as lightning_callback
from ._plot import plot_probe as plot_probe
from ._probe import probe as probe
from ._result import METRICS as METRICS
from ._result import ProbeResult as ProbeResult
from ._theory import Stack as Stack
from ._theory import TheoryOverlay as TheoryOverlay

__all__ = [
    "METRICS",
    "ProbeResult",
    "Stack",
    "TheoryOverlay",
    "TrainingMonitor",
    "lightning_callback",
    "load_model",
    "plot_probe",
    "probe",
]
