"""Probe an MLP on sklearn's digits at initialization and after training.

A bias-free He-initialised Linear+ReLU MLP (64 → 128×6 → 10) is probed on 64 held-out digits
before training, trained with Adam under a TrainingMonitor (every 50 steps), and probed
again. Writes ``OUT/probe.png`` (and ``.svg``), ``OUT/init.json``, ``OUT/trained.json`` and the
monitor's logs in ``OUT/monitor/``; prints both per-layer tables.

Run: ``python examples/probe_digits.py [--out runs/probe_digits] [--epochs 30] [--seed 0]``.
Needs the ``torch`` and ``plot`` extras and scikit-learn.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

from depthscope.probing import ProbeResult, TrainingMonitor, plot_probe, probe


def digits(seed: int) -> tuple[torch.Tensor, ...]:
    """Standardised digits: 1500 training images, the rest held out (shuffled by ``seed``)."""
    data = load_digits()
    x = (data.data - data.data.mean(0)) / (data.data.std(0) + 1e-8)
    order = np.random.default_rng(seed).permutation(len(x))
    x = torch.tensor(x[order], dtype=torch.float32)
    y = torch.tensor(data.target[order])
    return x[:1500], y[:1500], x[1500:], y[1500:]


def mlp(width: int, depth: int) -> torch.nn.Sequential:
    """Bias-free Linear+ReLU stack with He-normal weights, then a linear read-out."""
    layers: list[torch.nn.Module] = []
    fan_in = 64
    for _ in range(depth):
        linear = torch.nn.Linear(fan_in, width, bias=False)
        torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        layers += [linear, torch.nn.ReLU()]
        fan_in = width
    layers.append(torch.nn.Linear(fan_in, 10))
    return torch.nn.Sequential(*layers)


def table(res: ProbeResult, title: str) -> str:
    """Per-layer summary lines of a probe."""
    lines = [
        f"# {title}",
        f"{'layer':>6} {'ln sin²θ':>9} {'theory 95% band':>18} {'erank_c':>8} {'nrank':>6} "
        f"{'cos':>6} {'dead':>5}",
    ]
    for i, name in enumerate(res.layers):
        band = (
            f"[{res.theory.low[i]:6.2f}, {res.theory.high[i]:6.2f}]"
            if res.theory.status[i] == "covered"
            else "not covered"
        )
        lines.append(
            f"{name:>6} {res.ln_sin2[i]:9.3f} {band:>18} {res.metrics['erank_centered'][i]:8.2f} "
            f"{res.metrics['numerical_rank'][i]:6.0f} {res.metrics['mean_cosine'][i]:6.3f} "
            f"{res.metrics['dead_fraction'][i]:5.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    """Probe, train, probe again; print the tables and save the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/probe_digits"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = digits(args.seed)
    probe_x = x_test[:64]
    model = mlp(128, 6)
    args.out.mkdir(parents=True, exist_ok=True)

    at_init = probe(model, probe_x, rng=args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(args.seed)
    with TrainingMonitor(model, probe_x, every=50, log_dir=args.out / "monitor") as monitor:
        monitor.record(0)
        for _ in range(args.epochs):
            for idx in torch.randperm(len(x_train), generator=generator).split(64):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
                loss.backward()
                optimizer.step()
                monitor.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    trained = probe(model, probe_x, rng=args.seed)

    print(table(at_init, "at initialization"))
    print(table(trained, f"after {args.epochs} epochs (test accuracy {accuracy:.3f})"))
    for name, res in (("init", at_init), ("trained", trained)):
        (args.out / f"{name}.json").write_text(json.dumps(res.to_dict(), indent=1) + "\n")
    figure = plot_probe(
        [at_init, trained],
        ["initialization", f"trained, test acc {accuracy:.3f}"],
        title="MLP 64→128×6→10 on digits: 64 held-out digits probed layer by layer",
    )
    for suffix in ("png", "svg"):
        figure.savefig(args.out / f"probe.{suffix}", dpi=130)
    print(f"# wrote {args.out / 'probe.png'} and the monitor logs in {args.out / 'monitor'}")


if __name__ == "__main__":
    main()
