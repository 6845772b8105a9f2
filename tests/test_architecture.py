"""Tests of the architecture notation: valid forms, and every type or size abuse refused."""

from __future__ import annotations

import numpy as np
import pytest

import depthscope as ds
from depthscope._architecture import MAX_DEPTH, MAX_WIDTH, short_repr


@pytest.mark.parametrize(
    ("spec", "widths"),
    [
        ("256x3", (256, 256, 256)),
        ("100x2,50", (100, 100, 50)),
        (" 7 * 2 , 3 ", (7, 7, 3)),
        ([4, 5], (4, 5)),
        ((4, 5.0), (4, 5)),
        (range(3, 6), (3, 4, 5)),
        (np.array([8, 9], dtype=np.int32), (8, 9)),
        (np.array([8.0]), (8,)),
    ],
)
def test_valid_forms(spec: object, widths: tuple[int, ...]) -> None:
    assert ds.parse_architecture(spec) == widths  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "spec",
    [b"10x3", bytearray(b"10"), {10: 1, 20: 2}, {10, 20}, frozenset({3}), 10, 2.5, None],
)
def test_types_that_are_not_architectures_raise_type_error(spec: object) -> None:
    # Before: b"10x3" became widths (49, 48, 120, 51) and a dict or set was accepted.
    with pytest.raises(TypeError, match="architecture"):
        ds.parse_architecture(spec)  # type: ignore[arg-type]


@pytest.mark.parametrize("entry", [True, "10", None, 1 + 2j, [3]])
def test_entries_that_are_not_numbers_raise_type_error(entry: object) -> None:
    with pytest.raises(TypeError, match="width of type"):
        ds.parse_architecture([10, entry])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "spec",
    [
        [float("inf")],
        [float("nan")],
        [2.5],
        [0],
        [-3],
        [],
        "",
        "10x0",
        "0x3",
        "10,,3",
        "١٠x3",
        "10x",
    ],
)
def test_bad_values_raise_depthscope_error(spec: object) -> None:
    # Before: [inf] raised OverflowError and unicode digits '١٠' were read as 10.
    with pytest.raises(ds.DepthscopeError):
        ds.parse_architecture(spec)  # type: ignore[arg-type]


def test_depth_limit_is_checked_before_expanding() -> None:
    # Before: "10x1000000" expanded a million widths and predict ran for more than 40 s.
    ds.parse_architecture(f"3x{MAX_DEPTH}")
    with pytest.raises(ds.DepthscopeError, match=f"at most {MAX_DEPTH}"):
        ds.parse_architecture(f"10x{MAX_DEPTH + 1}")
    with pytest.raises(ds.DepthscopeError, match=f"at most {MAX_DEPTH}"):
        ds.parse_architecture("10x" + "9" * 30)  # would not fit in memory if expanded
    with pytest.raises(ds.DepthscopeError, match=f"at most {MAX_DEPTH}"):
        ds.parse_architecture([3] * (MAX_DEPTH + 1))


def test_width_limit() -> None:
    assert ds.parse_architecture([MAX_WIDTH]) == (MAX_WIDTH,)
    with pytest.raises(ds.DepthscopeError, match="width"):
        ds.parse_architecture(f"{MAX_WIDTH + 1}x2")


def test_messages_echo_input_in_one_short_line() -> None:
    huge = "1," * 50_000 + "oops"
    with pytest.raises(ds.DepthscopeError) as info:
        ds.parse_architecture(huge)
    message = str(info.value)
    assert "\n" not in message
    assert len(message) < 400
    assert short_repr("x" * 1000).endswith("...")
    assert len(short_repr("x" * 1000)) == 60
