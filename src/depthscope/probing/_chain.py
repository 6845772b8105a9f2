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
(:class:`depthscope.probing._trace.StackTracer`). Functional ReLUs (``torch.relu(x)`` in a
``forward``) are nodes of the graph but invisible to hooks: only the screen sees them.

The probe's reader goes beyond this rule (issue 16; :func:`trace_role`,
:func:`activation_spec`): Linear layers with or without bias, followed by any activation module
the theory has a law for (``ReLU``, ``LeakyReLU(slope)``, ``Tanh``, ``GELU(approximate='none')``,
``SiLU``), and residual blocks ``x + α·V φ(W x + b)``. :func:`role` keeps the screen's rule.
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
    "TraceRole",
    "activation_spec",
    "has_bias",
    "is_relu_function",
    "not_a_relu_after_linear",
    "role",
    "trace_role",
]

Role = Literal["Linear", "ReLU", "transparent", "other"]
LINEAR: Role = "Linear"
RELU: Role = "ReLU"
TRANSPARENT: Role = "transparent"
OTHER: Role = "other"

#: Roles of a module for the probe's reader (:func:`trace_role`).
TraceRole = Literal["Linear", "activation", "transparent", "other"]
ACTIVATION: TraceRole = "activation"

#: Why a probed layer is not covered (the probe's overlay names one per row).
RELU_AFTER_BIAS = "the Linear before this ReLU has a non-zero bias"
RELU_NOT_AFTER_LINEAR = "input of this ReLU is not the output of a bias-free Linear"
INPUT_NOT_COVERED = "no stack the theory covers starts at the input"


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


def activation_spec(torch: Any, module: Any) -> str | None:
    """Return the theory's name of an activation module (``"relu"``, ``"leaky:0.1"``, ...), or None.

    ``ReLU`` → ``"relu"``, ``LeakyReLU(s)`` → ``"leaky:s"``, ``Tanh`` → ``"tanh"``,
    ``GELU(approximate="none")`` → ``"gelu"`` (the exact erf form; the tanh approximation is
    not covered), ``SiLU`` → ``"silu"``: the names :func:`depthscope.predict` takes.
    """
    nn = torch.nn
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.LeakyReLU):
        return f"leaky:{float(module.negative_slope)!r}"
    if isinstance(module, nn.Tanh):
        return "tanh"
    if isinstance(module, nn.GELU) and getattr(module, "approximate", "none") == "none":
        return "gelu"
    if isinstance(module, nn.SiLU):
        return "silu"
    return None


def trace_role(torch: Any, module: Any, *, training: bool | None = None) -> TraceRole:
    """Role of ``module`` for the probe's reader: :func:`role` with every covered activation.

    ``"activation"`` for the modules :func:`activation_spec` names, else as :func:`role`
    (``"Linear"``, ``"transparent"`` or ``"other"``).
    """
    if activation_spec(torch, module) is not None:
        return ACTIVATION
    found = role(torch, module, training=training)
    if found == LINEAR:
        return "Linear"
    return "transparent" if found == TRANSPARENT else "other"
