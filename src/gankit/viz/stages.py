"""The stages of a multi-stage generator (LAPGAN's coarse-to-fine sampling, StackGAN's stage I and II) as one figure.

Every multi-stage generator's ``stages(latent)`` returns the same thing: a list of (name, (B, C, s, s)
images) pairs, first stage to last (the last is the sample); :func:`plot_stages` draws such a list.
"""

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
    if not isinstance(stages, (list, tuple)) or not all(
            isinstance(s, (list, tuple)) and len(s) == 2 and isinstance(s[0], str) for s in stages):
        raise DataError(f"a stages figure needs a list of (name, images) pairs, got {type(stages).__name__}")
    if not stages:
        raise DataError("a stages figure needs at least one stage")
    arrays = [np.asarray(a, dtype=np.float32) for _, a in stages]
    n = arrays[0].shape[0]
    if any(a.ndim != 4 or a.shape[0] != n for a in arrays):
        raise DataError(f"every stage must be (N, C, s, s) with the same N, got {[a.shape for a in arrays]}")
    cols = len(stages)
    width = 1.05 * cols + 0.3
    # the title wrapped to the figure's width (about 14 characters an inch at 8 pt; two stages are narrow)
    lines = textwrap.wrap(title or "coarse-to-fine sampling", max(16, int(14 * width)))
    head = 0.45 + 0.14 * len(lines)  # inches above the grid: the title and the stage names
    height = 1.1 * n + 0.25 + head
    fig = _new_figure((width, height))
    grid = fig.add_gridspec(n, cols, wspace=0.08, hspace=0.12, top=1 - head / height, bottom=0.25 / height)
    for j, ((name, _), a) in enumerate(zip(stages, arrays)):
        band = name.startswith("band")
        m = (float(np.abs(a).max()) or 1.0) if band else 1.0
        for i in range(n):
            ax = fig.add_subplot(grid[i, j])
            show_image(ax, a[i], m)
            if i == 0:
                label = textwrap.fill(name, 14)  # "upsampled coarser image 14px" on lines that fit the column
                ax.set_title(f"{label}\n(±{m:.2g})" if band else label, fontsize=6)
    fig.suptitle("\n".join(lines), fontsize=8, y=1 - 0.08 / height, va="top")
    _save_png(fig, path)
