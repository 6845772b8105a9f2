"""Benchmark of depthscope.simulate's torch backend on a CUDA GPU, all numbers in one process.

1. Figure-1 workload (5000 networks, 31 layers of width 256, θ₀ = 0.1): the numpy Gram chain
   on one CPU core, the same chain on the GPU (``device="cuda"``), and the fair GPU baseline:
   explicit float32 He weight matrices drawn and multiplied on the GPU (batched matmuls).
2. The issue's large run: 100,000 networks of 50 layers of width 1024, θ₀ = 0.3, on the GPU,
   with the layer-50 mean and sd beside the default predictor's.
3. The effective-dimension panel (m = 64, width 1024, 200 networks, 50 layers): numpy on the
   CPU against the GPU.
4. Beyond ReLU (issue 16): 4000 networks of 50 layers of width 256, θ₀ = 1, for leaky ReLU,
   tanh, GELU and erf (with and without biases) and residual blocks: numpy on one CPU core
   against the torch backend on the GPU, with the layer-50 means of both and the standard
   error of their difference (independent seeds).

Run on a machine with CUDA: ``python benchmarks/bench_gpu.py [--quick]``. Without CUDA it
says so and exits 0 (CI never has a GPU).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numpy as np

import depthscope as ds
from depthscope.simulation._simulate import simulate


def dense_float32_cuda(torch, n_networks: int, width: int, depth: int, theta0: float) -> float:
    """Explicit float32 He weights on the GPU, batched over networks; returns seconds."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    batch = 500
    torch.cuda.synchronize()
    start = time.perf_counter()
    for first in range(0, n_networks, batch):
        k = min(batch, n_networks - first)
        h = torch.zeros((k, width, 2), device="cuda")
        h[:, 0, 0] = 1.0
        h[:, 0, 1], h[:, 1, 1] = math.cos(theta0), math.sin(theta0)
        for _ in range(depth):
            w = torch.randn((k, width, width), generator=gen, device="cuda")
            h = torch.relu(torch.bmm(w * math.sqrt(2.0 / width), h))
        _ = (h[..., 0] * h[..., 1]).sum(dim=1)
    torch.cuda.synchronize()
    return time.perf_counter() - start


def timed(torch, func) -> tuple[float, object]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = func()
    torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shrink every workload 10x")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed: nothing to benchmark")
        return
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to benchmark")
        return
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except ImportError:
        pass
    scale = 10 if args.quick else 1
    print(
        f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPU cores ({platform.machine()}), depthscope {ds.__version__}"
    )

    n_net, width, depth, theta0 = 5000 // scale, 256, 31, 0.1
    simulate([width] * 3, theta0=theta0, n_networks=64, rng=0, device="cuda")  # warm-up
    cpu, _ = timed(torch, lambda: simulate([width] * depth, theta0=theta0, n_networks=n_net, rng=1))
    gpu, res = timed(
        torch,
        lambda: simulate([width] * depth, theta0=theta0, n_networks=n_net, rng=1, device="cuda"),
    )
    dense_float32_cuda(torch, 500, width, 2, theta0)  # warm-up
    dense = dense_float32_cuda(torch, n_net, width, depth, theta0)
    last = res.ln_sin2[-1]
    print(f"Figure-1 workload: {n_net} networks x {depth} layers x width {width}, theta0={theta0}")
    print(f"  gram chain, numpy, 1 CPU core:           {cpu:8.3f} s")
    print(f"  gram chain, torch float64 on the GPU:    {gpu:8.3f} s   ({cpu / gpu:.1f}x the CPU)")
    print(f"  dense float32 He weights on the GPU:     {dense:8.3f} s")
    print(f"  gram chain GPU vs dense GPU:             {dense / gpu:8.1f}x")
    print(f"  layer {depth - 1}: mean {last.mean():.3f}, sd {last.std(ddof=1):.3f}")

    big = 100_000 // scale
    seconds, res = timed(
        torch,
        lambda: simulate([1024] * 50, theta0=0.3, n_networks=big, rng=1, device="cuda"),
    )
    pred = ds.predict([1024] * 50, 0.3)
    last = res.ln_sin2[-1]
    se = last.std(ddof=1) / math.sqrt(len(last))
    print(f"1024x50, theta0 = 0.3, {big} networks on the GPU: {seconds:8.2f} s")
    print(
        f"  layer 50: measured mean {last.mean():.4f} ± {se:.4f} (se), sd {last.std(ddof=1):.4f}; "
        f"predicted (markov) mean {pred.mean[-1]:.4f}, sd {pred.sd[-1]:.4f}"
    )

    m, n, nets, layers = 64, 1024, 200 // scale, 50
    cpu, _ = timed(
        torch, lambda: simulate([n] * layers, inputs=m, n_networks=nets, rng=0, input_dim=n)
    )
    gpu, res = timed(
        torch,
        lambda: simulate(
            [n] * layers, inputs=m, n_networks=nets, rng=0, input_dim=n, device="cuda"
        ),
    )
    print(f"ED panel: m={m}, width={n}, {nets} networks, {layers} layers")
    print(f"  numpy, 1 CPU core: {cpu:8.2f} s;  GPU: {gpu:8.2f} s  ({cpu / gpu:.1f}x)")
    print(f"  layer-{layers} mean erank on the GPU {np.nanmean(res.panel['erank'][-1]):.2f}")

    general(torch, 4000 // scale)


#: Section 4's networks: activation and the other keywords of simulate.
GENERAL = (
    ("relu", {}),
    ("leaky:0.1", {"bias_std": 0.1}),
    ("tanh", {"bias_std": 0.1, "weight_std": 1.2}),
    ("gelu", {"bias_std": 0.1}),
    ("erf", {}),
    ("relu", {"residual": "block:0.5"}),
    ("tanh", {"residual": "block:0.5", "weight_std": 1.0}),
)


def general(torch, n_net: int) -> None:
    """Section 4: numpy (one core) against the GPU beyond ReLU, 256 x 50, θ₀ = 1."""
    width, depth = 256, 50
    print(f"Beyond ReLU: {n_net} networks x {depth} layers x width {width}, theta0 = 1")
    for activation, options in GENERAL:

        def run(device: str, seed: int, n: int = n_net, act: str = activation, kw=options):
            return simulate(
                [width] * depth, 1.0, n_networks=n, activation=act, rng=seed, device=device, **kw
            )

        run("cuda", 0, 200)  # warm-up
        gpu, on_gpu = timed(torch, lambda run=run: run("cuda", 1))
        cpu, on_cpu = timed(torch, lambda run=run: run("cpu", 2))
        a, b = on_cpu.ln_sin2[-1], on_gpu.ln_sin2[-1]
        se = math.hypot(a.std(ddof=1), b.std(ddof=1)) / math.sqrt(n_net)
        label = " ".join([activation, *(f"{k}={v}" for k, v in options.items())])
        print(
            f"  {label:40s} numpy {cpu:6.2f} s, GPU {gpu:6.3f} s ({cpu / gpu:5.1f}x); layer "
            f"{depth} mean numpy {a.mean():.3f}, GPU {b.mean():.3f} (difference "
            f"{(b.mean() - a.mean()) / se:+.1f} se)"
        )


if __name__ == "__main__":
    main()
