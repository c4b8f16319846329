"""The latent space of an auto-encoder: 2-D codes of held-out data coloured by class.

The figure of Makhzani et al., "Adversarial Autoencoders" (2016), Figures 2 and 4, and of Kingma &
Welling's 2-D VAE: every held-out sample is a dot at its code, coloured by its class (one colour when
the data has no labels). The decoder grid over a lattice of codes is an image grid
(:func:`gankit.viz.images.save_image_grid`). Agg canvas, no pyplot, no torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gankit.errors import DataError
from gankit.viz.toy import DPI, _save_png

__all__ = ["codes_figure", "plot_codes"]


def codes_figure(codes: np.ndarray, labels: np.ndarray | None = None, box: tuple[float, float] | None = None,
                 title: str | None = None, prior: np.ndarray | None = None) -> Figure:
    """A scatter of 2-D ``codes`` (N, 2), coloured by ``labels`` (N,) with a legend; ``box`` fixes both axes.

    With ``prior`` (M, 2) draws of the prior, two panels on the same axes: the prior's draws alone (its
    density, in grey), then the codes over a fainter copy of them, so where the codes miss or overfill the
    prior shows side by side and in place.
    """
    z = np.asarray(codes, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 2 or len(z) == 0:
        raise DataError(f"the codes figure needs (N, 2) codes, got shape {z.shape}")
    if labels is not None and np.shape(labels) != (len(z),):
        raise DataError(f"{len(z)} codes but labels of shape {np.shape(labels)}")
    p = None if prior is None else np.asarray(prior, dtype=np.float64)
    if p is not None and (p.ndim != 2 or p.shape[1] != 2 or len(p) == 0):
        raise DataError(f"the codes figure needs (M, 2) prior draws, got shape {p.shape}")
    width = 6.2 if labels is not None else 5.5
    fig = Figure(figsize=(width + (4.8 if p is not None else 0.0), 5.0), dpi=DPI)
    FigureCanvasAgg(fig)
    panels = [fig.add_subplot(1, 2, i + 1) for i in range(2)] if p is not None else [fig.add_subplot(1, 1, 1)]
    ax = panels[-1]
    if p is not None:
        panels[0].scatter(p[:, 0], p[:, 1], s=3, alpha=0.5, color="0.35", linewidths=0)
        panels[0].set_title(f"prior p(z): {len(p)} draws", fontsize=9)
        ax.scatter(p[:, 0], p[:, 1], s=3, alpha=0.25, color="0.6", linewidths=0, label="prior", zorder=0)
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=4, alpha=0.6, color="#1f77b4", linewidths=0)
    else:
        classes = np.unique(labels)
        for i, k in enumerate(classes):
            pts = z[labels == k]
            ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.7, linewidths=0, label=str(k),
                       color=_colour(i, len(classes)))
        ax.legend(markerscale=3, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  frameon=True, title="class", title_fontsize=7)  # beside the plot: codes may fill every corner
    if box is not None:
        both = z if p is None else np.concatenate([z, p])
        lo, hi = min(box[0], float(np.quantile(both, 0.005))), max(box[1], float(np.quantile(both, 0.995)))
        for a in panels:
            a.set_xlim(lo, hi)
            a.set_ylim(lo, hi)
    for a in panels:
        a.set_aspect("equal")
        a.set_xlabel("z₁")
        a.set_ylabel("z₂")
    if p is None:
        ax.set_title(title or f"{len(z)} codes", fontsize=9)
    else:
        ax.set_title(f"codes of {len(z)} samples on the prior", fontsize=9)
        fig.suptitle(title or "", fontsize=9)
    fig.tight_layout()
    return fig


def _colour(i: int, n: int) -> tuple[float, float, float, float]:
    return colormaps["tab10" if n <= 10 else "tab20"](i % 20)


def plot_codes(codes: np.ndarray, labels: np.ndarray | None, path: str | Path,
               box: tuple[float, float] | None = None, title: str | None = None,
               prior: np.ndarray | None = None) -> None:
    """Write :func:`codes_figure` as a PNG, atomically."""
    _save_png(codes_figure(codes, labels, box, title, prior), path)
