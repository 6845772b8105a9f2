"""TrainingMonitor overhead: an MLP training loop on sklearn's digits, with and without it.

The same loop (same initial weights, same batches) runs alternately without and with a
``TrainingMonitor(every=10)`` that probes a fixed batch of 32 held-out digits and writes CSV
and JSON-lines logs. Printed: the ratio of the median (and of the fastest) wall times over
``--repeats`` pairs, and the time spent inside ``monitor.step()`` relative to the rest of the
same loop, which is robust to load that changes between runs on a shared machine.
Target: ≤ 5 %. Run: ``python benchmarks/bench_probe.py [--steps 300 --repeats 9]
[--device cuda]``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time

import numpy as np
import torch
from sklearn.datasets import load_digits

from depthscope.probing import TrainingMonitor


def make_data(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    digits = load_digits()
    x = (digits.data - digits.data.mean(0)) / (digits.data.std(0) + 1e-8)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order].astype(np.float32), digits.target[order]
    return torch.from_numpy(x[:1500]), torch.from_numpy(y[:1500]), torch.from_numpy(x[1500:1532])


def make_model(width: int, depth: int) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    fan_in = 64
    for _ in range(depth):
        linear = torch.nn.Linear(fan_in, width, bias=False)
        torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        layers += [linear, torch.nn.ReLU()]
        fan_in = width
    layers.append(torch.nn.Linear(fan_in, 10))
    return torch.nn.Sequential(*layers)


def train(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch: int,
    monitor: TrainingMonitor | None,
) -> tuple[float, float]:
    """Wall time of the loop and the part of it spent inside ``monitor.step()``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    in_monitor = 0.0
    _sync(x)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=generator).to(x.device)
        optimizer.zero_grad()
        loss_fn(model(x[idx]), y[idx]).backward()
        optimizer.step()
        if monitor is not None:
            # On a GPU, wait for queued work only around the steps that probe, so that the
            # time inside covers the probe and the loop is otherwise left to run ahead.
            due = (monitor.steps_done + 1) % monitor.every == 0
            if due:
                _sync(x)
            tick = time.perf_counter()
            monitor.step()
            if due:
                _sync(x)
            in_monitor += time.perf_counter() - tick
    _sync(x)
    return time.perf_counter() - start, in_monitor


def _sync(tensor: torch.Tensor) -> None:
    """Wait for the GPU (no-op on the CPU), so that wall times cover the work."""
    if tensor.is_cuda:
        torch.cuda.synchronize()


def main() -> None:
    """Run the A/B benchmark and print the overhead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y, probe_batch = (t.to(args.device) for t in make_data(0))
    initial = make_model(args.width, args.depth).to(args.device)
    base, monitored, inside = [], [], []
    n_probes = 0
    with tempfile.TemporaryDirectory() as tmp:
        train(copy.deepcopy(initial), x, y, 20, args.batch, None)  # warm-up
        for k in range(args.repeats):
            # Alternate which loop runs first, so that drift in the machine's speed over the
            # run (other load, clocks) falls on both sides equally.
            for with_monitor in (k % 2 == 1, k % 2 == 0):
                model = copy.deepcopy(initial)
                if not with_monitor:
                    base.append(train(model, x, y, args.steps, args.batch, None)[0])
                    continue
                monitor = TrainingMonitor(
                    model, probe_batch, every=args.every, log_dir=f"{tmp}/{k}", tensorboard=False
                )
                total, in_monitor = train(model, x, y, args.steps, args.batch, monitor)
                monitored.append(total)
                inside.append(in_monitor / (total - in_monitor))
                n_probes = len(monitor.history)
    t0, t1 = statistics.median(base), statistics.median(monitored)
    print(
        f"digits MLP 64-{args.width}x{args.depth}-10, batch {args.batch}, {args.steps} steps, "
        f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}"
    )
    print(f"probe batch m = {len(probe_batch)}, every = {args.every}: {n_probes} probes per run")
    print(f"without monitor: median {t0 * 1e3:8.1f} ms  (runs: {[round(t * 1e3) for t in base]})")
    print(
        f"with monitor:    median {t1 * 1e3:8.1f} ms  (runs: {[round(t * 1e3) for t in monitored]})"
    )
    print(f"per probe (incl. logging): {(t1 - t0) / max(n_probes, 1) * 1e3:.2f} ms")
    print(f"overhead ratio (median with / median without): {t1 / t0:.3f}  (target ≤ 1.05)")
    print(f"overhead ratio (fastest with / fastest without): {min(monitored) / min(base):.3f}")
    pairs = [b / a for a, b in zip(base, monitored, strict=True)]
    print(
        f"overhead ratio, median over the {len(pairs)} back-to-back pairs: "
        f"{statistics.median(pairs):.3f}"
    )
    print(
        "time inside monitor.step() / rest of the same loop: "
        f"median {statistics.median(inside):.3f} (runs: {[round(r, 3) for r in inside]})"
    )


if __name__ == "__main__":
    main()
