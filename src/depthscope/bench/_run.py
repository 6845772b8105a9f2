"""Orchestration of ``depthscope bench``: train the grid, score it, correlate, report.

Output folder:

``results.csv``
    One row per architecture × seed × schedule, appended as each run finishes: test accuracy,
    last-epoch training loss, training time and every score (predicted angles, measured angle,
    zero-cost proxies, #params, depth), then ``crc32``, the checksum of the row.  NaN and −inf
    are written as ``nan`` / ``-inf``.  Each row is fsync-ed as it is written (:mod:`._store`).
``bench.json``
    The settings a resumed run must share (dataset, schedules, optimiser, seeds of streams).
``correlations.json``
    Spearman ρ and Kendall τ_b of each score against accuracy (architecture level) with
    bootstrap 95 % intervals, for the paper's schedule at the top level and every schedule under
    ``by_schedule``.
``figure3.png`` / ``figure3.svg``
    Predicted ln sin²θ_L against mean test accuracy (95 % t-interval over seeds), coloured by
    log10 #params, one panel per schedule — the paper's Figure 3.
``report.md``, ``manifest.json``.

An interrupted bench resumes: rows already in ``results.csv`` are not run again; a damaged row
(cut short by a kill, or garbage) is dropped with a warning and run again, and a corrupt
``bench.json`` is rebuilt from the settings.  The correlations, figure and report count exactly
the runs of the settings given (grid, seeds 0 .. seeds − 1, schedules): runs of other seeds or
architectures finished earlier in the folder stay in ``results.csv`` and are reported as not
counted.  ``manifest.json`` is written last and removed when a run resumes, so a folder with a
manifest holds a finished run.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from .._architecture import format_architecture, parse_architecture
from .._errors import DepthscopeError
from ..report import _output as output
from ..report._plot import new_figure, styled
from ._config import BenchConfig
from ._results import (
    COLUMNS,
    SCORES,
    counted_runs,
    format_cell,
    prepare_folder,
    read_results,
    run_key,
)
from ._store import append_row
from ._train import Task

if TYPE_CHECKING:  # pragma: no cover
    from typing import Unpack

    from matplotlib.figure import Figure

    from ..report._output import Progress

__all__ = ["COLUMNS", "SCORES", "BenchConfig", "run_bench"]

_PREDICTED = {
    "predicted_markov": {"method": "markov"},
    "predicted_paper_mean": {"method": "mean", "convention": "paper"},
    "predicted_infinite": {"method": "infinite"},
}


def parameter_count(input_dim: int, widths: Sequence[int], n_classes: int = 10) -> int:
    """Count the weights of the bias-free MLP: Σ n_{l-1} n_l over all layers and the head."""
    sizes = [input_dim, *widths, n_classes]
    return int(sum(a * b for a, b in itertools.pairwise(sizes)))


def predicted_scores(grid: Sequence[Sequence[int]], input_dim: int) -> dict[str, np.ndarray]:
    """Predicted final ln sin²θ_L (θ₀ = π/2) for every architecture, by each predictor."""
    from ..theory._predict import predict_final

    out = {}
    for name, options in _PREDICTED.items():
        mean, _ = predict_final(
            [list(w) for w in grid], math.pi / 2, input_dim=input_dim, **options
        )
        out[name] = mean
    return out


def run_bench(
    config: BenchConfig,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    **options: Unpack[output.RunOptions],
) -> dict[str, Any]:
    """Run the bench into ``out`` (resuming finished rows) and write every output file.

    Parameters
    ----------
    config : BenchConfig
    out : str or path-like
        Output folder.
    workers : int, optional
        0: every run in this process; otherwise the worker processes of a local Dask cluster
        (default: the machine's cores, or this process when dask.distributed is not
        installed). The results do not depend on it.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); ``workers`` is then ignored.
    **options
        ``force`` (start afresh in a non-empty folder: results.csv is replaced), ``quiet`` (no
        progress messages on stderr), ``command`` (the command line recorded in the manifest).

    Returns
    -------
    dict
        The content of correlations.json.
    """
    from ._data import load_dataset

    dataset = load_dataset(config.dataset).subsample(config.max_train)
    grid = [parse_architecture(list(w)) for w in config.grid]
    names = [format_architecture(w) for w in grid]
    predicted = predicted_scores(grid, dataset.input_dim)
    static = {
        name: {
            **{key: float(values[i]) for key, values in predicted.items()},
            "params": float(parameter_count(dataset.input_dim, grid[i], dataset.n_classes)),
            "depth": float(len(grid[i])),
        }
        for i, name in enumerate(names)
    }
    log = Path(out) / "results.csv"

    def compute(progress: Progress) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        architectures = list(zip(names, grid, strict=True))
        engine = {"workers": workers, "scheduler": scheduler}
        if (
            workers is None
            and scheduler is None
            and importlib.util.find_spec("distributed") is None
        ):
            progress.stage("dask.distributed is not installed: the runs go one after the other")
            engine["workers"] = 0  # the default engine, not one asked for: no error
        _train_missing(config, dataset, static, architectures, log, progress, engine)
        rows, not_counted = counted_runs(read_results(log), config, names)
        progress.stage("correlations (bootstrap)")
        return rows, {**correlate(rows, config), "runs_not_counted": not_counted}

    def render(
        computed: tuple[list[dict[str, Any]], dict[str, Any]], progress: Progress
    ) -> dict[str, Any]:
        rows, correlations = computed
        outputs: dict[str, Any] = {"correlations.json": correlations}
        try:
            outputs["figure3"] = plot_figure3(rows)
        except DepthscopeError as err:
            progress.stage(f"no figure: {err}")
        outputs["report.md"] = bench_report(rows, correlations, config)
        return outputs

    provenance = output.Provenance(
        (run_bench, config, out), config.root_seed, {**asdict(config), "grid": names}
    )
    _, correlations = output.run_experiment(
        "bench",
        out,
        compute,
        render,
        provenance,
        prepare=lambda path, fresh: prepare_folder(path, fresh, config),
        written=["results.csv", "bench.json"],
        **options,
    )
    return correlations


def _train_missing(
    config: BenchConfig,
    dataset: Any,
    static: dict[str, dict[str, float]],
    architectures: list[tuple[str, tuple[int, ...]]],
    log: Path,
    progress: Progress,
    engine: dict[str, Any],
) -> None:
    """Train every run not yet in the log ``results.csv`` and append one row as each ends.

    The runs go through the sweep engine (:func:`depthscope.sweep.run_tasks`), keyed by
    ``architecture/seed/schedule``; each run's randomness comes from its key
    (:func:`._train.streams`), never from the order in which runs finish, so every engine
    writes the same numbers (all but ``train_seconds``). The dataset is sent to each worker
    once. A run that fails on every attempt stops the bench after the others have finished
    (their rows are kept for a resume).
    """
    from ..sweep._engine import engine_name, open_client, run_tasks, share
    from ._train import run_task

    done = {run_key(r) for r in counted_runs(read_results(log), config, list(static))[0]}
    tasks = {
        f"{name}/{seed}/{schedule}": (
            name,
            Task(
                widths,
                seed,
                schedule,
                epochs,
                config.root_seed,
                config.batch_size,
                config.learning_rate,
                config.proxy_batch,
                config.angle_pairs,
            ),
        )
        for name, widths in architectures
        for seed in range(config.seeds)
        for schedule, epochs in config.schedules
        if (name, seed, schedule) not in done
    }
    # The longest runs first: the last ones to finish are then short (the order changes
    # only the time taken, not a number).
    order = sorted(tasks, key=lambda key: -static[tasks[key][0]]["params"] * tasks[key][1].epochs)
    progress.stage(
        f"{config.dataset}: {len(architectures)} architectures × {config.seeds} seeds × "
        f"{len(config.schedules)} schedules; {len(done)} runs already done, {len(tasks)} to go "
        f"({engine_name(**engine)})"
    )
    if not tasks:
        return
    report = progress.counter("runs")
    finished = 0
    failures: list[str] = []

    def record(key: str, measured: dict[str, Any]) -> None:
        nonlocal finished
        name, task = tasks[key]
        row = {
            "architecture": name,
            "seed": task.seed,
            "schedule": task.schedule,
            "epochs": task.epochs,
            **static[name],
            **measured,
        }
        append_row(log, [format_cell(row[c]) for c in COLUMNS])
        finished += 1
        if report is not None:
            report(finished, len(tasks))

    with open_client(**engine) as client:
        link = getattr(client, "dashboard_link", None) if client is not None else None
        if link:
            progress.stage(f"dashboard: {link}")
        data = share(client, dataset)
        run_tasks(
            run_task,
            {key: (tasks[key][1], data) for key in order},
            client=client,
            on_result=record,
            on_error=lambda key, message: failures.append(f"{key}: {message}"),
        )
    if failures:
        raise DepthscopeError(
            f"{len(failures)} bench run(s) failed on every attempt (the {finished} finished "
            f"are kept in {log.name}; rerun to retry): " + "; ".join(failures[:3])
        )


def _by_schedule(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["schedule"], []).append(row)
    return out


def correlate(rows: list[dict[str, Any]], config: BenchConfig) -> dict[str, Any]:
    """correlations.json: per score and statistic, paper schedule at the top, all by schedule."""
    from ._stats import bootstrap_correlations

    by_schedule = {}
    groups = _by_schedule(rows)
    order = [s for s, _ in config.schedules if s in groups] + sorted(
        set(groups) - {s for s, _ in config.schedules}
    )
    for schedule in order:
        group = groups[schedule]
        result = bootstrap_correlations(
            [r["architecture"] for r in group],
            {s: [r[s] for r in group] for s in SCORES},
            [r["test_accuracy"] for r in group],
            n_boot=config.n_boot,
            rng=config.root_seed,
        )
        result["n_runs"] = len(group)  # type: ignore[assignment]
        by_schedule[schedule] = result
    primary = "paper" if "paper" in by_schedule else next(iter(by_schedule), None)
    top = dict(by_schedule[primary]) if primary else {}
    return {
        **top,
        "schedule": primary,
        "unit": "architecture (score: median over seeds; accuracy: mean over seeds)",
        "by_schedule": by_schedule,
    }


def _arch_table(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per architecture: predicted angle, params, mean accuracy and its 95 % t half-width."""
    table: dict[str, list[dict[str, Any]]] = {}
    for row in group:
        table.setdefault(row["architecture"], []).append(row)
    out = []
    for name, runs in table.items():
        acc = np.array([r["test_accuracy"] for r in runs])
        half = (
            float(stats.t.ppf(0.975, acc.size - 1) * acc.std(ddof=1) / math.sqrt(acc.size))
            if acc.size > 1
            else math.nan
        )
        out.append(
            {
                "architecture": name,
                "predicted": runs[0]["predicted_markov"],
                "params": runs[0]["params"],
                "accuracy": float(acc.mean()),
                "half": half,
            }
        )
    return out


