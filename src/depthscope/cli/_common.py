"""Pieces shared by the subcommands: the parser, argument types and the command line run.

Every numeric option is parsed by one of the ``type=`` helpers below, so a bad value is refused
by the parser (one line, exit status 2) before anything is computed or written.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from typing import Any

from .._architecture import short_repr
from .._errors import MAX_NETWORK_SCALE, MAX_Q0, MIN_Q0, MIN_WEIGHT_STD, DepthscopeError

__all__ = [
    "MAX_SEED",
    "add_command",
    "add_engine_arguments",
    "angle",
    "bias_std",
    "command_line",
    "engine_arguments",
    "finite_float",
    "input_scale",
    "mebibytes",
    "nonneg_float",
    "nonneg_int",
    "nonneg_seed",
    "one_line",
    "positive_float",
    "positive_int",
    "residual_block",
    "short_path",
    "weight_std",
]

#: Seeds are integers in [0, MAX_SEED): what numpy's generators and torch both accept.
MAX_SEED = 2**63
#: The longest error line the command line prints (characters).
MAX_MESSAGE = 300


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line (whitespace runs collapsed), cut to ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _integer(text: str, what: str) -> int:
    """Parse an ASCII decimal integer (no unicode digits, no underscores, no float forms)."""
    stripped = text.strip()
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    if not (body.isascii() and body.isdigit()) or len(body) > 30:
        raise argparse.ArgumentTypeError(f"expected {what}, got {short_repr(text)}")
    return int(stripped)


def positive_int(text: str) -> int:
    """Argument type: an integer ≥ 1 (network counts, sizes)."""
    value = _integer(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {short_repr(text)}")
    return value


def nonneg_seed(text: str) -> int:
    """Argument type: a seed, an integer in [0, 2**63)."""
    value = _integer(text, "a seed (an integer in [0, 2**63))")
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"expected a seed (an integer in [0, 2**63)), got {short_repr(text)}"
        )
    return value


def finite_float(text: str) -> float:
    """Argument type: a finite real number (no NaN, no ±inf, no overflow to inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {short_repr(text)}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {short_repr(text)}")
    return value


def nonneg_float(text: str) -> float:
    """Argument type: a finite number ≥ 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {short_repr(text)}")
    return value


def positive_float(text: str) -> float:
    """Argument type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {short_repr(text)}")
    return value


def mebibytes(text: str) -> float:
    """Argument type: a memory size in MiB, a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of MiB, got {short_repr(text)}"
        )
    return value


def short_path(path: object, limit: int = 60) -> str:
    """Quote a file name for a message, cut at the front to ``limit`` characters (end kept)."""
    text = repr(str(path))
    return text if len(text) <= limit else "'..." + text[-(limit - 4) :]


def angle(text: str) -> float:
    """Argument type: an angle in radians, a finite number in [0, π].

    Whether the end points are allowed is the predictor's decision (it explains its refusal).
    """
    value = finite_float(text)
    if not 0.0 <= value <= math.pi:
        raise argparse.ArgumentTypeError(f"{short_repr(text)} is outside [0, π] (radians)")
    return value


def add_command(
    subparsers: Any, name: str, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` with its one-line help, description and examples epilog."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def command_line(args: argparse.Namespace) -> list[str]:
    """Return the command line that was run (for manifests): ``depthscope`` and its arguments.

    :func:`depthscope.cli.main` stores the arguments it parsed on ``args``; a namespace made
    elsewhere gives the subcommand's name only.
    """
    return ["depthscope", *getattr(args, "argv", [args.command])]


def add_engine_arguments(parser: argparse.ArgumentParser, *, default: str) -> None:
    """Add ``--scheduler ADDRESS``, ``--workers N`` and ``--serial`` (the engine of a long command).

    ``default`` says in the help what runs when neither is given (the command decides).
    """
    engine = parser.add_mutually_exclusive_group()
    engine.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786"
    )
    engine.add_argument(
        "--workers",
        type=nonneg_int,
        metavar="N",
        help=f"local Dask worker processes (0: serial, no Dask; default: {default})",
    )
    engine.add_argument("--serial", action="store_true", help="same as --workers 0")


def engine_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """``workers`` and ``scheduler`` keywords from :func:`add_engine_arguments`'s options."""
    return {"workers": 0 if args.serial else args.workers, "scheduler": args.scheduler}


def nonneg_int(text: str) -> int:
    """Argument type: an integer ≥ 0 (worker counts: 0 means serial)."""
    value = _integer(text, "an integer ≥ 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {short_repr(text)}")
    return value


#: The network keywords shared by ``predict``, ``simulate``, ``screen`` (one spelling).
NETWORK_KEYWORDS = ("activation", "weight_std", "bias_std", "q0", "residual")


def add_network_arguments(parser: argparse.ArgumentParser, title: str) -> None:
    """Add ``--activation --weight-std --bias-std --q0 --residual`` (defaults: He ReLU)."""
    group = parser.add_argument_group(title)
    group.add_argument(
        "--activation",
        type=activation_name,
        default="relu",
        help="relu (default), leaky:S, abs, tanh, erf, gelu, silu",
    )
    group.add_argument(
        "--weight-std", type=weight_std, default=math.sqrt(2.0), help="σ_w (default √2, He)"
    )
    group.add_argument("--bias-std", type=bias_std, default=0.0, help="σ_b (default 0)")
    group.add_argument("--q0", type=input_scale, default=1.0, help="‖x‖²/n0 (default 1)")
    group.add_argument(
        "--residual",
        type=residual_block,
        default=None,
        help="residual blocks h + α·V φ(W h + b), e.g. block:0.5",
    )


def _within(value: float, text: str, low: float, high: float) -> float:
    """``value`` if in [low, high] (the network keywords' ranges, ``depthscope._errors``)."""
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(
            f"expected a number in [{low:g}, {high:g}], got {short_repr(text)}"
        )
    return value


def weight_std(text: str) -> float:
    """Argument type: σ_w, a number in [MIN_WEIGHT_STD, MAX_NETWORK_SCALE] (1e-6 to 1e6)."""
    return _within(positive_float(text), text, MIN_WEIGHT_STD, MAX_NETWORK_SCALE)


def bias_std(text: str) -> float:
    """Argument type: σ_b, a number in [0, MAX_NETWORK_SCALE]."""
    return _within(nonneg_float(text), text, 0.0, MAX_NETWORK_SCALE)


def input_scale(text: str) -> float:
    """Argument type: the inputs' ‖x‖²/n0, a number in [MIN_Q0, MAX_Q0] (1e-100 to 1e100)."""
    return _within(positive_float(text), text, MIN_Q0, MAX_Q0)


def activation_name(text: str) -> str:
    """Argument type: an activation name, returned as given.

    Read by the one parser (``theory._activations.parse_activation``), so that a refusal names
    the flag.
    """
    from ..theory._activations import parse_activation

    try:
        parse_activation(text)
    except DepthscopeError as error:
        raise argparse.ArgumentTypeError(str(error).rstrip(".")) from None
    return text


def residual_block(text: str) -> str:
    """Argument type: ``block:ALPHA``, α a number in [0, MAX_NETWORK_SCALE]; returned as given.

    Read by the one parser of the residual block (``theory._kernel_maps.parse_residual``), so
    the command line accepts what the functions document, and names the flag when it refuses.
    """
    from ..theory._kernel_maps import parse_residual

    try:
        parse_residual(text)
    except DepthscopeError as error:
        hint = str(error).rstrip(".")
        with contextlib.suppress(ValueError):  # a bare α: say how to write it
            if math.isfinite(float(text)):
                hint = f"expected block:ALPHA, e.g. block:{float(text):g}, got {short_repr(text)}"
        raise argparse.ArgumentTypeError(hint) from None
    return text


def network_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Return the network keywords of :func:`add_network_arguments` from parsed ``args``."""
    return {name: getattr(args, name) for name in NETWORK_KEYWORDS}
