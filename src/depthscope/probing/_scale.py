"""Exact rescaling of features by a power of two, so that their products cannot overflow.

The probe's metrics are scale-free: a batch of magnitude 1e±160 has the metrics of the same
batch at magnitude 1, instead of Gram entries that overflow to inf or underflow to 0.
"""

from __future__ import annotations

import math

__all__ = ["SAFE_EXPONENT", "power_of_two_scale"]

#: Features whose largest magnitude lies outside [2⁻⁴⁰⁰, 2⁴⁰⁰] are rescaled by a power of two
#: (exact) before any product is formed: their Gram entries would underflow or overflow. Every
#: metric of the panel and ln sin²θ are scale-free, so nothing else changes; values inside the
#: range are left as they are, bit for bit.
SAFE_EXPONENT = 400


def power_of_two_scale(largest: float) -> tuple[float, ...] | None:
    """Factors that bring ``largest`` (a max-magnitude) into [1, 2); None if it is not finite.

    Empty when no rescaling is needed (``largest`` is 0 or within 2^±``SAFE_EXPONENT``).
    Powers of two: multiplying by them is exact, so the scale-free metrics are unchanged. Two
    factors, as one power of two may not be representable (a subnormal ``largest``).
    """
    if not math.isfinite(largest):
        return None
    if largest == 0.0 or abs(math.frexp(largest)[1]) <= SAFE_EXPONENT:
        return ()
    exponent = -math.frexp(largest)[1] + 1
    half = exponent // 2
    return (math.ldexp(1.0, half), math.ldexp(1.0, exponent - half))
