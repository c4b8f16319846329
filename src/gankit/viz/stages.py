"""The stages of a multi-stage generator (LAPGAN's coarse-to-fine sampling) as one figure."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from gankit.errors import DataError
from gankit.viz.images import show_image
from gankit.viz.toy import _new_figure, _save_png


def plot_stages(stages: list[tuple[str, np.ndarray]], path: str | Path, title: str = "") -> None:
    """One row per sample, one column per stage, each shown at its own resolution (nearest pixels).

    Args:
        stages: named batches (N, C, s, s), in the order the generator makes them. Images are shown on
            [-1, 1]; columns whose name starts with "band" are signed residuals, shown on [-m, m] with m
            their largest absolute value (grey is 0), since bands are small next to images.
        path: the PNG to write.
        title: the figure's title.
    """
    if not stages:
        raise DataError("a stages figure needs at least one stage")
    arrays = [np.asarray(a, dtype=np.float32) for _, a in stages]
    n = arrays[0].shape[0]
    if any(a.ndim != 4 or a.shape[0] != n for a in arrays):
        raise DataError(f"every stage must be (N, C, s, s) with the same N, got {[a.shape for a in arrays]}")
    cols = len(stages)
    fig = _new_figure((1.05 * cols + 0.3, 1.1 * n + 0.7))
    grid = fig.add_gridspec(n, cols, wspace=0.08, hspace=0.12)
    for j, ((name, _), a) in enumerate(zip(stages, arrays)):
        band = name.startswith("band")
        m = (float(np.abs(a).max()) or 1.0) if band else 1.0
        for i in range(n):
            ax = fig.add_subplot(grid[i, j])
            show_image(ax, a[i], m)
            if i == 0:
                label = textwrap.fill(name, 14)  # "upsampled coarser image 14px" on lines that fit the column
                ax.set_title(f"{label}\n(±{m:.2g})" if band else label, fontsize=6)
    fig.suptitle(title or "coarse-to-fine sampling", fontsize=8)
    _save_png(fig, path)