@styled
def plot_figure3(rows: list[dict[str, Any]]) -> Figure:
    """Draw figure 3: predicted ln sin²θ_L vs mean accuracy, colour log10 #params."""
    # The paper's schedule first, whatever order the (possibly resumed) runs finished in.
    groups = dict(sorted(_by_schedule(rows).items(), key=lambda kv: (kv[0] != "paper", kv[0])))
    fig = new_figure(figsize=(5.2 * len(groups), 4.2))
    axes = fig.subplots(1, len(groups), squeeze=False)
    for ax, (schedule, group) in zip(axes[0], groups.items(), strict=True):
        table = _arch_table(group)
        x = np.array([t["predicted"] for t in table])
        y = np.array([t["accuracy"] for t in table])
        err = np.nan_to_num(np.array([t["half"] for t in table]))
        colour = np.log10([t["params"] for t in table])
        ax.errorbar(x, y, yerr=err, fmt="none", ecolor="0.6", elinewidth=0.8, zorder=1)
        points = ax.scatter(x, y, c=colour, cmap="viridis", s=28, zorder=2)
        epochs = group[0]["epochs"]
        ax.set_title(f"schedule {schedule!r} ({epochs} epoch{'s' if epochs != 1 else ''})")
        ax.set_xlabel("predicted ln sin²θ_L (θ₀ = π/2, markov)")
        ax.set_ylabel("test accuracy (mean, 95% interval)")
        fig.colorbar(points, ax=ax, label="log10 #params")
    fig.tight_layout()
    return fig


