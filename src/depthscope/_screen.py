"""Screen architectures before training: predicted final angle, degeneracy depth, cost.

The screen ranks fully connected networks (by default bias-free He-initialised ReLU; the
keywords ``activation``, ``weight_std``, ``bias_std``, ``q0`` and ``residual`` select the others,
as in :func:`depthscope.predict`) by the predicted ln sin²θ_L between two orthogonal inputs
(θ0 = π/2) at the last hidden layer: the smaller it is, the more the network has collapsed its
inputs onto one direction before training (Jakub & Nica, arXiv:2302.09712, §5 and Figure 3).
Whether that predicts trained accuracy is measured by ``depthscope bench``, not assumed here.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._architecture import format_architecture, parse_architecture
from ._errors import DepthscopeError, DepthscopeWarning
from ._optional import import_torch
from .probing._chain import (
    LINEAR,
    OTHER,
    RELU,
    TRANSPARENT,
    Role,
    activation_spec,
    has_bias,
    is_relu_function,
    role,
)
from .probing._init import close_variance, describe_init, read_linear
from .theory._activations import parse_activation
from .theory._predict import final_laws, predict, predict_layers
from .theory._prediction import (
    HE_STD,
    CannotFollow,
    angle_only_relu,
    check_convention,
    check_network,
    describe_network,
    network_keywords,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "ScreenRow",
    "architectures_from_module",
    "screen",
]

#: ln sin²θ below which a layer counts as degenerate: θ < 0.1 rad (≈ 5.7°), the starting
#: angle of the paper's Figure 1, i.e. ln sin²(0.1) ≈ −4.61.
DEFAULT_THRESHOLD = 2.0 * math.log(math.sin(0.1))


@dataclass(frozen=True)
class ScreenRow:
    """One screened architecture.

    Attributes
    ----------
    architecture : str
        As the user wrote it (or the compact notation for a sequence or a module).
    widths : tuple of int
        Hidden widths.
    ln_sin2_final, sd_final : float
        Predicted mean and sd of ln sin²θ_L (default predictor, or Algorithm 1 for the
        ``paper`` convention, whose sd is 0).
    ln_sin2_final_infinite : float or None
        The infinite-width rule's value (bias-free ReLU: depends on depth only). None where the
        kernel map cannot follow the network (pre-activations too wide for its quadrature, or
        norms beyond float64): a :class:`~depthscope.DepthscopeWarning` says why, and the
        ranking by the default method goes on.
    degeneracy_depth : int or None
        First layer whose predicted mean falls below the threshold; None if none does.
    params : int or None
        Weights of the bias-free network (input_dim·n_1 + Σ n_i n_{i+1} + n_L·output_dim);
        None without ``input_dim``. The output layer counts only when ``output_dim`` is given.
    flops : int or None
        Multiply-adds × 2 per example for a forward pass (2 · params).
    rank : int
        1 = the largest predicted ln sin²θ_L (least degenerate).
    dead_final, collapsed_final : float
        Predicted probability that at layer L the angle is undefined (an input has no active
        unit) or exactly 0; ``ln_sin2_final`` and ``sd_final`` are given a defined, non-zero
        angle. 0 for the ``paper`` convention (Algorithm 1 does not model them).
    """

    architecture: str
    widths: tuple[int, ...]
    ln_sin2_final: float
    sd_final: float
    ln_sin2_final_infinite: float | None
    degeneracy_depth: int | None
    params: int | None
    flops: int | None
    rank: int
    dead_final: float = 0.0
    collapsed_final: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready dictionary (``widths`` as a list; a non-finite number as None)."""
        out = asdict(self)
        out["widths"] = list(self.widths)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


def _params(widths: Sequence[int], input_dim: int | None, output_dim: int | None) -> int | None:
    if input_dim is None:
        return None
    sizes = [input_dim, *widths] + ([output_dim] if output_dim is not None else [])
    return int(sum(a * b for a, b in itertools.pairwise(sizes)))


