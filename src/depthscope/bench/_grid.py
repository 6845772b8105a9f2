"""The documented grid of architectures that ``depthscope bench`` trains.

Every architecture is a bias-free ReLU MLP given by its hidden widths n_1, ..., n_L; the input
layer (the dataset's dimension) and the final 10-way linear layer are added by the trainer.

The grid is the paper's six demo shapes (Jakub & Nica, Figure 3 notebooks) plus a product of
seven widths and six depths chosen to span 8–512 and 1–50 on a roughly logarithmic scale, so
that it holds shallow-and-wide networks that train well, deep-and-narrow ones whose angle
collapses at initialization, and everything in between:

* widths 8, 16, 32, 64, 128, 256, 512;
* depths 1, 3, 6, 12, 25, 50 (number of hidden layers);
* demo shapes [85]×2, [100]×10, [30]×15, [15]×30, [75]×35, [50]×50.

Three products are left out because one CPU epoch of them costs more than the rest of a
seed together (over 3 million weights): [512]×25, [512]×50 and [256]×50.  That is
6 + 7 × 6 − 3 = 45 architectures, as many as the paper's Figure 3.
The quick grid (``--quick``) keeps eight of them, from a healthy shallow network
to a degenerate deep narrow one.
"""

from __future__ import annotations

from .._architecture import format_architecture

__all__ = [
    "DEMO_SHAPES",
    "EXCLUDED",
    "FULL_DEPTHS",
    "FULL_WIDTHS",
    "QUICK_GRID",
    "full_grid",
    "names",
    "quick_grid",
]

#: The six architectures shown in the paper's notebooks (hidden widths).
DEMO_SHAPES: tuple[tuple[int, ...], ...] = (
    (85,) * 2,
    (100,) * 10,
    (30,) * 15,
    (15,) * 30,
    (75,) * 35,
    (50,) * 50,
)
#: Widths of the product part of the grid.
FULL_WIDTHS: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
#: Depths (hidden layers) of the product part of the grid.
FULL_DEPTHS: tuple[int, ...] = (1, 3, 6, 12, 25, 50)
#: Products left out of the full grid (too costly on a CPU; see the module docstring).
EXCLUDED: tuple[tuple[int, ...], ...] = ((512,) * 25, (512,) * 50, (256,) * 50)
#: The quick grid: eight architectures, shallow-wide to deep-narrow.
QUICK_GRID: tuple[tuple[int, ...], ...] = (
    (85,) * 2,
    (64,) * 3,
    (100,) * 10,
    (32,) * 12,
    (30,) * 15,
    (16,) * 25,
    (15,) * 30,
    (8,) * 50,
)


def full_grid() -> list[tuple[int, ...]]:
    """Return the 45 architectures of the full grid (demo shapes first, no duplicates).

    Returns
    -------
    list of tuple of int
        Hidden widths of each architecture.

    Examples
    --------
    >>> grid = full_grid()
    >>> len(grid), grid[0]
    (45, (85, 85))
    """
    grid = list(DEMO_SHAPES)
    for depth in FULL_DEPTHS:
        for width in FULL_WIDTHS:
            widths = (width,) * depth
            if widths not in grid and widths not in EXCLUDED:
                grid.append(widths)
    return grid


def quick_grid() -> list[tuple[int, ...]]:
    """Return the eight architectures of the quick grid (``depthscope bench --quick``)."""
    return list(QUICK_GRID)


def names(grid: list[tuple[int, ...]]) -> list[str]:
    """Return the compact names (``"100x10"``) of the architectures in ``grid``."""
    return [format_architecture(widths) for widths in grid]
