"""The claims of arXiv:2507.07675 as formulas, their static checks, and the verdict rules.

Pure functions: the static checks take the grid of (m, ε); the verdicts take per-configuration
summaries (plain dicts, see :func:`summarize_configuration`) and return
``{"claim", "verdict", "evidence"}``. Nothing here simulates or writes files, so every rule can
be tested on synthetic curves.

Claims (as stated in the paper's abstract and summary, ``docs/theory/effective-dimension.md`` §1):

* C1: E[EDim(ℓ)] = m(1 − ρ^ℓ) + small error, ρ = 1 − 2/π.
* C2: the rank deficit decays geometrically with ratio ρ per layer.
* C3: local maxima ("revivals") at ℓ*_k = (k + ½)π / ln(1/ρ), peak ≈ 79% of m.
* C4: P(|EDim − E EDim| > εm) ≤ 2 exp(−ε² m / 4).
* C5: the oscillations vanish under orthogonal weights or leaky ReLU with large negative slope.
* C6: each layer "projects then thresholds"; the random mask creates new directions and partly
  recovers lost ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._stats import direction_changes, mean_band

__all__ = [
    "CLAIMS",
    "RHO",
    "VERDICTS",
    "configuration_key",
    "predicted_edim",
    "revival_depth",
    "static_checks",
    "summarize_configuration",
    "verdicts",
]

#: ρ = 1 − 2/π as used by the claims.
RHO = 1.0 - 2.0 / math.pi
#: The claimed revival peak height, as a fraction of m.
CLAIMED_PEAK = 0.79
VERDICTS = (
    "reproduced",
    "not reproduced",
    "inconsistent as stated",
    "holds but vacuous",
    "untestable",
)
CLAIMS = {
    "C1": "E[EDim(ℓ)] = m(1 − ρ^ℓ) + small error, ρ = 1 − 2/π ≈ 0.3634",
    "C2": "the rank deficit decays geometrically with ratio ρ per layer "
    "('3× faster than naive exponential models')",
    "C3": "revival local maxima of EDim at ℓ*_k ≈ (k + ½)π / ln(1/ρ), peak height ≈ 79% of m",
    "C4": "P(|EDim − E EDim| > εm) ≤ 2 exp(−ε² m / 4)",
    "C5": "the oscillations vanish under orthogonal initialisation or leaky ReLU with large "
    "negative slopes",
    "C6": "each ReLU layer projects then thresholds; the random mask creates new directions and "
    "partly recovers lost ones",
}
#: C1's "small error": the largest tolerated |measured − predicted| mean, as a fraction of m.
C1_TOLERANCE = 0.05
#: C2: tolerated |measured ratio − ρ|.
C2_TOLERANCE = 0.1
#: A deficit smaller than this (in rank units) counts as no deficit.
DEFICIT_FLOOR = 0.5
#: C3: a measured maximum is "at" ℓ*_k within this many layers, "≈ 79%" within this fraction.
C3_LAYER_TOLERANCE = 1.0
C3_HEIGHT_TOLERANCE = 0.10
#: Metrics examined for oscillations (EDim is the algebraic rank; the others are the soft
#: variants a reader might have meant).
CURVE_METRICS = ("rank", "numerical_rank", "erank", "erank_centered")
#: The claims' regime m ≤ n^(1−δ) with δ unstated: read here as m ≤ n / REGIME_RATIO.
REGIME_RATIO = 4
#: ε grid of the concentration check.
EPSILONS = (0.05, 0.1, 0.2, 0.3, 0.5)


def predicted_edim(m: float, layers: ArrayLike) -> NDArray[np.float64]:
    """C1's prediction m(1 − ρ^ℓ) at the given layers."""
    return np.asarray(m * (1.0 - RHO ** np.asarray(layers, dtype=np.float64)))


def revival_depth(k: int | ArrayLike) -> NDArray[np.float64]:
    """C3's revival depths ℓ*_k = (k + ½)π / ln(1/ρ)."""
    return np.asarray((np.asarray(k, dtype=np.float64) + 0.5) * math.pi / math.log(1.0 / RHO))


