"""The command line's answer to Ctrl-C: one line on stderr and exit status 130.

Standard library only, so that ``python -m depthscope`` can use it before anything heavy is
imported (``depthscope.__main__``), as ``depthscope.cli.main`` does afterwards.
"""

from __future__ import annotations

import sys

#: The shell's status for a process ended by SIGINT (128 + 2).
INTERRUPTED_STATUS = 130


def report_interrupted() -> int:
    """Print ``depthscope: interrupted`` to stderr; return :data:`INTERRUPTED_STATUS`."""
    print("depthscope: interrupted", file=sys.stderr)
    return INTERRUPTED_STATUS
