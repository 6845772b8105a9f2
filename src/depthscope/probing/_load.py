"""Open a model file for probing without unpickling arbitrary objects.

Two formats are accepted:

* **TorchScript** (``torch.jit.save``): opened with ``torch.jit.load``. TorchScript modules
  cannot carry Python forward hooks, so a scripted ``nn.Sequential`` is rebuilt as an eager
  ``nn.Sequential``: known layers (Linear, activations, Flatten, Identity, Dropout) become the
  eager modules with the same parameters, nested Sequentials are rebuilt recursively, and any
  other scripted child is kept whole inside a wrapper (its output can still be probed).
* **state_dict** (``torch.save(model.state_dict())``): opened with
  ``torch.load(weights_only=True)``, which refuses pickled code, and loaded into an MLP built
  from an architecture spec (:func:`mlp_from_spec`).
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from typing import Any

from .._architecture import parse_architecture
from .._errors import DepthscopeError
from .._optional import import_torch

__all__ = ["load_model", "mlp_from_spec"]

_ACTIVATIONS = (
    "ReLU",
    "ReLU6",
    "Tanh",
    "Sigmoid",
    "GELU",
    "SiLU",
    "ELU",
    "SELU",
    "Softplus",
    "Mish",
    "Hardtanh",
    "Hardswish",
)


def _scripted_wrapper(torch: Any) -> Any:
    class ScriptedChild(torch.nn.Module):
        """An opaque scripted submodule, callable and hookable from Python."""

        def __init__(self, scripted: Any) -> None:
            super().__init__()
            self.scripted = scripted
            self.original_name = str(getattr(scripted, "original_name", "ScriptModule"))

        def forward(self, x: Any) -> Any:
            return self.scripted(x)

    return ScriptedChild


def _rebuild(torch: Any, scripted: Any) -> Any:
    """Return an eager module equivalent to one scripted module (see the module docstring)."""
    nn = torch.nn
    kind = str(getattr(scripted, "original_name", ""))
    if kind == "Sequential":
        return nn.Sequential(*(_rebuild(torch, child) for child in scripted.children()))
    if kind == "Linear":
        weight = scripted.weight.detach()
        layer = nn.Linear(
            weight.shape[1],
            weight.shape[0],
            bias=scripted.bias is not None,
            dtype=weight.dtype,
            device=weight.device,
        )
        with torch.no_grad():
            layer.weight.copy_(weight)
            if scripted.bias is not None:
                layer.bias.copy_(scripted.bias.detach())
        return layer
    if kind == "LeakyReLU":
        return nn.LeakyReLU(float(scripted.negative_slope))
    if kind in _ACTIVATIONS:
        return getattr(nn, kind)()
    if kind == "Flatten":
        return nn.Flatten(int(scripted.start_dim), int(scripted.end_dim))
    if kind in ("Identity", "Dropout"):
        return nn.Identity()  # probing runs in eval mode, where Dropout is the identity
    return _scripted_wrapper(torch)(scripted)


def mlp_from_spec(torch: Any, spec: str, state: dict[str, Any], final_relu: bool = False) -> Any:
    """Build ``nn.Sequential(Linear, ReLU, ..., Linear)`` for a state_dict and load it.

    Parameters
    ----------
    torch : module
        The torch module.
    spec : str
        ``out_features`` of every Linear layer, in depthscope notation (``"256x4,10"``: four
        hidden layers of 256 then an output layer of 10). The input dimension is read from
        the first weight matrix; biases are used where the state_dict has them.
    state : dict of str to Tensor
        Keys ``"0.weight"``, ``"2.weight"``, ... as saved from such an ``nn.Sequential``.
    final_relu : bool, default False
        Put a ReLU after the last Linear too.

    Raises
    ------
    DepthscopeError
        If the state_dict does not fit the spec (the message lists the mismatching keys).
    """
    widths = parse_architecture(spec)
    nn = torch.nn
    first = state.get("0.weight")
    if first is None or first.ndim != 2:
        raise DepthscopeError(
            "the state_dict has no 2-D '0.weight'; --arch builds nn.Sequential(Linear, ReLU, "
            f"...) whose keys are '0.weight', '2.weight', ...; found {sorted(state)[:6]}."
        )
    layers: list[Any] = []
    fan_in = int(first.shape[1])
    for k, width in enumerate(widths):
        index = len(layers)
        weight = state.get(f"{index}.weight")  # checked before nn.Linear allocates the layer
        if weight is None or tuple(weight.shape) != (width, fan_in):
            found = "missing" if weight is None else f"of shape {tuple(weight.shape)}"
            raise DepthscopeError(
                f"the state_dict does not fit --arch {spec!r}: '{index}.weight' is {found}; "
                f"Linear layer {k + 1} ({fan_in} → {width}) needs ({width}, {fan_in})."
            )
        bias = f"{index}.bias" in state
        layers.append(nn.Linear(fan_in, width, bias=bias, dtype=first.dtype))
        if k < len(widths) - 1 or final_relu:
            layers.append(nn.ReLU())
        fan_in = width
    model = nn.Sequential(*layers)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        message = " ".join(str(err).split())
        raise DepthscopeError(f"the state_dict does not fit --arch {spec!r}: {message}") from None
    return model


def _unwrap_state(value: Any) -> dict[str, Any] | None:
    """Return the tensor dictionary of a state_dict, possibly nested under "state_dict"."""
    torch = import_torch()
    if isinstance(value, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(value.get(key), dict):
                value = value[key]
                break
        if value and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
        ):
            return dict(value)
    return None


def load_model(
    path: str | os.PathLike[str], *, arch: str | None = None, final_relu: bool = False
) -> Any:
    """Open a TorchScript file or a state_dict as an eager ``nn.Module`` ready for probing.

    Parameters
    ----------
    path : str or path-like
        A file written by ``torch.jit.save`` / ``ScriptModule.save``, or by
        ``torch.save(model.state_dict())``.
    arch : str, optional
        For a state_dict: the Linear widths (see :func:`mlp_from_spec`). Ignored for
        TorchScript.
    final_relu : bool, default False
        For a state_dict: a ReLU after the last Linear too.

    Returns
    -------
    torch.nn.Module
        An eager module on the CPU, in eval mode.

    Raises
    ------
    DepthscopeError
        If the file is neither format, holds a pickled module (never unpickled: it could run
        arbitrary code), is a state_dict without ``arch``, or is a TorchScript model whose
        top level is not an ``nn.Sequential``.
    """
    torch = import_torch()
    name = os.fspath(path)
    if not os.path.isfile(name):
        missing = "is a directory, not a file" if os.path.isdir(name) else "does not exist"
        raise DepthscopeError(f"model file {name!r} {missing}.")
    scripted = None
    if zipfile.is_zipfile(name):
        with zipfile.ZipFile(name) as archive:
            is_script = any(entry.endswith("constants.pkl") for entry in archive.namelist())
        if is_script:
            try:
                with warnings.catch_warnings():
                    # torch ≥ 2.10 deprecates TorchScript; reading existing files is the point
                    warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
                    scripted = torch.jit.load(name, map_location="cpu")
            except RuntimeError as err:
                raise DepthscopeError(
                    f"{name!r}: cannot read the TorchScript archive: {err}"
                ) from None
    if scripted is not None:
        if str(getattr(scripted, "original_name", "")) != "Sequential":
            raise DepthscopeError(
                f"{name!r} is a TorchScript {scripted.original_name!r} with its own forward; "
                "depthscope can look inside TorchScript nn.Sequential models only (hooks do "
                "not run inside TorchScript). Save a state_dict and pass --arch instead."
            )
        return _rebuild(torch, scripted).eval()
    try:
        loaded = torch.load(name, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not zipfile.is_zipfile(name):
            raise DepthscopeError(
                f"{name!r} is not a model file: neither a TorchScript archive nor a state_dict "
                "saved with torch.save."
            ) from None
        raise DepthscopeError(
            f"{name!r} holds pickled Python objects (a whole saved nn.Module?); depthscope never "
            "unpickles them. Save torch.jit.script(model) or model.state_dict() (with --arch)."
        ) from None
    except (RuntimeError, KeyError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise DepthscopeError(
            f"{name!r} is not a model file depthscope can read (a TorchScript archive or a "
            f"state_dict saved with torch.save): {type(err).__name__}: {err}"
        ) from None
    state = _unwrap_state(loaded)
    if state is None:
        raise DepthscopeError(
            f"{name!r} holds a {type(loaded).__name__}, not a state_dict of tensors; save "
            "model.state_dict() or a TorchScript model."
        )
    if arch is None:
        raise DepthscopeError(
            f"{name!r} is a state_dict (weights only); pass --arch with the widths of its "
            "Linear layers, e.g. --arch 256x4,10."
        )
    return mlp_from_spec(torch, arch, state, final_relu=final_relu).eval()