def c4_bound(m: ArrayLike, epsilon: ArrayLike) -> NDArray[np.float64]:
    """C4's bound 2 exp(−ε² m / 4)."""
    m_, e_ = np.asarray(m, dtype=np.float64), np.asarray(epsilon, dtype=np.float64)
    return np.asarray(2.0 * np.exp(-(e_**2) * m_ / 4.0))


def static_checks(ms: Sequence[int], epsilons: Sequence[float] = EPSILONS) -> dict[str, Any]:
    """Evaluate the claimed formulas before measuring anything.

    Returns
    -------
    dict
        ``rho``; ``value_at_layer_0`` (as a fraction of m: 0, whereas m generic inputs have
        rank m); ``monotone_increasing`` (checked on ℓ ∈ [0, 100] and analytically: the
        derivative −m ρ^ℓ ln ρ > 0), hence ``has_local_maximum``; ``revival_depths`` ℓ*_0..ℓ*_2;
        ``fraction_at_revival`` m(1 − ρ^ℓ*_k)/m; ``claimed_peak``; ``c4``: per m the largest ε
        for which the bound is ≥ 1 (vacuous), ``sqrt(4 ln 2 / m)``, and the bound on the grid.
    """
    ell = np.linspace(0.0, 100.0, 100_001)
    curve = predicted_edim(1.0, ell)
    monotone = bool(np.all(np.diff(curve) >= 0.0)) and (-math.log(RHO) > 0)
    depths = revival_depth(np.arange(3))
    c4: dict[str, dict[str, Any]] = {
        str(m): {
            "vacuous_for_epsilon_up_to": math.sqrt(4.0 * math.log(2.0) / m),
            "bound": {str(e): float(c4_bound(m, e)) for e in epsilons},
            "vacuous": {str(e): bool(c4_bound(m, e) >= 1.0) for e in epsilons},
        }
        for m in ms
    }
    n_cells = len(ms) * len(epsilons)
    n_vacuous = sum(v for entry in c4.values() for v in entry["vacuous"].values())
    return {
        "rho": RHO,
        "value_at_layer_0": float(predicted_edim(1.0, 0.0)),
        "monotone_increasing": monotone,
        "has_local_maximum": not monotone,
        "revival_depths": depths.tolist(),
        "fraction_at_revival": predicted_edim(1.0, depths).tolist(),
        "claimed_peak": CLAIMED_PEAK,
        "c4": c4,
        "c4_vacuous_cells": f"{n_vacuous} of {n_cells}",
    }


def summarize_configuration(
    label: dict[str, Any], panel: dict[str, NDArray[np.float64]], *, alpha: float = 0.05
) -> dict[str, Any]:
    """Reduce one configuration's per-network panel to what the verdicts need.

    Parameters
    ----------
    label : dict
        ``variant``, ``inputs``, ``n``, ``m`` (and anything else to carry along).
    panel : dict of str to ndarray, shape (L+1, N)
        Per-layer, per-network metrics (names of ``PANEL_METRICS``).
    alpha : float
        Family-wise level of the direction-change tests.

    Returns
    -------
    dict
        ``label`` entries, ``networks``, per metric ``mean``/``lo``/``hi`` (95% band of the
        mean) and ``sd``; ``changes``/``signs`` per curve metric; ``rank_exceedance``: per ε
        the largest, over layers, fraction of networks with |rank − mean rank| > εm.
    """
    m = int(label["m"])
    out: dict[str, Any] = dict(label)
    out["networks"] = int(next(iter(panel.values())).shape[1])
    out["metrics"] = {}
    for name, values in panel.items():
        band = mean_band(values)
        out["metrics"][name] = {k: band[k] for k in ("mean", "lo", "hi", "sd")}
    out["changes"] = {}
    for name in CURVE_METRICS:
        dc = direction_changes(panel[name], alpha=alpha)
        out["changes"][name] = {"changes": dc["changes"], "signs": dc["signs"]}
    rank = panel["rank"]
    deviation = np.abs(rank - np.nanmean(rank, axis=1, keepdims=True))
    out["rank_exceedance"] = {
        str(e): float(np.nanmax(np.mean(deviation > e * m, axis=1))) for e in EPSILONS
    }
    out["rank_max_sd"] = float(np.nanmax(np.nanstd(rank, axis=1)))
    return out


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------
def _verdict(claim: str, verdict: str, evidence: dict[str, Any]) -> dict[str, Any]:
    assert verdict in VERDICTS
    return {"claim": CLAIMS[claim], "verdict": verdict, "evidence": evidence}