def screen(
    architectures: str | Iterable[str | Sequence[int] | Any] | Any,
    *,
    input_dim: int | None = None,
    output_dim: int | None = None,
    theta0: float = math.pi / 2,
    convention: str = "exact",
    threshold: float = DEFAULT_THRESHOLD,
    activation: str | float = "relu",
    weight_std: float = HE_STD,
    bias_std: float = 0.0,
    q0: float = 1.0,
    residual: str | float | None = None,
) -> list[ScreenRow]:
    """Rank architectures by their predicted final angle, before any training.

    Parameters
    ----------
    architectures : str, nn.Module or iterable
        Each an architecture string (``"100x10"``), a sequence of hidden widths, or a PyTorch
        ``nn.Module``: a plain chain of ``Linear`` layers and one covered activation, which the
        keywords must describe (activation, biases, and σ_w, σ_b as measured from the
        weights; see :func:`architectures_from_module`). A single string or module is one
        architecture: ``screen("256")`` screens one network of width 256, not ``"2"``,
        ``"5"``, ``"6"``.
    input_dim, output_dim : int, optional
        Input and output sizes: for the parameter count, and ``input_dim`` for the ``paper``
        convention. A module supplies its own.
    theta0 : float
        Angle between the two inputs (default π/2, as in the paper).
    convention : {"exact", "paper"}
        ``exact``: the default predictor (``markov``) with step ℓ using width n_ℓ. ``paper``:
        the authors' Algorithm 1 (Theorem 1's μ iterated over fan-in widths from
        ``input_dim``).
    threshold : float
        ln sin²θ below which a layer counts as degenerate (default ln sin²(0.1) ≈ −4.61).
    activation, weight_std, bias_std, q0, residual
        The network, as in :func:`depthscope.predict` (default: bias-free He ReLU). Beyond
        bias-free ReLU each architecture is predicted by ``predict``'s default (the Gram-state
        closure, ``docs/theory/general-predictor.md``; ``exact`` convention only); its domain
        warnings are issued once each; ``dead_final`` and ``collapsed_final`` are then 0 (the
        closure does not model them). Where the infinite-width kernel map cannot follow the
        network, ``ln_sin2_final_infinite`` is None and a warning says why.

    Returns
    -------
    list of ScreenRow
        In the order given; ``rank`` orders them (1 = least degenerate).

    Raises
    ------
    TypeError
        If ``architectures`` is bytes or not iterable.
    DepthscopeError
        If an architecture or a network keyword is invalid (as for :func:`depthscope.predict`,
        the ``paper`` convention included), or a module is not a plain chain of Linear layers and
        the activation the keywords name, with the σ_w and σ_b they name.

    Examples
    --------
    >>> rows = screen(["100x10", "30x15"], input_dim=784, output_dim=10)
    >>> [(r.architecture, r.rank) for r in rows]
    [('100x10', 1), ('30x15', 2)]
    """
    items = _as_items(architectures)
    if not items:
        raise DepthscopeError("no architectures to screen.")
    network = network_keywords(activation, weight_std, bias_std, q0, residual)
    check_network(network)  # predict's checks: the same inputs, the same messages
    check_convention(convention, network)
    labels, widths_list, dims = [], [], []
    for item in items:
        if isinstance(item, str):
            labels.append(item.strip())
            widths_list.append(parse_architecture(item))
            dims.append((input_dim, output_dim))
        elif _is_module(item):
            if residual is not None:
                raise DepthscopeError(
                    f"residual={residual!r} describes residual blocks, but a screened module is "
                    f"a plain chain ({type(item).__name__}); screen residual MLPs by their "
                    "widths with residual='block:ALPHA', or probe the module."
                )
            arch, n_in, n_out = architectures_from_module(
                item,
                activation=network["activation"],
                bias_std=network["bias_std"],
                weight_std=network["weight_std"],
            )
            labels.append(format_architecture(arch))
            widths_list.append(arch)
            dims.append(
                (
                    n_in if input_dim is None else input_dim,
                    n_out if output_dim is None else output_dim,
                )
            )
        else:
            arch = parse_architecture(item)
            labels.append(format_architecture(arch))
            widths_list.append(arch)
            dims.append((input_dim, output_dim))
    absorbed = [(0.0, 0.0)] * len(widths_list)
    infinite: list[float | None]
    general = not angle_only_relu(network)
    if general:  # beyond bias-free ReLU (σ_w and q0 alone leave the angle's law unchanged)
        layers, infinite = _general_layers(widths_list, theta0, network)
    elif convention == "paper":
        if len({d[0] for d in dims}) != 1 or dims[0][0] is None:
            raise DepthscopeError("convention 'paper' needs one input_dim for all architectures.")
        layers = predict_layers(
            widths_list, theta0, method="mean", convention="paper", input_dim=dims[0][0]
        )
    else:  # "exact": the default method, batched: per-layer means, final sd
        laws = final_laws(widths_list, theta0)
        layers = [
            (laws.layer_means[i, : laws.depth[i] + 1], np.array([laws.sd[i]]))
            for i in range(len(widths_list))
        ]
        absorbed = [(float(laws.dead[i]), float(laws.collapsed[i])) for i in range(len(layers))]
    if not general:
        infinite = [  # the same number of steps as the finite-width prediction
            float(inf_mean[-1])
            for inf_mean, _ in predict_layers(
                widths_list, theta0, method="infinite", convention=convention, input_dim=dims[0][0]
            )
        ]
    finals = np.array([mean[-1] for mean, _ in layers])
    order = np.argsort(-finals, kind="stable")
    ranks = np.empty(len(finals), dtype=int)
    ranks[order] = np.arange(1, len(finals) + 1)
    rows = []
    for i, ((mean, sd), inf_final) in enumerate(zip(layers, infinite, strict=True)):
        below = np.flatnonzero(mean[1:] < threshold)
        params = _params(widths_list[i], *dims[i])
        rows.append(
            ScreenRow(
                architecture=labels[i],
                widths=tuple(widths_list[i]),
                ln_sin2_final=float(mean[-1]),
                sd_final=float(sd[-1]),
                ln_sin2_final_infinite=inf_final,
                degeneracy_depth=int(below[0]) + 1 if below.size else None,
                params=params,
                flops=None if params is None else 2 * params,
                rank=int(ranks[i]),
                dead_final=absorbed[i][0],
                collapsed_final=absorbed[i][1],
            )
        )
    return rows


