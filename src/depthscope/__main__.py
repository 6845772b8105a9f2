"""``python -m depthscope`` is the same as the ``depthscope`` command."""

import signal
import sys

from ._interrupt import report_interrupted


def _interrupted_early(signum: int, frame: object) -> None:
    """Ctrl-C while the command line is imported: the line and status of ``main``'s own."""
    raise SystemExit(report_interrupted())


signal.signal(signal.SIGINT, _interrupted_early)

from .cli import main  # noqa: E402  (after the handler: importing the CLI imports numpy)

sys.exit(main())
