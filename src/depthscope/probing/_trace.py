"""Follow a model's data flow during the probe's forward pass: the stacks the theory covers.

:class:`StackTracer` is called from a forward hook on every module (in hook order: a module's
hook fires when its ``forward`` returns, after its children's). It gives each tensor it sees
a token (by *identity*, through weak references: no activation outlives the pass) and records
one :class:`Event` per call: the module, the tokens of its first input and of its output, and
the event that produced that input. After the pass, :meth:`StackTracer.finish` reads the
events into stacks of units of one kind:

* a **plain layer**: a Linear (with or without bias) whose output is the very input of a
  covered activation module (:func:`~depthscope.probing._chain.activation_spec`); the unit's
  output is the activation's;
* a **residual block** ``h ↦ h + α·V φ(W h + b)``: a module M whose input x is the input of a
  Linear W, whose output feeds an activation φ, whose output feeds a bias-free Linear V, all
  of width n and called inside M, and whose output y satisfies y − x = α·V φ(W x + b) on the
  probe's two rows to rounding (α estimated by least squares; the check is numerical, so it
  holds whatever M's ``forward`` looks like — ``x + self.alpha * self.branch(x)``,
  ``self.scale * self.fc2(act(self.fc1(x))) + x`` — and rejects ``relu(x + branch(x))``).

A unit continues the open stack when its input is the stack's last output and it has the
same activation and kind and, within a factor 1.5, the same σ_w², σ_b² (and α within 10%);
otherwise the stack closes and the unit opens a new one at the angle measured there. Modules
that change no angle are transparent (:func:`~depthscope.probing._chain.trace_role`).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._chain import activation_spec, trace_role
from ._init import LinearInit, read_linear

__all__ = ["Chain", "Event", "StackTracer", "category", "module_reason"]

#: Module classes named in a "not covered" message, by what they are.
_CATEGORIES = (
    ("normalisation", ("BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm", "RMSNorm")),
    ("attention", ("MultiheadAttention", "Transformer", "Attention")),
    ("convolution", ("Conv",)),
    ("pooling", ("Pool",)),
)
#: Ratio within which two units' σ_w² (σ_b²) count as equal; α's relative tolerance.
_VARIANCE_RATIO = 1.5
_ALPHA_RTOL = 0.1
_HOMOGENEOUS = ("relu", "leaky:")


def category(module_type: str) -> str:
    """Return what a module class is in a "not covered" message ("normalisation", ...)."""
    for label, words in _CATEGORIES:
        if any(word in module_type for word in words):
            return label
    return ""


@dataclass(eq=False)
class Event:
    """One module call seen by the tracer (tokens identify tensors)."""

    kind: str  # "Linear", "activation", "transparent" or "other"
    name: str
    module: Any
    inp: int | None
    out: int | None
    in_ndim: int
    src: Event | None = None  # the event that produced the input (None: input or functional)
    row: int | None = None  # the probe table's row of this call, if probed
    spec: str | None = None  # the activation's name for the theory
    rows_in: Any = None  # the pair's rows of the input (a Linear on a 2-D input)
    rows_out: Any = None  # the pair's rows of the output (a square Linear on a 2-D input)
    block: tuple[Event, Event, Event, float] | None = None  # (W, φ, V, α) of a residual block
    not_block: str = ""  # why a module y = x + α·f(x) is not the covered block form


@dataclass
class Chain:
    """A stack found by the tracer: the units' widths, its members and its network.

    ``members`` are (row, step) pairs; ``theta0`` and ``q0`` are measured where the stack's
    first unit takes its input (``q0`` = the pair's mean ‖x‖²/n₀; 1.0 where it does not
    matter: a bias-free ReLU or leaky ReLU network). ``alpha`` is None for plain layers.
    """

    theta0: float
    q0: float
    at_input: bool
    activation: str
    alpha: float | None
    widths: list[int] = field(default_factory=list)
    members: list[tuple[int, int]] = field(default_factory=list)
    weight_vars: list[float] = field(default_factory=list)
    bias_vars: list[float] = field(default_factory=list)
    alphas: list[float] = field(default_factory=list)
    inits: list[LinearInit] = field(default_factory=list)

    @property
    def weight_var(self) -> float:
        """σ_w² of the stack: the mean of its units' (2.0 where it does not matter)."""
        return float(np.mean(self.weight_vars))

    @property
    def bias_var(self) -> float:
        """σ_b² of the stack: the mean of its units'."""
        return float(np.mean(self.bias_vars))

    @property
    def paper(self) -> bool:
        """Whether this is the paper's network: bias-free ReLU layers (He init, any σ_w)."""
        return self.activation == "relu" and self.alpha is None and self.bias_var == 0.0


