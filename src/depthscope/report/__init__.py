"""The only writer of output files.

:mod:`._output`: output folders, strict JSON, the one manifest schema, progress messages and
:func:`~._output.run_experiment` (prepare → compute → render → write → manifest), used by
``reproduce``, ``claims`` and ``bench``. :mod:`._plot`: the object-oriented figure convention
(``matplotlib.figure.Figure`` under the house style, no pyplot). :mod:`._markdown`: tables of
the plain-words reports.
"""