def _general_layers(
    widths_list: Sequence[Sequence[int]], theta0: float, network: dict[str, Any]
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[float | None]]:
    """Per-layer (mean, sd) by ``predict``'s default, and the infinite-width final value.

    Domain warnings are collected and issued once each (not once per architecture). Where the
    kernel map cannot follow the network, the final infinite-width value is None and one
    warning per reason names the architectures (the ranking is by the default method).
    """
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    infinite: list[float | None] = []
    empty: dict[str, list[str]] = {}  # reason -> architectures without an infinite-width value
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DepthscopeWarning)
        for widths in widths_list:
            p = predict(list(widths), theta0, **network)
            layers.append((p.mean, p.sd))
            try:
                q = predict(list(widths), theta0, method="infinite", **network)
            except CannotFollow as error:
                empty.setdefault(error.reason, []).append(format_architecture(widths))
                infinite.append(None)
            else:
                infinite.append(float(q.mean[-1]))
    seen: set[str] = set()
    for item in caught:
        text = str(item.message)
        if issubclass(item.category, DepthscopeWarning) and text not in seen:
            seen.add(text)
            warnings.warn(text.replace("predict(", "screen(", 1), DepthscopeWarning, stacklevel=3)
        elif not issubclass(item.category, DepthscopeWarning):
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    for reason, archs in empty.items():
        named = ", ".join(archs[:3]) + (f" and {len(archs) - 3} more" if len(archs) > 3 else "")
        warnings.warn(
            f"screen: ln_sin2_final_infinite is empty for {named}: the infinite-width kernel map "
            f"cannot follow {describe_network(network)}: {reason}.",
            DepthscopeWarning,
            stacklevel=3,
        )
    return layers, infinite


def _as_items(architectures: Any) -> list[Any]:
    """Return the architectures as a list: one string or one module is one architecture."""
    accepted = "a string ('100x10'), a sequence of widths, an nn.Module, or a list of them"
    if isinstance(architectures, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"architectures must be {accepted}, not {type(architectures).__name__}; "
            "decode bytes first."
        )
    if isinstance(architectures, str) or _is_module(architectures):
        return [architectures]
    try:
        return list(architectures)
    except TypeError:
        raise TypeError(
            f"architectures must be {accepted}, not {type(architectures).__name__}."
        ) from None


def _is_module(item: Any) -> bool:
    return hasattr(item, "modules") and hasattr(item, "forward")


