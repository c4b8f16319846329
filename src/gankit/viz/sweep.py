"""The figure of ``gankit sweep``: one panel per metric, a bar per grid cell (mean over seeds) with a
standard-error bar, and each seed's value as a dot, so a reader sees the spread the error bar summarises."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gankit.viz.toy import _new_figure, _save_png

__all__ = ["plot_sweep"]


def plot_sweep(
    labels: Sequence[str],
    metrics: Mapping[str, Sequence[tuple[float, float, Sequence[float]]]],
    path: str | Path,
    title: str = "",
) -> None:
    """Write the sweep's bar chart as a PNG.

    Args:
        labels: one label per cell (the x axis of every panel).
        metrics: metric name -> per cell (mean, standard error, the seeds' values); NaN means "no value"
            (no finished run, or one run: no error bar).
        path: destination .png.
        title: figure title.
    """
    names = list(metrics)
    cols = max(1, min(4, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    width = max(3.2, 0.55 * len(labels) + 1.4)
    fig = _new_figure((cols * width, rows * 3.0 + 0.9))
    x = np.arange(len(labels))
    rng = np.random.default_rng(0)  # the dots' horizontal jitter only
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        means = np.array([m for m, _, _ in metrics[name]], dtype=np.float64)
        ses = np.array([s for _, s, _ in metrics[name]], dtype=np.float64)
        ax.bar(x, np.nan_to_num(means), yerr=np.where(np.isfinite(ses), ses, 0.0), color="#9ecae1",
               edgecolor="#3182bd", capsize=3, width=0.7)
        for j, (_, _, values) in enumerate(metrics[name]):
            v = np.asarray(values, dtype=np.float64)
            ax.plot(j + rng.uniform(-0.18, 0.18, len(v)), v, "o", ms=3, color="#d62728", alpha=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(x)
        long = max((len(s) for s in labels), default=0) > 8
        ax.set_xticklabels(labels, fontsize=7, rotation=30 if long else 0, ha="right" if long else "center")
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(title or "mean ± standard error over seeds (dots: seeds)", fontsize=10)
    fig.tight_layout()
    _save_png(fig, path)
