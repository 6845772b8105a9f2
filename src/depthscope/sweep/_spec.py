"""The spec of a sweep: read a YAML/JSON file, check every value, expand the grid of cells.

A spec names the architectures, the angles θ0, the number of networks per cell and the root
seed; optional lists (``activation``, ``weight_std``, ``bias_std``, ``q0``, ``residual``,
``method``) are crossed with them: the keywords of :func:`depthscope.simulate` and
:func:`depthscope.predict`. Every
problem of a spec is collected and raised as one :class:`~depthscope.DepthscopeError` before
anything runs.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._architecture import format_architecture, parse_architecture
from .._errors import (
    MAX_NETWORK_SCALE,
    MAX_Q0,
    MIN_Q0,
    MIN_WEIGHT_STD,
    DepthscopeError,
    check_network_number,
    check_theta0,
)
from .._optional import import_yaml
from ..simulation._samplers import parse_activation
from ..theory._activations import parse_activation as parse_general_activation
from ..theory._kernel_maps import parse_residual
from ..theory._predict import METHODS
from ._cells import DEFAULTS, Cell, oversized

__all__ = ["AXES", "SweepSpec", "load_spec", "parse_spec"]

#: The axes a cell varies along, in the order of the grid (and of the results' columns).
AXES = (
    "architecture",
    "theta0",
    "activation",
    "weight_std",
    "bias_std",
    "q0",
    "residual",
    "method",
)
_REQUIRED = ("architectures", "theta0", "networks", "seed")
#: The most cells a spec may expand to (the grid is the product of its lists' lengths).
MAX_CELLS = 100_000
_OPTIONAL = {"activation": "relu", "bias_std": 0.0, "method": "markov", **DEFAULTS}
#: Axes that do not change a cell's memory estimate (left out of the oversized cells' names).
_NOT_IN_ESTIMATE = ("theta0", "method")
#: Oversized cells named in the message before "and N more".
_SHOWN = 3


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: the values of every axis, the networks per cell and the root seed.

    Attributes
    ----------
    axes : mapping of str to tuple
        The canonical values of each axis of :data:`AXES` (architectures as ``"32x10"``,
        activations as ``"relu"``/``"leaky:S"``/``"tanh"``, residual as ``"none"`` or
        ``"block:ALPHA"``), one value for an axis the spec leaves out.
    networks : int
        Networks simulated per cell.
    seed : int
        Root seed: cell c draws from ``SeedSequence(seed, spawn_key=c.spawn_key)``.

    Raises
    ------
    DepthscopeError
        If a cell cannot fit in memory (:meth:`check_memory`).
    """

    axes: Mapping[str, tuple[Any, ...]]
    networks: int
    seed: int

    def __post_init__(self) -> None:
        self.check_memory()  # however the spec is made: refused before anything runs

    def cells(self) -> list[Cell]:
        """Return the cells of the grid, architectures slowest, in a fixed order."""
        return [
            Cell(**dict(zip(AXES, values, strict=True)), networks=self.networks)
            for values in itertools.product(*(self.axes[a] for a in AXES))
        ]

    def check_memory(self) -> None:
        """Refuse, before anything runs, a grid with a cell that cannot fit in memory.

        Every cell is checked as its ``simulate`` call would check it before allocating
        (:func:`~._cells.oversized`: the simulation's own estimate, against this machine's
        memory and ``simulate``'s default ``memory_budget``).

        Raises
        ------
        DepthscopeError
            One message naming the first few oversized cells (by architecture and the
            network axes that vary; θ0 and the predictor do not change the estimate), each
            with its estimate and the limit, and how many more there are.
        """
        cells = self.cells()
        found = oversized(cells)
        if not found:
            return
        others = (a for a in self.varying() if a not in ("architecture", *_NOT_IN_ESTIMATE))
        axes = ["architecture", *others]
        named: dict[str, str] = {}
        for cell, need, limit, name in found:
            label = cell.label(axes)
            limit_name = "simulate's memory_budget" if name == "memory_budget" else name
            named.setdefault(
                label,
                f"{label} ({need / 2**20:.1f} MiB > {limit_name} {limit / 2**20:.1f} MiB)",
            )
        shown = list(named.values())[:_SHOWN]
        more = f"; and {len(named) - _SHOWN} more" if len(named) > _SHOWN else ""
        raise DepthscopeError(
            f"invalid sweep spec: {len(found):,} of {len(cells):,} cells cannot fit in memory "
            f"even one network at a time: {'; '.join(shown)}{more}; use fewer networks or "
            "narrower layers."
        )

    def varying(self) -> list[str]:
        """Return the axes with more than one value, in the order of :data:`AXES`."""
        return [a for a in AXES if len(self.axes[a]) > 1]

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-ready dictionary (read back by :func:`parse_spec`)."""
        out: dict[str, Any] = {"architectures": list(self.axes["architecture"])}
        out |= {a: list(self.axes[a]) for a in AXES[1:]}
        return out | {"networks": self.networks, "seed": self.seed}


def load_spec(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and check a spec file (``.yaml``/``.yml`` needs PyYAML; anything else is JSON).

    Raises
    ------
    DepthscopeError
        If the file cannot be read or parsed, or the spec is invalid (:func:`parse_spec`).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DepthscopeError(f"the sweep spec {file.name!r} is not UTF-8 text: {err}") from None
    except OSError as err:
        raise DepthscopeError(f"cannot read the sweep spec {os.fspath(path)!r}: {err}") from None
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            yaml = import_yaml("reading a YAML sweep spec")
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (ValueError, ImportError) as err:  # json.JSONDecodeError, yaml.YAMLError
        raise DepthscopeError(f"cannot parse the sweep spec {file.name!r}: {err}") from None
    except Exception as err:  # yaml.YAMLError does not derive from ValueError
        raise DepthscopeError(f"cannot parse the sweep spec {file.name!r}: {err}") from None
    return parse_spec(data)


def parse_spec(data: object) -> SweepSpec:
    """Check a spec given as a mapping; return the :class:`SweepSpec`.

    Parameters
    ----------
    data : mapping
        ``architectures`` (list of str), ``theta0`` (number or list, radians in (0, π)),
        ``networks`` (int ≥ 2), ``seed`` (int ≥ 0); optional ``activation`` (``"relu"``,
        ``"leaky:S"``, ``"tanh"``, ``"gelu"``, ``"erf"``, ``"silu"``, ``"abs"``), ``weight_std``
        (σ_w > 0, default √2), ``bias_std`` (σ_b ≥ 0), ``q0`` (> 0, the inputs' ‖x‖²/n₀),
        ``residual`` (``"none"`` or ``"block:ALPHA"``: constant widths only) and ``method`` (a
        predictor of :func:`depthscope.predict`), each a value or a non-empty list.

    Raises
    ------
    DepthscopeError
        Listing every problem: unknown or missing keys, empty lists, duplicates, bad values;
        then, for a grid of valid values, the cells that cannot fit in memory
        (:meth:`SweepSpec.check_memory`).

    Examples
    --------
    >>> spec = parse_spec({"architectures": ["8x3"], "theta0": [0.5, 1.0], "networks": 10,
    ...                    "seed": 1})
    >>> len(spec.cells()), spec.varying()
    (2, ['theta0'])
    """
    if not isinstance(data, Mapping):
        raise DepthscopeError("a sweep spec must be a mapping of keys to values.")
    problems: list[str] = []
    unknown = sorted(set(map(str, data)) - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        known = ", ".join((*_REQUIRED, *_OPTIONAL))
        problems.append(f"unknown key(s) {', '.join(unknown)} (known: {known})")
    problems += [f"missing key {key!r}" for key in _REQUIRED if key not in data]
    checks = {
        "architecture": ("architectures", _architecture),
        "theta0": ("theta0", _theta0),
        "activation": ("activation", _activation),
        "weight_std": ("weight_std", _weight_std),
        "bias_std": ("bias_std", _bias_std),
        "q0": ("q0", _q0),
        "residual": ("residual", _residual),
        "method": ("method", _method),
    }
    axes: dict[str, tuple[Any, ...]] = {}
    for axis, (key, check) in checks.items():
        raw = data.get(key, _OPTIONAL.get(key))
        if key not in data and key in _REQUIRED:
            continue
        axes[axis] = _values(key, raw, check, problems)
    networks = _integer(data.get("networks"), "networks", 2, problems) if "networks" in data else 0
    seed = _integer(data.get("seed"), "seed", 0, problems) if "seed" in data else 0
    if any(r != "none" for r in axes.get("residual", ())):
        ragged = [a for a in axes.get("architecture", ()) if len(set(parse_architecture(a))) > 1]
        if ragged:
            problems.append(f"residual blocks need constant widths, not {', '.join(ragged)}")
    cells = math.prod(len(values) for values in axes.values())
    if cells > MAX_CELLS:
        problems.append(f"the grid has {cells:,} cells; at most {MAX_CELLS:,} are accepted")
    if problems:
        raise DepthscopeError("invalid sweep spec: " + "; ".join(problems) + ".")
    return SweepSpec(axes=axes, networks=networks, seed=seed)


def _values(key: str, raw: object, check: Any, problems: list[str]) -> tuple[Any, ...]:
    """Check a value or a list of values of ``key``; record problems, return canonical values."""
    items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    if not items:
        problems.append(f"{key!r} is an empty list")
        return ()
    values = []
    for item in items:
        try:
            values.append(check(item))
        except (DepthscopeError, TypeError, ValueError) as err:
            problems.append(f"{key}: {item!r} is not valid ({str(err).rstrip('.')})")
    if len(set(values)) != len(values):
        problems.append(f"{key!r} lists a value twice")
    return tuple(values)


def _architecture(value: object) -> str:
    if not isinstance(value, (str, list, tuple)):
        raise DepthscopeError("an architecture is a string such as '64x20' or a list of widths")
    widths = parse_architecture(value)
    if min(widths) < 2:
        raise DepthscopeError("widths must be at least 2")
    return format_architecture(widths)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DepthscopeError("expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise DepthscopeError("expected a finite number")
    return number


def _theta0(value: object) -> float:
    theta = _number(value)
    if not 0.0 < theta < math.pi:
        raise DepthscopeError("θ0 must lie in (0, π) radians")
    return check_theta0(theta)  # and be a normal float64


def _activation(value: object) -> str:
    if not isinstance(value, str):
        raise DepthscopeError("expected a name such as 'relu', 'leaky:SLOPE', 'tanh' or 'gelu'")
    if value.strip().lower().split(":")[0] in ("relu", "leaky"):
        slope = parse_activation(value)
        return "relu" if slope == 0.0 else f"leaky:{slope!r}"  # repr: the slope exactly
    return parse_general_activation(value).name


def _weight_std(value: object) -> float:
    _number(value)
    return check_network_number(value, "σ_w", MIN_WEIGHT_STD, MAX_NETWORK_SCALE)


def _q0(value: object) -> float:
    _number(value)
    return check_network_number(value, "q0", MIN_Q0, MAX_Q0)


def _residual(value: object) -> str:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return "none"
    if not isinstance(value, str):
        raise DepthscopeError("expected 'none' or 'block:ALPHA'")
    return f"block:{parse_residual(value)!r}"


def _bias_std(value: object) -> float:
    _number(value)
    return check_network_number(value, "σ_b", 0.0, MAX_NETWORK_SCALE)


def _method(value: object) -> str:
    if value not in METHODS:
        raise DepthscopeError(f"choose one of {', '.join(METHODS)}")
    return str(value)


def _integer(value: object, key: str, minimum: int, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{key!r} must be an integer ≥ {minimum}, got {value!r}")
        return 0
    return value
