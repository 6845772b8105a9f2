"""Depth-50 prediction time of the general-network closure, per network class (goal ≤ 10 ms).

Run: ``python benchmarks/bench_predict_general.py``; prints the median of 20 calls per class and
the machine's load average (timings on a shared machine are only comparable at similar load).
"""

from __future__ import annotations

import math
import os
import time
import warnings

import depthscope as ds

CLASSES = {
    "leaky:0.1": {"activation": "leaky:0.1"},
    "relu σb=0.3": {"bias_std": 0.3},
    "tanh σw²=1.5": {"activation": "tanh", "weight_std": math.sqrt(1.5)},
    "erf σw=1.4 σb=0.1": {"activation": "erf", "weight_std": 1.4, "bias_std": 0.1},
    "gelu σw²=1.5": {"activation": "gelu", "weight_std": math.sqrt(1.5)},
    "gelu (He)": {"activation": "gelu"},
    "gelu σb=0.1": {"activation": "gelu", "bias_std": 0.1},
    "silu σb=0.1": {"activation": "silu", "bias_std": 0.1},
    "relu block:0.5": {"residual": "block:0.5", "weight_std": 1.0},
    "tanh block:0.5": {"activation": "tanh", "residual": "block:0.5", "weight_std": 1.0},
}


def main() -> None:
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    for name, kwargs in CLASSES.items():
        times = []
        for _ in range(20):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ds.DepthscopeWarning)
                ds.predict([256] * 50, 1.0, **kwargs)
            times.append(time.perf_counter() - start)
        times.sort()
        print(
            f"{name:18s} depth 50: median {1e3 * times[10]:6.2f} ms, best {1e3 * times[0]:6.2f} ms"
        )


if __name__ == "__main__":
    main()
