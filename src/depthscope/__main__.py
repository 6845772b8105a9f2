"""``python -m depthscope`` is the same as the ``depthscope`` command."""

import signal
import sys


def _interrupted_early(signum: int, frame: object) -> None:
    """Ctrl-C while the command line is imported: the line and status of ``main``'s own."""
    sys.stderr.write("depthscope: interrupted\n")
    raise SystemExit(130)


signal.signal(signal.SIGINT, _interrupted_early)

from .cli import main  # noqa: E402  (after the handler: importing the CLI imports numpy)

sys.exit(main())