def configuration_key(s: dict[str, Any]) -> str:
    """Name of a configuration: ``variant/inputs/n=N/m=M`` (its task key and its seed's label)."""
    return f"{s['variant']}/{s['inputs']}/n={s['n']}/m={s['m']}"


def _baseline(
    summaries: Sequence[dict[str, Any]], inputs: str = "gaussian"
) -> list[dict[str, Any]]:
    return [s for s in summaries if s["variant"] == "relu_he" and s["inputs"] == inputs]


def verdict_c1(summaries: Sequence[dict[str, Any]], static: dict[str, Any]) -> dict[str, Any]:
    """C1: the measured mean rank (ReLU He, Gaussian inputs) against m(1 − ρ^ℓ)."""
    errors: dict[str, float] = {}
    best_other: dict[str, tuple[str, float]] = {}
    for s in _baseline(summaries):
        m = s["m"]
        layers = np.arange(len(s["metrics"]["rank"]["mean"]))
        predicted = predicted_edim(m, layers)
        err = np.abs(s["metrics"]["rank"]["mean"] - predicted)[1:] / m
        errors[configuration_key(s)] = float(np.max(err))
        others = {
            name: float(np.max(np.abs(s["metrics"][name]["mean"] - predicted)[1:]) / m)
            for name in CURVE_METRICS[1:]
        }
        name = min(others, key=others.__getitem__)
        best_other[configuration_key(s)] = (name, others[name])
    if not errors:
        return _verdict("C1", "untestable", {"reason": "no ReLU/He Gaussian-input measurement"})
    worst = max(errors.values())
    some = next(s for s in _baseline(summaries))
    evidence = {
        "tolerance_fraction_of_m": C1_TOLERANCE,
        "max_abs_error_fraction_of_m": errors,
        "closest_soft_metric": {
            k: {"metric": v[0], "max_abs_error_fraction_of_m": v[1]} for k, v in best_other.items()
        },
        "example": {
            "configuration": configuration_key(some),
            "measured_rank_layers_0_1_2": [float(v) for v in some["metrics"]["rank"]["mean"][:3]],
            "predicted_layers_0_1_2": predicted_edim(some["m"], np.arange(3)).tolist(),
        },
        "static_value_at_layer_0": static["value_at_layer_0"],
    }
    verdict = "reproduced" if worst <= C1_TOLERANCE else "not reproduced"
    return _verdict("C1", verdict, evidence)


