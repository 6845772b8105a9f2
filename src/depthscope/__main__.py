"""``python -m depthscope`` is the same as the ``depthscope`` command."""

import sys

from .cli import main

sys.exit(main())
