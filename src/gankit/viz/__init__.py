"""Plots of GAN training: toy-data snapshots, training curves, montages and animations.

Built on matplotlib's Agg canvas (never pyplot) and Pillow. The viz modules themselves import no
torch: the figures are redrawn from a run directory's JSON files alone (``import gankit.viz`` still
runs the package ``__init__``, which fills the registries).

- :func:`plot_snapshot` / :func:`snapshot_figure`: D(x) heatmap, real and generated points and the
  generator's gradient arrows (2-D, as in GAN Lab), or p_data, p_g and D(x) (1-D, as in the GAN paper).
- :func:`plot_points` / :func:`points_figure`: a plain scatter or histogram of samples.
- :func:`plot_stats` / :func:`stats_figure`: training curves from ``stats.jsonl``.
- :func:`plot_diagnostics` / :func:`diagnostics_figure`: D's output histograms over time, its accuracy,
  gradient norms, mode coverage or diversity and the alarms, from ``diagnostics.jsonl``.
- :func:`pick_steps`, :func:`make_montage`: the lecture's frames at steps 100 ... 50000 as one PNG and
  an animated GIF.
"""

from __future__ import annotations

from gankit.viz.curves import D_LOSS_AT_HALF, plot_stats, stats_figure
from gankit.viz.diagnostics import diagnostics_figure, plot_diagnostics
from gankit.viz.images import image_grid, save_image_grid
from gankit.viz.montage import LECTURE_STEPS, make_montage, pick_steps
from gankit.viz.toy import plot_points, plot_snapshot, points_figure, snapshot_figure

__all__ = [
    "D_LOSS_AT_HALF",
    "LECTURE_STEPS",
    "diagnostics_figure",
    "image_grid",
    "save_image_grid",
    "make_montage",
    "pick_steps",
    "plot_diagnostics",
    "plot_points",
    "plot_snapshot",
    "plot_stats",
    "points_figure",
    "snapshot_figure",
    "stats_figure",
]
