"""Figures for :mod:`gankit.explore`: latent interpolations and nearest training neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gankit.errors import DataError
from gankit.viz.images import save_image_grid, show_image
from gankit.viz.toy import _new_figure, _save_png


def plot_interpolations(paths: np.ndarray, path: str | Path, real: np.ndarray | None = None,
                        title: str = "") -> None:
    """Write G along noise paths as a PNG.

    Images (rows, steps, C, H, W): one row per path, left to right. Points (rows, steps, D) with D <= 2:
    each path as a line over the real data (first two coordinates), start marked with a dot.
    """
    x = np.asarray(paths, dtype=np.float32)
    if x.ndim == 5:
        rows, steps = x.shape[:2]
        save_image_grid(x.reshape(rows * steps, *x.shape[2:]), path, nrow=steps)
        return
    if x.ndim != 3:
        raise DataError(f"interpolations must be (rows, steps, C, H, W) or (rows, steps, D), got shape {x.shape}")
    fig = _new_figure((5.5, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    if real is not None:
        r = np.asarray(real, dtype=np.float64).reshape(len(real), -1)
        ax.scatter(r[:, 0], r[:, 1] if r.shape[1] > 1 else np.zeros(len(r)), s=3, c="tab:green", alpha=0.3,
                   label="data")
    for i, p in enumerate(x):
        ys = p[:, 1] if p.shape[1] > 1 else np.full(len(p), 0.02 * (i + 1))
        line = ax.plot(p[:, 0], ys, "-o", ms=2.5, lw=1.0)[0]
        ax.plot(p[0, 0], ys[0], "o", ms=6, color=line.get_color())
    ax.set_title(title or "G along noise paths (big dot: start)", fontsize=9)
    ax.set_aspect("equal" if x.shape[2] > 1 else "auto")
    _save_png(fig, path)


def plot_nearest(generated: np.ndarray, neighbours: np.ndarray, distances: np.ndarray, path: str | Path,
                 title: str = "") -> None:
    """One row per generated image: the image (left, framed in red), then its nearest training images
    with their L2 distances.

    Args:
        generated: (N, C, H, W) in [-1, 1].
        neighbours: (N, k, C, H, W) training images, nearest first.
        distances: (N, k) their distances.
    """
    g = np.asarray(generated, dtype=np.float32)
    nb = np.asarray(neighbours, dtype=np.float32)
    if g.ndim != 4 or nb.ndim != 5 or nb.shape[0] != g.shape[0] or nb.shape[2:] != g.shape[1:]:
        raise DataError(f"nearest-neighbour figure needs (N, C, H, W) and (N, k, C, H, W), got {g.shape}, {nb.shape}")
    n, k = nb.shape[:2]
    fig = _new_figure((1.1 * (k + 1) + 0.4, 1.15 * n + 0.6))
    grid = fig.add_gridspec(n, k + 1, wspace=0.08, hspace=0.35)

    for i in range(n):
        ax = fig.add_subplot(grid[i, 0])
        show_image(ax, g[i])
        for side in ax.spines.values():
            side.set_edgecolor("tab:red")
            side.set_linewidth(2.0)
        if i == 0:
            ax.set_title("generated", fontsize=7)
        for j in range(k):
            ax = fig.add_subplot(grid[i, j + 1])
            show_image(ax, nb[i, j])
            ax.set_xlabel(f"{distances[i, j]:.2f}", fontsize=6, labelpad=1)
            if i == 0:
                ax.set_title(f"train #{j + 1}", fontsize=7)
    fig.suptitle(title or "nearest training images (L2 distance below each)", fontsize=8)
    _save_png(fig, path)
