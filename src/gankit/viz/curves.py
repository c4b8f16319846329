"""Training curves from a run's ``stats.jsonl``.

Panels, each drawn only when its keys are present:

1. **losses** (``d_loss``, ``g_loss`` and any other ``*_loss`` key), with a dashed reference line at
   2 log 2 ≈ 1.386: the discriminator's loss ``-E log D(x) - E log(1 - D(G(z)))`` when D = 1/2
   everywhere, i.e. at the equilibrium of the GAN game (Goodfellow et al., "Generative Adversarial
   Nets", 2014, Theorem 1: C(G*) = -log 4, so the discriminator's loss, its negative, is log 4).
2. **discriminator outputs**: mean D(x) (``d_real``) and mean D(G(z)) (``d_fake``), with a dashed line
   at 1/2, where both meet at the equilibrium.
3. **discriminator accuracy** (``d_acc`` and any ``d_acc*`` key), with a dashed line at 1/2 (chance:
   the equilibrium) and a dotted one at 0.99 (the diagnostics' ``d-wins`` alarm).
4. **gradient norms** (``*grad_norm``), log scale.
5. **learning rates** (``lr*``), log scale when they span more than a factor 10.

Noisy curves are drawn faintly with a moving average on top. Missing keys, ``null``, NaN and infinite
values never make it fail: they leave gaps, and the first non-finite loss is marked.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gankit.viz.toy import _new_figure, _save_png

__all__ = ["plot_stats", "stats_figure", "accuracy_panel", "D_LOSS_AT_HALF", "D_WINS_ACC"]

logger = logging.getLogger(__name__)

D_LOSS_AT_HALF = 2.0 * math.log(2.0)  # -log(1/2) - log(1 - 1/2)
SMOOTH_MIN_POINTS = 50  # below this many points a moving average would only blur the curve

# Blue for the discriminator, red for the generator; D(x) / D(G(z)) in the toy figures' real / fake colours.
_COLORS = {
    "d_loss": "#1f77b4", "g_loss": "#d62728",
    "d_real": "#1b7837", "d_fake": "#762a83",
    "d_grad_norm": "#1f77b4", "g_grad_norm": "#d62728",
    "lr_d": "#1f77b4", "lr_g": "#d62728",
    "d_acc": "black",
}
_D_PANEL = ("d_real", "d_fake")
_D_LABELS = {"d_real": "mean D(x)", "d_fake": "mean D(G(z))", "d_acc": "D accuracy"}
D_WINS_ACC = 0.99  # gankit.train.diagnostics.AlarmRules.d_wins_acc (no torch import here)


def _as_float(value: Any) -> float:
    """A float, or NaN for anything that is not a finite real number (None, strings, inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    v = float(value)
    return v if math.isfinite(v) else math.nan


def _table(
    stats: Iterable[Mapping[str, Any]],
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
    """Columns of the numeric keys, sorted by step; a step logged twice (resume) keeps its last record;
    records with an ``event`` (gankit lab's notes of a change or a single step) are left out.

    Returns:
        steps (T,), {key: values (T,) with NaN where missing or non-finite}, and {key: the first step
        where it was NaN or infinite} for the keys that were (a missing value does not count).
    """
    by_step: dict[float, Mapping[str, Any]] = {}
    skipped = 0
    for rec in stats:
        if not isinstance(rec, Mapping):
            skipped += 1
            continue
        if "event" in rec:  # gankit lab's notes (a setting changed, one single step): not a curve point
            continue
        step = _as_float(rec.get("step"))
        if math.isnan(step):
            skipped += 1
            continue
        by_step[step] = rec
    if skipped:
        logger.warning("plot_stats: %d records without a numeric 'step' skipped", skipped)
    steps = np.array(sorted(by_step), dtype=float)
    records = [by_step[s] for s in steps]
    keys = sorted({k for r in records for k, v in r.items()
                   if k != "step" and (isinstance(v, (int, float)) or v is None)
                   and not isinstance(v, bool)})
    columns: dict[str, np.ndarray] = {}
    nonfinite: dict[str, float] = {}
    for k in keys:
        for step, r in zip(steps, records, strict=True):
            v = r.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isfinite(v):
                nonfinite[k] = float(step)
                break
        col = np.array([_as_float(r.get(k)) for r in records])
        if np.isnan(col).all() and k not in nonfinite:
            continue  # only ever missing: no panel for it
        columns[k] = col
    return steps, columns, nonfinite


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average that ignores NaN (a window of only NaN stays NaN)."""
    ok = np.isfinite(y)
    vals = np.where(ok, y, 0.0)
    csum = np.concatenate([[0.0], np.cumsum(vals)])
    ccount = np.concatenate([[0], np.cumsum(ok)])
    n = len(y)
    half = window // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    count = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (csum[hi] - csum[lo]) / count
    out[count == 0] = np.nan
    out[~ok] = np.nan  # keep the gaps where the raw curve has them
    return out


def _curve(
    ax: Axes, steps: np.ndarray, y: np.ndarray, label: str, color: str | None, smooth: bool = True
) -> None:
    """Raw values, plus a moving average when the curve is long enough to be noisy."""
    n_ok = int(np.isfinite(y).sum())
    if n_ok == 0:
        return
    marker = "o" if n_ok < 3 else None  # a lone finite point would otherwise be invisible
    if smooth and len(y) >= SMOOTH_MIN_POINTS:
        (raw,) = ax.plot(steps, y, color=color, alpha=0.25, lw=0.8)
        ax.plot(steps, _smooth(y, max(3, len(y) // 50)), color=raw.get_color(), lw=1.5, label=label)
    else:
        ax.plot(steps, y, color=color, lw=1.5, marker=marker, ms=3, label=label)


def _log_scale_if_positive(ax: Axes, cols: list[np.ndarray], min_ratio: float = 1.0) -> None:
    """Log y when some values are > 0 and they span more than ``min_ratio`` (max / min).

    Non-positive values are hidden on a log axis (they have no logarithm).
    """
    vals = np.concatenate(cols) if cols else np.zeros(0)
    pos = vals[np.isfinite(vals) & (vals > 0)]
    if pos.size and pos.max() / pos.min() >= min_ratio:
        ax.set_yscale("log", nonpositive="mask")


def accuracy_panel(ax: Axes) -> None:
    """Axis label, limits and reference lines of a D-accuracy panel (shared with the diagnostics figure)."""
    ax.set_ylabel("D accuracy", fontsize=9)
    ax.axhline(0.5, color="grey", ls="--", lw=1.0, label="chance (1/2)")
    ax.axhline(D_WINS_ACC, color="grey", ls=":", lw=1.0, label=f"{D_WINS_ACC:g} (D wins)")
    ax.set_ylim(-0.02, 1.02)


PANEL_WIDTH = 6.8  # inches: the panels ...
LEGEND_WIDTH = 2.0  # ... and the column beside them that holds their legends


def legend_beside(ax: Axes, gap: float = 0.08) -> None:
    """The panel's legend (if it has labelled artists) in the column to the right of the panels, ``gap``
    inches from the axes, its top at the panel's top: it never covers a curve, whatever the data do."""
    if ax.get_legend_handles_labels()[0]:
        fig = cast(Figure, ax.figure)  # our panels live on a Figure, never on a SubFigure
        width = ax.get_position().width * fig.get_figwidth()
        ax.legend(loc="upper left", bbox_to_anchor=(1.0 + gap / width, 1.0), borderaxespad=0.0, fontsize=7,
                  framealpha=0.8)


def stacked_axes(fig: Figure, n: int, empty: str, title: str | None, right: float | None = None
                 ) -> np.ndarray | None:
    """``n`` panels one above the other sharing the step axis, or, for ``n = 0``, the message ``empty``
    in place of a plot (and None): a figure is always written, even for a run that logged nothing.
    ``right``: the panels' right edge as a fraction of the width; default: ``LEGEND_WIDTH`` inches are
    left beside them for :func:`legend_beside`."""
    right = 1 - LEGEND_WIDTH / fig.get_figwidth() if right is None else right
    if n == 0:
        ax = fig.add_subplot(1, 1, 1)
        ax.set_axis_off()
        ax.text(0.5, 0.5, empty, ha="center", va="center", fontsize=10)
        if title:
            ax.set_title(title, fontsize=11)
        return None
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    fig.subplots_adjust(left=0.12, right=right, top=1 - 0.45 / fig.get_figheight(),
                        bottom=0.55 / fig.get_figheight(), hspace=0.12)
    return axes


def stats_figure(stats: list[dict[str, Any]], title: str | None = None) -> Figure:
    """Build (without saving) the figure of :func:`plot_stats`; arguments as there."""
    steps, cols, nonfinite = _table(stats)
    loss_keys: list[str] = [k for k in ("d_loss", "g_loss") if k in cols]
    loss_keys += [k for k in cols if k.endswith("loss") and k not in loss_keys]
    d_keys = [k for k in _D_PANEL if k in cols]
    acc_keys = [k for k in cols if k.startswith("d_acc")]
    grad_keys = [k for k in cols if k.endswith("grad_norm")]
    lr_keys = [k for k in cols if k.startswith("lr")]
    panels = [p for p in (("loss", loss_keys), ("d", d_keys), ("acc", acc_keys), ("grad", grad_keys),
                          ("lr", lr_keys)) if p[1]]

    fig = _new_figure((PANEL_WIDTH + LEGEND_WIDTH, 1.2 + 2.1 * max(len(panels), 1)))
    what = "no records" if len(steps) == 0 else "no losses, D outputs, grad norms or lrs"
    axes = stacked_axes(fig, len(panels), f"nothing to plot: {what}", title)
    if axes is None:
        return fig
    for ax, (kind, keys) in zip(axes, panels, strict=True):
        for k in keys:
            # A learning rate follows its schedule exactly: nothing to smooth.
            _curve(ax, steps, cols[k], _D_LABELS.get(k, k), _COLORS.get(k), smooth=kind != "lr")
        if kind == "loss":
            ax.set_ylabel("loss", fontsize=9)
            if "d_loss" in keys:
                ax.axhline(D_LOSS_AT_HALF, color="grey", ls="--", lw=1.0,
                           label="d_loss at D = 1/2 (2 log 2)")
            bad = [nonfinite[k] for k in keys if k in nonfinite]
            if bad:
                ax.axvline(min(bad), color="black", ls=":", lw=1.0, label="first non-finite loss")
        elif kind == "d":
            ax.set_ylabel("discriminator", fontsize=9)
            ax.axhline(0.5, color="grey", ls="--", lw=1.0, label="1/2")
            finite = np.concatenate([cols[k][np.isfinite(cols[k])] for k in keys])
            if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
                ax.set_ylim(-0.02, 1.02)
        elif kind == "acc":
            accuracy_panel(ax)
        elif kind == "grad":
            ax.set_ylabel("grad norm", fontsize=9)
            _log_scale_if_positive(ax, [cols[k] for k in keys])
        else:
            ax.set_ylabel("learning rate", fontsize=9)
            # A constant or gently decaying rate reads better on a linear axis, from 0: a rate is never
            # negative, and an axis padded below 0 would show negative ticks for one that decays to 0.
            _log_scale_if_positive(ax, [cols[k] for k in keys], min_ratio=10.0)
            if ax.get_yscale() == "linear":
                ax.set_ylim(bottom=0.0)
        if ax.get_yscale() == "linear":
            # 2e-4 rather than 0.000200, so that the tick labels leave room for the axis label.
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
            ax.yaxis.get_offset_text().set_fontsize(7)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3, lw=0.5)
        legend_beside(ax)
    axes[-1].set_xlabel("step", fontsize=9)
    if title:
        axes[0].set_title(title, fontsize=11)
    return fig


def plot_stats(stats: list[dict[str, Any]], path: str | Path, title: str | None = None) -> None:
    """Write a PNG of the training curves of a run.

    Args:
        stats: the records of ``stats.jsonl``: dicts with ``"step"`` and any of ``d_loss``, ``g_loss``,
            ``d_real`` (mean D(x)), ``d_fake`` (mean D(G(z))), ``d_grad_norm``, ``g_grad_norm``,
            ``lr_g``, ``lr_d``, ``d_acc`` (discriminator accuracy); other keys ending in ``loss``/``grad_norm``
            or starting with ``lr``/``d_acc`` join the matching panel, the rest are ignored. Records without
            a numeric step are skipped; a step logged twice (after a resume) keeps its last record.
        path: PNG to write (atomically; parent directories are created).
        title: optional figure title (e.g. the run name).

    Panels without data are left out; with no data at all the PNG says "nothing to plot". Never raises
    on missing keys, ``None``, NaN or infinite values.
    """
    _save_png(stats_figure(stats, title), path)