def _module_chain(module: Any) -> list[tuple[Role, Any]]:
    """Trace ``module`` with torch.fx; return its (role, layer) in call order if it is a chain.

    The coverage rule is :mod:`depthscope.probing._chain`'s, applied as the network is at
    initialisation in eval mode; transparent layers are left out of the list.
    """
    torch = import_torch("screening a module")
    from torch import fx

    try:
        graph = fx.symbolic_trace(module).graph
    except Exception as err:
        raise DepthscopeError(
            f"cannot trace {type(module).__name__} to check it is a plain Linear/ReLU chain "
            f"({type(err).__name__}); pass an nn.Sequential of Linear and ReLU layers."
        ) from None
    chain: list[tuple[Role, Any]] = []
    previous = None
    for node in graph.nodes:
        if node.op == "placeholder":
            previous = node
            continue
        if node.op == "output":
            break
        node_role, layer, name = _node_role(torch, module, node)
        inputs = [a for a in node.args if isinstance(a, fx.Node)]
        if node_role == OTHER or inputs != [previous]:
            raise DepthscopeError(
                f"the angle theory covers plain chains of Linear + activation layers (ReLU, "
                "LeakyReLU, Tanh, GELU, SiLU); "
                f"{type(module).__name__} has {name!r}"
                + ("" if inputs == [previous] else " applied to earlier outputs (a skip or branch)")
                + ". Measure it empirically with depthscope.probe instead (residual MLP blocks "
                "x + α·V φ(W x + b): screen their widths with residual='block:ALPHA')."
            )
        if node_role != TRANSPARENT:
            chain.append((node_role, layer))
        previous = node
    return chain


def _node_role(torch: Any, module: Any, node: Any) -> tuple[Role, Any, str]:
    """Role, layer (None for a function) and name of one node of a traced module's graph."""
    if node.op == "call_module":
        layer = module.get_submodule(str(node.target))
        found = role(torch, layer, training=False)
        if found == OTHER and activation_spec(torch, layer) is not None:
            found = RELU  # a covered activation: checked against ``activation`` by the caller
        return found, layer, type(layer).__name__
    if node.op in ("call_function", "call_method") and is_relu_function(torch, node.target):
        return RELU, None, "ReLU"
    return OTHER, None, str(getattr(node.target, "__name__", node.target))


def architectures_from_module(
    module: Any,
    *,
    activation: str = "relu",
    bias_std: float = 0.0,
    weight_std: float | None = None,
) -> tuple[tuple[int, ...], int, int | None]:
    """Read (hidden widths, input_dim, output_dim) off a PyTorch MLP of Linear and ReLU layers.

    The module is traced with ``torch.fx``: it must be a plain chain (no skip connections or
    branches) of ``Linear`` and ``ReLU`` (module or ``torch.relu``) layers; ``Dropout``,
    ``Flatten`` and ``Identity`` are ignored (identities at initialization in eval mode). This
    is the coverage rule of :mod:`depthscope.probing._chain`, which the probe's theory overlay
    applies too. Every ``Linear`` followed by a ``ReLU`` is a hidden layer; a final ``Linear``
    is the output layer.

    Beyond ReLU, the module's activations may be any that :func:`depthscope.predict` names
    (``LeakyReLU``, ``Tanh``, ``GELU(approximate='none')``, ``SiLU``) when ``activation``
    names the same one, and its Linear layers may have biases when ``bias_std`` > 0: the
    screen predicts with the keywords, so they must describe the module. With ``weight_std``
    given (``screen`` gives its own), the hidden layers' weights and biases are read as the
    probe reads them (σ_w² = fan_in·Var(W), σ_b² = Var(b); :mod:`depthscope.probing._init`)
    and must match ``weight_std`` and ``bias_std`` within sampling error (4 standard errors
    + 2%); σ_w is not checked where it changes no angle (bias-free ReLU and leaky ReLU).

    Raises
    ------
    DepthscopeError
        Naming what the theory does not cover (convolution, normalisation, other activations,
        residual connections), an activation other than ``activation``, a Linear with a
        non-zero bias while ``bias_std`` is 0 (or none while it is not), or weights whose
        variance ``weight_std``/``bias_std`` do not describe (with the measured values).
    """
    core = _module_chain(module)
    _check_module_network(module, core, activation, bias_std)
    if not core or core[0][0] != LINEAR:
        raise DepthscopeError("the module must start with a Linear layer.")
    widths: list[int] = []
    input_dim, output_dim = int(core[0][1].in_features), None
    for i, (layer_role, layer) in enumerate(core):
        if layer_role != LINEAR:
            continue
        if has_bias(layer) and bias_std == 0.0:
            measured = read_linear(import_torch("screening a module"), layer, f"layer {i}")
            raise DepthscopeError(
                f"Linear layer {i} has a non-zero bias (σ_b = {math.sqrt(measured.bias_var):.3g} "
                f"as measured, Var(b)), but bias_std=0; screen it with the module's σ_w and "
                f"σ_b (this layer: weight_std={math.sqrt(measured.weight_var):.3g}, "
                f"bias_std={math.sqrt(measured.bias_var):.3g})."
            )
        if i + 1 < len(core) and core[i + 1][0] == RELU:
            widths.append(int(layer.out_features))
        elif i == len(core) - 1:
            output_dim = int(layer.out_features)
        else:
            raise DepthscopeError(f"Linear layer {i} is not followed by ReLU.")
    if not widths:
        raise DepthscopeError("the module has no hidden Linear + ReLU layer.")
    if weight_std is not None:
        _check_module_init(module, core, activation, weight_std, bias_std)
    return tuple(widths), input_dim, output_dim


