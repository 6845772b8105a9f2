"""depthscope: predict, measure and explain how deep ReLU networks degenerate at initialization.

The public namespace is a short, hand-picked list; everything else lives in private modules.
Each public name is imported from its module on first use (PEP 562), so that
``import depthscope`` is cheap and ``python -m depthscope`` installs its Ctrl-C handling before
the heavy imports (numpy, scipy) run.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:  # the same names, for type checkers and editors
    from ._architecture import format_architecture as format_architecture
    from ._architecture import parse_architecture as parse_architecture
    from ._errors import DepthscopeError as DepthscopeError
    from ._errors import DepthscopeWarning as DepthscopeWarning
    from ._screen import ScreenRow as ScreenRow
    from ._screen import screen as screen
    from .probing import ProbeResult as ProbeResult
    from .probing import TrainingMonitor as TrainingMonitor
    from .probing import probe as probe
    from .simulation._simulate import SimulationResult as SimulationResult
    from .simulation._simulate import simulate as simulate
    from .theory._jfunctions import J as J
    from .theory._jfunctions import bessel_number as bessel_number
    from .theory._kernel_maps import FixedPoint as FixedPoint
    from .theory._kernel_maps import InfiniteWidthLaw as InfiniteWidthLaw
    from .theory._kernel_maps import fixed_point_chi as fixed_point_chi
    from .theory._kernel_maps import infinite_width_law as infinite_width_law
    from .theory._predict import Prediction as Prediction
    from .theory._predict import predict as predict
    from .theory._predict import predict_final as predict_final
    from .theory._predict import predict_layers as predict_layers
    from .theory._theorem import infinite_width_map as infinite_width_map
    from .theory._theorem import mu as mu
    from .theory._theorem import rho as rho
    from .theory._theorem import sigma2 as sigma2

#: Each public name and the module (relative to this package) that defines it.
_PUBLIC = {
    "format_architecture": "._architecture",
    "parse_architecture": "._architecture",
    "DepthscopeError": "._errors",
    "DepthscopeWarning": "._errors",
    "ScreenRow": "._screen",
    "screen": "._screen",
    "ProbeResult": ".probing",
    "TrainingMonitor": ".probing",
    "probe": ".probing",
    "SimulationResult": ".simulation._simulate",
    "simulate": ".simulation._simulate",
    "J": ".theory._jfunctions",
    "bessel_number": ".theory._jfunctions",
    "FixedPoint": ".theory._kernel_maps",
    "InfiniteWidthLaw": ".theory._kernel_maps",
    "fixed_point_chi": ".theory._kernel_maps",
    "infinite_width_law": ".theory._kernel_maps",
    "Prediction": ".theory._predict",
    "predict": ".theory._predict",
    "predict_final": ".theory._predict",
    "predict_layers": ".theory._predict",
    "infinite_width_map": ".theory._theorem",
    "mu": ".theory._theorem",
    "rho": ".theory._theorem",
    "sigma2": ".theory._theorem",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> _typing.Any:
    """Import a public name from its module on first use (then it is a plain attribute)."""
    if name == "__version__":
        value: _typing.Any = _version()
    elif name in _PUBLIC:
        value = getattr(_importlib.import_module(_PUBLIC[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public names, ``__version__`` and the module's dunders (not its submodules)."""
    return sorted({*_PUBLIC, "__version__", *(n for n in globals() if n.startswith("__"))})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("depthscope")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"