@dataclass
class _Unit:
    event: Event  # where the unit's output is made (the activation, or the block M)
    inp: int | None
    rows_in: Any
    width: int
    activation: str
    weight_var: float
    bias_var: float
    alpha: float | None
    inits: list[LinearInit]
    problem: str = ""


class StackTracer:
    """Record module calls by tensor identity during one forward pass; read stacks after it.

    Parameters
    ----------
    torch : module
        torch.
    pair_rows : callable
        ``pair_rows(tensor)``: a copy of the tracked pair's two rows of a tensor (on its
        device), or None if the tensor has no batch dimension m.
    angle : callable
        ``angle(rows, is_input)``: the angle (radians) between the two rows, NaN if undefined.
    watch : set of str, optional
        Qualified names of modules whose output's pair rows are kept, to recognise a module
        ``y = x + α·f(x)`` whose branch f ends in one of them (the children of modules that are
        not ``Sequential`` or ``ModuleList``; no copy for the layers of a plain Sequential).
    """

    def __init__(
        self,
        torch: Any,
        pair_rows: Callable[[Any], Any],
        angle: Callable[[Any, bool], float],
        watch: frozenset[str] = frozenset(),
    ) -> None:
        self._torch, self._pair_rows, self._angle = torch, pair_rows, angle
        self._watch = watch
        self._tokens: dict[int, tuple[weakref.ref[Any], int]] = {}
        self._producer: dict[int, Event] = {}
        self._count = 0
        self.input_token: int | None = None
        self.events: list[Event] = []
        self.reasons: dict[int, str] = {}

    def _token(self, tensor: Any) -> int | None:
        if not isinstance(tensor, self._torch.Tensor):
            return None
        hit = self._tokens.get(id(tensor))
        if hit is not None and hit[0]() is tensor:
            return hit[1]
        self._count += 1
        self._tokens[id(tensor)] = (weakref.ref(tensor), self._count)
        return self._count

    def start(self, model_input: Any) -> None:
        """Record the model input (layer 0 of a stack that starts there)."""
        self.input_token = self._token(model_input)

    def observe(self, name: str, module: Any, inputs: tuple[Any, ...], output: Any) -> Event:
        """Record one call of ``module`` (qualified name ``name``); return its event."""
        torch = self._torch
        x = inputs[0] if inputs else None
        inp = self._token(x)
        kind = trace_role(torch, module)
        in_ndim = int(x.ndim) if isinstance(x, torch.Tensor) else 0
        event = Event(kind, name, module, inp, None, in_ndim, src=None)
        if inp is not None:
            event.src = self._producer.get(inp)
        if kind == "transparent" and inp is not None and isinstance(output, torch.Tensor):
            self._tokens[id(output)] = (weakref.ref(output), inp)  # the same representation
            event.out = inp
        else:
            event.out = self._token(output)
            if event.out is not None:
                self._producer[event.out] = event
        if kind == "activation":
            event.spec = activation_spec(torch, module)
        elif kind == "Linear" and in_ndim == 2:
            event.rows_in = self._pair_rows(x)
            square = module.in_features == module.out_features
            if square and isinstance(output, torch.Tensor):
                event.rows_out = self._pair_rows(output)
        elif kind == "other" and in_ndim == 2:
            event.block = self._block(event, x, output)
            if event.block is None:
                event.not_block = self._not_block(event, x, output)
        if name in self._watch and event.rows_out is None and isinstance(output, torch.Tensor):
            if output.ndim == 2:
                event.rows_out = self._pair_rows(output)
        self.events.append(event)
        return event

    def _block(self, event: Event, x: Any, y: Any) -> tuple[Event, Event, Event, float] | None:
        """(W, φ, V, α) if the call just ended is a residual block y = x + α·V φ(W x + b)."""
        if not isinstance(y, self._torch.Tensor) or y.shape != x.shape:
            return None
        prefix = event.name + "." if event.name else ""
        v = None
        for earlier in reversed(self.events):  # the calls made inside this module, last first
            if not earlier.name.startswith(prefix) or earlier.name == event.name:
                break
            if earlier.kind == "Linear":
                v = earlier
                break
        act = v.src if v is not None else None
        w = act.src if act is not None and act.kind == "activation" else None
        if v is None or act is None or w is None or w.kind != "Linear" or w.inp != event.inp:
            return None
        if not (act.name.startswith(prefix) and w.name.startswith(prefix)):
            return None
        n = int(x.shape[1])
        sizes = (w.module.in_features, w.module.out_features, v.module.in_features)
        if sizes != (n, n, n) or w.rows_in is None or v.rows_out is None:
            return None
        rows_y = self._pair_rows(y)
        if rows_y is None:
            return None
        x2, y2, z2 = (_host(r) for r in (w.rows_in, rows_y, v.rows_out))
        delta = y2 - x2
        zz = float(np.vdot(z2, z2))
        if not (math.isfinite(zz) and zz > 0.0):
            return None
        alpha = float(np.vdot(delta, z2)) / zz
        misfit = float(np.linalg.norm(delta - alpha * z2))
        eps = float(self._torch.finfo(y.dtype).eps) if y.is_floating_point() else 0.0
        scale = float(np.linalg.norm(x2)) + float(np.linalg.norm(delta))
        if not misfit <= 32.0 * eps * scale:
            return None
        return (w, act, v, alpha)

    def _not_block(self, event: Event, x: Any, y: Any) -> str:
        """Why a module with y = x + α·f(x) (f: its last inner call) is not a covered block.

        "" if the call just ended is not of that shape (checked on the pair's rows, as
        :meth:`_block` does).
        """
        torch = self._torch
        if not isinstance(y, torch.Tensor) or y.shape != x.shape or not self.events:
            return ""
        prefix = event.name + "." if event.name else ""
        last = self.events[-1]
        if not last.name.startswith(prefix) or last.rows_out is None:
            return ""
        rows_x, rows_y = self._pair_rows(x), self._pair_rows(y)
        if rows_x is None or rows_y is None:
            return ""
        x2, y2, z2 = (_host(r) for r in (rows_x, rows_y, last.rows_out))
        delta = y2 - x2
        zz = float(np.vdot(z2, z2))
        if not (math.isfinite(zz) and zz > 0.0):
            return ""
        misfit = float(np.linalg.norm(delta - (float(np.vdot(delta, z2)) / zz) * z2))
        eps = float(torch.finfo(y.dtype).eps) if y.is_floating_point() else 0.0
        if not misfit <= 32.0 * eps * (float(np.linalg.norm(x2)) + float(np.linalg.norm(delta))):
            return ""
        inner = [e for e in self.events if e.name.startswith(prefix) and e.name != event.name]
        types = {type(e.module).__name__ for e in inner}
        named = sorted(t for t in types if category(t))
        if named:
            why = f"its branch has {', '.join(named)} (not covered)"
        elif next(e for e in inner if e.out == last.out).kind == "activation":
            why = "its branch ends with an activation (the covered branch ends with a Linear V)"
        else:
            why = "its branch is not V φ(W x + b) on the block's input"
        return (
            f"{type(event.module).__name__} at layer {event.name!r} is a residual module "
            f"x + α·f(x), but not the block form x + α·V φ(W x + b) the theory covers: {why}"
        )

    # ---- after the pass ---------------------------------------------------------------------

    def _units(self) -> list[_Unit]:
        """Return the plain layers and residual blocks, in the order their outputs were made."""
        torch = self._torch
        inside: dict[int, Event] = {}  # id(event) of W, φ, V → their block's event
        for event in self.events:
            if event.block is not None:
                for part in event.block[:3]:
                    inside[id(part)] = event
        for event in self.events:
            if event.row is not None and id(event) in inside:
                self.reasons[event.row] = (
                    f"inside the residual branch of block {inside[id(event)].name!r} (the "
                    "theory predicts the stream: the block's output)"
                )
        units = []
        for event in self.events:
            if event.block is not None:
                w, act, v, alpha = event.block
                w_init = read_linear(torch, w.module, w.name)
                v_init = read_linear(torch, v.module, v.name)
                problem = w_init.problem or v_init.problem
                if v_init.has_bias and not problem:
                    problem = (
                        f"the second Linear {v.name!r} of residual block {event.name!r} has a "
                        "bias (the block form is h + α·V φ(W h + b))"
                    )
                # V ~ N(0, σ_V²/n) is (σ_V/σ_W)·V' with V' ~ N(0, σ_W²/n): fold it into α.
                ratio = math.sqrt(v_init.weight_var / w_init.weight_var) if not problem else 1.0
                units.append(
                    _Unit(
                        event,
                        w.inp,
                        w.rows_in,
                        int(w.module.out_features),
                        str(act.spec),
                        w_init.weight_var,
                        w_init.bias_var,
                        abs(alpha) * ratio,
                        [w_init, v_init],
                        problem,
                    )
                )
            elif event.kind == "activation" and id(event) not in inside:
                linear = event.src
                if linear is None or linear.kind != "Linear" or id(linear) in inside:
                    continue
                init = read_linear(torch, linear.module, linear.name)
                problem = init.problem
                if linear.rows_in is None and not problem:
                    problem = (
                        f"the Linear {linear.name!r} before it acts on a {linear.in_ndim}-D "
                        "input: the theory covers flat (m, n) representations"
                    )
                spec = str(event.spec)
                homogeneous = spec.startswith(_HOMOGENEOUS) and not init.has_bias
                units.append(
                    _Unit(
                        event,
                        linear.inp,
                        linear.rows_in,
                        init.fan_out,
                        spec,
                        2.0 if homogeneous else init.weight_var,  # σ_w changes no angle then
                        init.bias_var,
                        None,
                        [init],
                        problem,
                    )
                )
        return units

    def _open(self, unit: _Unit) -> Chain | None:
        rows = unit.rows_in
        theta0 = self._angle(rows, unit.inp == self.input_token)
        if not 0.0 < theta0 <= math.pi:
            return None
        homogeneous = unit.activation.startswith(_HOMOGENEOUS) and unit.bias_var == 0.0
        q0 = 1.0
        if not homogeneous:
            flat = _host(rows)
            q0 = float(np.mean(np.sum(flat * flat, axis=1))) / flat.shape[1]
        return Chain(
            theta0=theta0,
            q0=q0,
            at_input=unit.inp == self.input_token,
            activation=unit.activation,
            alpha=None if unit.alpha is None else unit.alpha,
        )

    def finish(self) -> list[Chain]:
        """Read the recorded calls into stacks; return those with at least one probed layer.

        :attr:`reasons` then says, per probed row that no stack covers, why.
        """
        done: list[Chain] = []
        chain: Chain | None = None
        last: int | None = None
        for unit in self._units():
            row = unit.event.row
            if unit.problem:
                if row is not None:
                    self.reasons[row] = unit.problem
                if chain is not None and chain.members:
                    done.append(chain)
                chain, last = None, None
                continue
            if chain is None or unit.inp != last or not _same_kind(chain, unit):
                if chain is not None and chain.members:
                    done.append(chain)
                chain = self._open(unit)
                if chain is None:
                    last = None
                    continue
            chain.widths.append(unit.width)
            chain.weight_vars.append(unit.weight_var)
            chain.bias_vars.append(unit.bias_var)
            chain.inits.extend(unit.inits)
            if unit.alpha is not None:
                chain.alphas.append(unit.alpha)
                chain.alpha = float(np.mean(chain.alphas))
            if row is not None:
                chain.members.append((row, len(chain.widths)))
            last = unit.event.out
        if chain is not None and chain.members:
            done.append(chain)
        self._explain(done)
        return done

    def _explain(self, chains: list[Chain]) -> None:
        """Say why each probed row that no stack covers is not covered (first reason wins)."""
        covered = {row for chain in chains for row, _ in chain.members}
        for event in self.events:
            row = event.row
            if row is None or row in covered or row in self.reasons:
                continue
            if event.not_block:
                self.reasons[row] = event.not_block
                continue
            module_type = type(event.module).__name__
            if event.kind == "activation":
                src = event.src
                if src is None:
                    made = (
                        "it is the model input"
                        if event.inp == self.input_token
                        else "a functional operation, e.g. a residual addition, makes it"
                    )
                    self.reasons[row] = (
                        f"the input of this {module_type} is not the output of a Linear ({made})"
                    )
                elif src.kind == "Linear":
                    self.reasons[row] = (
                        f"no stack reaches this {module_type}: the angle where its Linear "
                        f"{src.name!r} takes its input is 0 or undefined"
                    )
                else:
                    kind = category(type(src.module).__name__)
                    self.reasons[row] = (
                        f"{type(src.module).__name__} at layer {src.name!r} comes before this "
                        f"{module_type}" + (f" ({kind} is not covered)" if kind else "")
                    )
            else:
                self.reasons[row] = module_reason(event)