def verdict_c2(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """C2: ratio of consecutive rank deficits m − E rank against ρ."""
    ratios: dict[str, float | None] = {}
    max_deficit: dict[str, float] = {}
    for s in _baseline(summaries):
        deficit = s["m"] - np.asarray(s["metrics"]["rank"]["mean"])
        max_deficit[configuration_key(s)] = float(np.max(deficit[1:]))
        ok = (deficit[:-1] > DEFICIT_FLOOR) & (deficit[1:] > DEFICIT_FLOOR)
        ratios[configuration_key(s)] = (
            float(np.median(deficit[1:][ok] / deficit[:-1][ok])) if ok.any() else None
        )
    if not ratios:
        return _verdict("C2", "untestable", {"reason": "no ReLU/He Gaussian-input measurement"})
    measured = [r for r in ratios.values() if r is not None]
    evidence = {
        "rho": RHO,
        "predicted_deficit_layer_1_fraction_of_m": RHO,
        "max_measured_deficit_after_layer_0": max_deficit,
        "median_deficit_ratio": ratios,
        "deficit_floor": DEFICIT_FLOOR,
        "note": "'3× faster than naive exponential models' names no baseline: untestable part",
    }
    if not measured:
        return _verdict("C2", "not reproduced", evidence)
    good = all(abs(r - RHO) <= C2_TOLERANCE for r in measured)
    return _verdict("C2", "reproduced" if good else "not reproduced", evidence)


def _local_maxima(signs: Sequence[int]) -> list[int]:
    """Layers where a significant rise is followed (zeros skipped) by a significant fall."""
    maxima, last_up = [], None
    for step, sign in enumerate(signs):
        if sign > 0:
            last_up = step
        elif sign < 0 and last_up is not None:
            maxima.append(last_up + 1)
            last_up = None
    return maxima


def verdict_c3(summaries: Sequence[dict[str, Any]], static: dict[str, Any]) -> dict[str, Any]:
    """C3: measured local maxima near ℓ*_k with height ≈ 79% m; and the formula's own shape."""
    depths = np.asarray(static["revival_depths"])
    curves, oscillating, matches = 0, [], []
    for s in summaries:
        if s["variant"] != "relu_he":
            continue
        for name in CURVE_METRICS:
            curves += 1
            entry = s["changes"][name]
            if entry["changes"] >= 2:
                oscillating.append(f"{configuration_key(s)}/{name}")
            for layer in _local_maxima(entry["signs"]):
                height = float(s["metrics"][name]["mean"][layer]) / s["m"]
                near = np.min(np.abs(depths - layer)) <= C3_LAYER_TOLERANCE
                if near and abs(height - CLAIMED_PEAK) <= C3_HEIGHT_TOLERANCE:
                    matches.append(
                        {
                            "curve": f"{configuration_key(s)}/{name}",
                            "layer": layer,
                            "height_fraction_of_m": height,
                        }
                    )
    evidence = {
        "revival_depths": depths.tolist(),
        "formula_fraction_at_revival_depths": static["fraction_at_revival"],
        "formula_monotone_increasing": static["monotone_increasing"],
        "curves_examined": curves,
        "oscillating_curves": len(oscillating),
        "oscillating": oscillating[:20],
        "maxima_matching_claim": matches[:20],
    }
    if matches and oscillating:
        verdict = "reproduced"
    elif not static["has_local_maximum"]:
        verdict = "inconsistent as stated"
    else:
        verdict = "not reproduced"
    return _verdict("C3", verdict, evidence)


def verdict_c4(summaries: Sequence[dict[str, Any]], static: dict[str, Any]) -> dict[str, Any]:
    """C4: measured P(|rank − mean| > εm) against 2 exp(−ε²m/4), and where that bound is ≥ 1."""
    violations, informative_nonzero = [], []
    for s in summaries:
        for eps, freq in s["rank_exceedance"].items():
            bound = float(c4_bound(s["m"], float(eps)))
            if freq > bound:
                violations.append(
                    {
                        "configuration": configuration_key(s),
                        "epsilon": float(eps),
                        "measured": freq,
                        "bound": bound,
                    }
                )
            if bound < 1.0 and freq > 0.0:
                informative_nonzero.append(configuration_key(s))
    max_sd = max((s["rank_max_sd"] for s in summaries), default=float("nan"))
    evidence = {
        "epsilons": list(EPSILONS),
        "vacuous_for_epsilon_up_to": {
            m: v["vacuous_for_epsilon_up_to"] for m, v in static["c4"].items()
        },
        "vacuous_cells": static["c4_vacuous_cells"],
        "violations": violations[:20],
        "largest_sd_of_rank_over_networks": max_sd,
        "configurations_with_deviations_where_bound_below_1": sorted(set(informative_nonzero)),
    }
    if not summaries:
        return _verdict("C4", "untestable", {"reason": "no measurement"})
    if violations:
        return _verdict("C4", "not reproduced", evidence)
    verdict = "holds but vacuous" if not informative_nonzero else "reproduced"
    return _verdict("C4", verdict, evidence)


def _oscillating_count(summaries: Sequence[dict[str, Any]], variant: str) -> tuple[int, int]:
    picked = [s for s in summaries if s["variant"] == variant]
    total = len(picked) * len(CURVE_METRICS)
    count = sum(s["changes"][name]["changes"] >= 2 for s in picked for name in CURVE_METRICS)
    return int(count), total


def verdict_c5(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """C5: oscillation counts of the ReLU baseline vs orthogonal and large-negative-slope leaky."""
    base = _oscillating_count(summaries, "relu_he")
    variants = {
        v: _oscillating_count(summaries, v) for v in ("orthogonal", "leaky_-0.5", "leaky_-1")
    }
    evidence = {
        "oscillating_curves_relu_he": f"{base[0]} of {base[1]}",
        **{f"oscillating_curves_{v}": f"{c} of {t}" for v, (c, t) in variants.items()},
    }
    if base[1] == 0 or all(t == 0 for _, t in variants.values()):
        return _verdict("C5", "untestable", {**evidence, "reason": "missing variants"})
    vanish = all(c == 0 for c, _ in variants.values())
    if base[0] == 0:
        verdict = "holds but vacuous" if vanish else "not reproduced"
    else:
        verdict = "reproduced" if vanish else "not reproduced"
    return _verdict("C5", verdict, evidence)


def verdict_c6(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """C6: new directions (rank gain on rank-deficient inputs) and recovery of lost ones."""
    gains = {}
    for s in _baseline(summaries, "rank_deficient"):
        rank = s["metrics"]["rank"]
        gains[configuration_key(s)] = {
            "rank_layer_0": float(rank["mean"][0]),
            "rank_layer_1": float(rank["mean"][1]),
            "significant": bool(rank["lo"][1] > rank["hi"][0]),
        }
    recoveries = []
    for s in summaries:
        if s["variant"] != "relu_he":
            continue
        for name in CURVE_METRICS:
            signs = [x for x in s["changes"][name]["signs"] if x != 0]
            if -1 in signs and 1 in signs[signs.index(-1) :]:
                recoveries.append(f"{configuration_key(s)}/{name}")
    creates = bool(gains) and all(g["significant"] for g in gains.values())
    evidence = {
        "new_directions_from_rank_deficient_inputs": gains,
        "curves_with_a_significant_rise_after_a_fall": len(recoveries),
        "examples": recoveries[:20],
    }
    if not gains:
        return _verdict("C6", "untestable", {**evidence, "reason": "no rank-deficient inputs"})
    verdict = "reproduced" if creates and recoveries else "not reproduced"
    return _verdict("C6", verdict, evidence)


def in_regime(summary: dict[str, Any]) -> bool:
    """Whether a configuration is in the claims' regime m ≤ n^(1−δ), read as m ≤ n/4."""
    return bool(summary["m"] * REGIME_RATIO <= summary["n"])


def verdicts(summaries: Sequence[dict[str, Any]], static: dict[str, Any]) -> dict[str, Any]:
    """All six verdicts, keyed ``C1`` … ``C6``, from the configurations in the claims' regime.

    Configurations with m > n/4 (outside m ≤ n^(1−δ)) are measured and reported but not used;
    each verdict's evidence says how many were used and which were left out.
    """
    used = [s for s in summaries if in_regime(s)]
    left_out = [configuration_key(s) for s in summaries if not in_regime(s)]
    out = {
        "C1": verdict_c1(used, static),
        "C2": verdict_c2(used),
        "C3": verdict_c3(used, static),
        "C4": verdict_c4(used, static),
        "C5": verdict_c5(used),
        "C6": verdict_c6(used),
    }
    for verdict in out.values():
        verdict["evidence"]["regime"] = f"m ≤ n/{REGIME_RATIO}"
        verdict["evidence"]["configurations_used"] = len(used)
        verdict["evidence"]["left_out_outside_regime"] = sorted(set(left_out))
    return out