def _fmt_ci(entry: dict[str, Any]) -> str:
    value, (low, high) = entry["value"], entry["ci95"]
    if value is None or not math.isfinite(value):
        return "n/a"
    if low is None or not (math.isfinite(low) and math.isfinite(high)):
        return f"{value:+.3f}"
    return f"{value:+.3f} [{low:+.2f}, {high:+.2f}]"


def bench_report(
    rows: list[dict[str, Any]], correlations: dict[str, Any], config: BenchConfig
) -> str:
    """report.md: what was run, the correlations in a table, and where the prediction fails."""
    lines = [
        "# depthscope bench: predicted angle vs trained accuracy",
        "",
        f"Dataset `{config.dataset}`; {len({r['architecture'] for r in rows})} bias-free "
        f"He-initialised ReLU MLPs; {config.seeds} seeds; schedules "
        + ", ".join(f"{s} ({e} epoch{'s' if e != 1 else ''})" for s, e in config.schedules)
        + f"; Adam lr {config.learning_rate:g}, batch {config.batch_size}. "
        f"{len(rows)} runs counted here.",
        "",
        *_not_counted(correlations.get("runs_not_counted", 0), config.seeds),
        "Each score is summarised per architecture (median over seeds) and compared with the "
        "mean test accuracy over seeds. Correlations are signed: for the angles, NASWOT, "
        "synflow, snip, grad_norm and jacob_cov a positive value means the score ranks "
        "architectures the way training does; depth is expected to correlate negatively. "
        "Brackets: bootstrap 95% intervals (architectures and seeds resampled).",
        "",
    ]
    for schedule, result in correlations["by_schedule"].items():
        lines += [
            f"## Schedule `{schedule}`",
            "",
            "| score | Spearman ρ | Kendall τ | NaN runs | −inf runs |",
            "|---|---|---|---|---|",
        ]
        for score in SCORES:
            e = result[score]
            lines.append(
                f"| {score} | {_fmt_ci(e['spearman'])} | {_fmt_ci(e['kendall'])} | "
                f"{e['n_nan_runs']} | {e['n_neg_inf_runs']} |"
            )
        lines += ["", *_verdict(result), "", *_failures(_by_schedule(rows)[schedule]), ""]
    lines += [
        "NaN or −inf scores are kept: −inf ranks lowest (NASWOT's kernel is singular when a "
        "minibatch has more inputs than distinct activation codes; the measured angle is −inf "
        "when the last hidden layer maps two inputs to parallel or zero vectors); an "
        "architecture whose score is NaN for every seed is left out of that score's "
        "correlation, and the counts above say how often this happened.",
        "",
        "Files: `results.csv`, `correlations.json`, `figure3.png`/`.svg`, `bench.json`, "
        "`manifest.json`.",
    ]
    return "\n".join(lines) + "\n"


