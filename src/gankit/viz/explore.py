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


def plot_arithmetic(groups: list[tuple[str, np.ndarray, np.ndarray]], result: np.ndarray, result_label: str,
                    path: str | Path, title: str = "") -> None:
    """Latent arithmetic as Radford et al. (2016) draw it: one row per group (its samples, then G of their mean
    latent, framed in blue, beside them), and a last row with the result G(z) (framed in red) and its neighbourhood.

    Args:
        groups: per term (label such as "− big red", samples (m, C, H, W), G(mean z) (C, H, W)).
        result: (1 + k, C, H, W), the result first.
        result_label: the last row's label (e.g. what the classifier reads).
    """
    res = np.asarray(result, dtype=np.float32)
    if res.ndim != 4 or any(np.asarray(s).ndim != 4 for _, s, _ in groups):
        raise DataError(f"the arithmetic figure needs images (N, C, H, W), got result shape {res.shape}")
    cols = max(len(res), *(len(s) + 1 for _, s, _ in groups))
    rows = len(groups) + 1
    fig = _new_figure((1.0 * cols + 1.8, 1.15 * rows + 0.6))
    grid = fig.add_gridspec(rows, cols + 1, width_ratios=[1.8] + [1.0] * cols, wspace=0.08, hspace=0.35)

    def label(r: int, text: str) -> None:
        ax = fig.add_subplot(grid[r, 0])
        ax.axis("off")
        ax.text(1.0, 0.5, text, ha="right", va="center", fontsize=7, wrap=True, transform=ax.transAxes)

    def framed(ax: object, colour: str) -> None:
        for side in ax.spines.values():  # type: ignore[attr-defined]
            side.set_edgecolor(colour)
            side.set_linewidth(2.0)

    for r, (text, samples, mean) in enumerate(groups):
        label(r, text)
        samples = np.asarray(samples, dtype=np.float32)
        for j, img in enumerate(samples):
            show_image(fig.add_subplot(grid[r, j + 1]), img)
        ax = fig.add_subplot(grid[r, len(samples) + 1])
        show_image(ax, np.asarray(mean, dtype=np.float32))
        framed(ax, "tab:blue")
        ax.set_xlabel("G(mean z)", fontsize=6, labelpad=1)
    label(rows - 1, result_label)
    for j, img in enumerate(res):
        ax = fig.add_subplot(grid[rows - 1, j + 1])
        show_image(ax, img)
        if j == 0:
            framed(ax, "tab:red")
            ax.set_xlabel("G(z)", fontsize=6, labelpad=1)
    fig.suptitle(title or "latent arithmetic (Radford et al. 2016)", fontsize=8)
    _save_png(fig, path)