def module_reason(event: Event) -> str:
    """Why a probed module that is not a covered activation is not covered (named by kind).

    A Linear (a pre-activation), a transparent module, the tanh approximation of GELU, a
    module of a named kind (normalisation, attention, ...), a composite module by the kinds of
    its submodules; else the list of what is covered.
    """
    module, name = event.module, event.name
    module_type = type(module).__name__
    kind = category(module_type)
    if kind:
        return f"{module_type} at layer {name!r}: {kind} is not covered"
    if event.kind == "Linear":
        return (
            f"{module_type} at layer {name!r} gives a pre-activation: the theory predicts the "
            "output of the covered activation after a Linear (or of a residual block)"
        )
    if event.kind == "transparent":
        return (
            f"{module_type} at layer {name!r} changes no angle here; the theory predicts the "
            "output of the covered activation after a Linear (or of a residual block)"
        )
    if getattr(module, "approximate", None) == "tanh":
        return (
            f"{module_type}(approximate='tanh') is the tanh approximation of GELU, not the exact "
            "erf form u·Φ(u) the theory covers (GELU(approximate='none'))"
        )
    types = {type(m).__name__ for m in module.modules() if m is not module}
    inner = sorted(t for t in types if category(t))
    if inner:
        kinds = ", ".join(dict.fromkeys(category(t) for t in inner))
        return (
            f"{module_type} at layer {name!r} contains {', '.join(inner)} ({kinds}: not "
            "covered); the theory covers activations after a Linear and residual blocks "
            "x + α·V φ(W x + b)"
        )
    return (
        f"{module_type} is not a covered activation after a Linear (ReLU, LeakyReLU, Tanh, "
        "GELU, SiLU) nor a residual block x + α·V φ(W x + b)"
    )


def _same_kind(chain: Chain, unit: _Unit) -> bool:
    """Whether ``unit`` may continue ``chain``: same activation and kind, like variances."""
    if unit.activation != chain.activation or (unit.alpha is None) != (chain.alpha is None):
        return False
    if not _alike(unit.weight_var, chain.weight_var) or not _alike(unit.bias_var, chain.bias_var):
        return False
    if unit.alpha is not None and chain.alpha is not None:
        return abs(unit.alpha - chain.alpha) <= _ALPHA_RTOL * max(abs(chain.alpha), 1e-300)
    return True


def _alike(a: float, b: float) -> bool:
    if a == b:
        return True
    if a <= 0.0 or b <= 0.0:
        return False
    return max(a, b) / min(a, b) <= _VARIANCE_RATIO


def _host(rows: Any) -> np.ndarray:
    """Return the pair's rows (a tensor (2, ...)) as a float64 array of shape (2, n)."""
    return np.asarray(rows.detach().double().cpu().numpy()).reshape(2, -1)
