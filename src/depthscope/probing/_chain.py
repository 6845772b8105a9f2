"""What the angle theory covers in a PyTorch model: the one rule both readers of a model apply.

A covered stack is a chain ``x → Linear → ReLU → Linear → ReLU → ...`` (the network of
Jakub & Nica, arXiv:2302.09712) in which

* every Linear has no bias, or an all-zero one (the theory is bias-free);
* each ReLU takes the very output of the Linear before it, and each later Linear the very
  output of the ReLU before it: no skip connection, branch, normalisation or other operation
  in between;
* modules that change no angle are transparent: ``Flatten`` and ``Identity`` always,
  ``Dropout`` in eval mode (an identity then).

Two readers apply this rule. The screen reads a module's ``torch.fx`` graph before any data
flows, as the network is at initialisation in eval mode
(:func:`depthscope._screen.architectures_from_module`); the probe follows tensors through
forward hooks during its own forward pass, in the mode it runs in
(:class:`depthscope.probing._theory.StackTracer`). Functional ReLUs (``torch.relu(x)`` in a
``forward``) are nodes of the graph but invisible to hooks: only the screen sees them.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = [
    "INPUT_NOT_COVERED",
    "LINEAR",
    "RELU",
    "RELU_AFTER_BIAS",
    "RELU_NOT_AFTER_LINEAR",
    "TRANSPARENT",
    "Role",
    "has_bias",
    "is_relu_function",
    "not_a_relu_after_linear",
    "role",
]

Role = Literal["Linear", "ReLU", "transparent", "other"]
LINEAR: Role = "Linear"
RELU: Role = "ReLU"
TRANSPARENT: Role = "transparent"
OTHER: Role = "other"

#: Why a probed layer is not covered (the probe's overlay names one per row).
RELU_AFTER_BIAS = "the Linear before this ReLU has a non-zero bias"
RELU_NOT_AFTER_LINEAR = "input of this ReLU is not the output of a bias-free Linear"
INPUT_NOT_COVERED = "no bias-free Linear+ReLU stack starts at the input"


def not_a_relu_after_linear(module_type: str) -> str:
    """Why a probed layer that is not a ReLU is not covered."""
    return f"{module_type} is not a ReLU after a Linear"


def role(torch: Any, module: Any, *, training: bool | None = None) -> Role:
    """Role of ``module`` in a chain: ``"Linear"``, ``"ReLU"``, ``"transparent"`` or ``"other"``.

    ``training`` is the mode to judge a Dropout in (default: the module's own mode).
    """
    nn = torch.nn
    if isinstance(module, nn.Linear):
        return LINEAR
    if isinstance(module, nn.ReLU):
        return RELU
    if isinstance(module, (nn.Flatten, nn.Identity)):
        return TRANSPARENT
    in_training = module.training if training is None else training
    if isinstance(module, nn.Dropout) and not in_training:
        return TRANSPARENT
    return OTHER


def is_relu_function(torch: Any, target: Any) -> bool:
    """Whether a functional call is a ReLU: ``torch.relu``, ``F.relu`` or ``Tensor.relu``."""
    return target in (torch.relu, torch.nn.functional.relu) or target == "relu"


def has_bias(linear: Any) -> bool:
    """Whether a Linear has a bias with a non-zero entry (an all-zero bias is no bias)."""
    bias = linear.bias
    return bias is not None and bool(bias.detach().any())