def _not_counted(count: int, seeds: int) -> list[str]:
    if not count:
        return []
    return [
        f"`results.csv` also holds {count} finished run{'s' if count != 1 else ''} of another "
        f"seed (≥ {seeds}) or architecture, from an earlier run in this folder: kept there, "
        "not counted in this report.",
        "",
    ]


def _verdict(result: dict[str, Any]) -> list[str]:
    ours = result["predicted_markov"]["spearman"]["value"]
    if ours is None or not math.isfinite(ours):
        return ["The predicted angle's correlation is undefined on these runs."]
    peers = {s: result[s]["spearman"]["value"] for s in SCORES if not s.startswith("predicted")}
    peers = {s: abs(v) for s, v in peers.items() if v is not None and math.isfinite(v)}
    beaten = sorted(s for s, v in peers.items() if v >= abs(ours))
    text = f"The predicted angle (markov) reaches Spearman ρ = {ours:+.3f}. "
    if not beaten:
        text += "In absolute value it ranks the architectures better than every other score."
    else:
        text += "It does not beat " + ", ".join(beaten) + " (by |ρ|) on this run."
    return [text]


def _failures(group: list[dict[str, Any]], count: int = 5) -> list[str]:
    table = _arch_table(group)
    if len(table) < 3:
        return []
    pred = stats.rankdata([t["predicted"] for t in table]) / len(table)
    acc = stats.rankdata([t["accuracy"] for t in table]) / len(table)
    order = np.argsort(-np.abs(pred - acc))[:count]
    lines = [
        "Where the predicted angle fails most (largest gap between its rank and the "
        "accuracy rank, as fractions of the grid):",
        "",
        "| architecture | predicted ln sin²θ_L | mean accuracy | rank gap |",
        "|---|---|---|---|",
    ]
    for i in order:
        t = table[i]
        gap = pred[i] - acc[i]
        lines.append(
            f"| {t['architecture']} | {t['predicted']:.2f} | {t['accuracy']:.3f} | "
            f"{gap:+.2f} ({'over' if gap > 0 else 'under'}-rated) |"
        )
    return lines
