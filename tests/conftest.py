"""Shared test helpers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from depthscope.cli import main


@pytest.fixture
def refused(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], str]:
    """Run the command line on ``argv``; assert status 2 and one short error line; return it."""

    def run(argv: list[str]) -> str:
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
        captured = capsys.readouterr()
        assert code == 2, (argv, captured.err)
        lines = captured.err.splitlines()
        assert len(lines) == 1, captured.err
        assert lines[0].startswith("depthscope: error: ") and len(lines[0]) < 400, lines[0]
        return lines[0]

    return run
