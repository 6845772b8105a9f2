"""depthscope: predict, measure and explain how deep ReLU networks degenerate at initialization.

The public namespace is a short, hand-picked list; everything else lives in private modules.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

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

try:
    __version__ = _version("depthscope")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"
