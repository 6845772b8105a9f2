"""Reproductions of the published experiments and the effective-dimension claim check.

Each experiment is a module with a pure computation (``compute_*``: arrays and numbers in,
a JSON-ready result out), a report writer and a figure (a ``matplotlib.figure.Figure`` made
with :mod:`depthscope.report._plot`, needs the ``plot`` extra). The command line
(``depthscope reproduce fig1|fig2|fig4``, ``depthscope claims``) calls ``run_*``, which hands
its computation and its outputs to :func:`depthscope.report._output.run_experiment`: figure
(PNG and SVG), ``results.json``, ``report.md``, ``manifest.json``.

The numerical helpers shared by the experiments (the two Kolmogorov-Smirnov variants,
confidence bands, paired direction-change counting) live in :mod:`._stats`.
"""

from __future__ import annotations

__all__: list[str] = []