def _same_phi(name: Any) -> Any:
    """Return a key equal for every spelling of one φ ("LEAKY:0.010" = "leaky:0.01")."""
    act = parse_activation(name)
    return act.slopes if act.slopes is not None else act.name


def _check_module_network(
    module: Any, core: Sequence[tuple[Role, Any]], activation: str, bias_std: float
) -> None:
    """Refuse a module whose activations or biases the keywords do not describe."""
    torch = import_torch("screening a module")
    specs = {
        "relu" if layer is None else activation_spec(torch, layer)
        for layer_role, layer in core
        if layer_role == RELU
    }
    if specs and {_same_phi(s) for s in specs} != {_same_phi(activation)}:
        found = ", ".join(sorted(str(s) for s in specs))
        raise DepthscopeError(
            f"{type(module).__name__} uses activation {found}, but activation={activation!r}; "
            + (
                f"screen it with activation={found!r}."
                if len(specs) == 1
                else "the screen takes one activation for all layers."
            )
        )
    biased = any(layer_role == LINEAR and has_bias(layer) for layer_role, layer in core)
    if bias_std > 0.0 and not biased:
        raise DepthscopeError(
            f"bias_std={bias_std!r} but the Linear layers of {type(module).__name__} have no "
            "bias (or all-zero ones); screen it with bias_std=0."
        )


def _check_module_init(
    module: Any,
    core: Sequence[tuple[Role, Any]],
    activation: str,
    weight_std: float,
    bias_std: float,
) -> None:
    """Refuse a module whose hidden layers' σ_w, σ_b the keywords do not describe."""
    torch = import_torch("screening a module")
    hidden = [
        (i, layer)
        for i, (layer_role, layer) in enumerate(core)
        if layer_role == LINEAR and i + 1 < len(core) and core[i + 1][0] == RELU
    ]
    inits = [read_linear(torch, layer, f"layer {i}") for i, layer in hidden]
    for init in inits:
        if init.problem:
            raise DepthscopeError(f"{init.problem}.")
    if not inits:
        return
    homogeneous = parse_activation(activation).slopes is not None and bias_std == 0.0
    weight_ok = homogeneous or all(
        close_variance(init.weight_var, weight_std**2, init.fan_in * init.fan_out) for init in inits
    )
    bias_off = [
        k
        for k, init in enumerate(inits)
        if bias_std > 0.0 and not close_variance(init.bias_var, bias_std**2, init.fan_out)
    ]
    if weight_ok and not bias_off:
        return
    if weight_ok and bias_off == [0] and len(inits) > 1:  # PyTorch's default: σ_b² = 1/(3·fan_in)
        warnings.warn(
            f"screen: the first hidden layer of {type(module).__name__} has σ_b = "
            f"{math.sqrt(inits[0].bias_var):.3g} (fan_in {inits[0].fan_in}), the others match "
            f"bias_std={bias_std:.4g}; the prediction takes bias_std at every layer, so its "
            "first step is off (PyTorch's default init scales biases by 1/√fan_in).",
            DepthscopeWarning,
            stacklevel=4,
        )
        return
    weight_var = float(np.mean([init.weight_var for init in inits]))
    bias_var = float(np.mean([init.bias_var for init in inits]))
    alike = all(
        close_variance(init.weight_var, weight_var, init.fan_in * init.fan_out) for init in inits
    )
    advice = (
        f"screen it with weight_std={math.sqrt(weight_var):.3g}, bias_std={math.sqrt(bias_var):.3g}"
        if alike
        else "its hidden layers' σ_w² differ (from "
        f"{min(i.weight_var for i in inits):.3g} to {max(i.weight_var for i in inits):.3g}) "
        "and the screen takes one σ_w for all layers: probe it instead"
    )
    raise DepthscopeError(
        f"the hidden Linear layers of {type(module).__name__} have "
        f"{describe_init(inits, weight_var, bias_var)}, but "
        f"weight_std={weight_std:.4g}, bias_std={bias_std:.4g}: the screen predicts with the "
        f"keywords, so they must describe the module; {advice}."
    )
