"""The diagnostics figure of a run: ``diagnostics.png`` from ``diagnostics.jsonl`` and ``alarms.jsonl``.

Panels, top to bottom, each drawn only when its keys are present (see :mod:`gankit.train.diagnostics`):

1. **D(x) over time** and 2. **D(G(z)) over time**: one column per recording, the histogram of D's
   output on real (green) and generated (purple) samples as a heatmap (colour: share of the samples),
   with the mean on top. Probabilities live on [0, 1] with the 1/2 of the equilibrium dashed; a critic's
   raw scores are drawn minus D's accuracy threshold (dashed at 0), re-binned onto the range of all
   recordings.
   A healthy game keeps the two overlapping near 1/2; D winning pushes them apart to 1 and 0.
3. **D accuracy** (overall, on real, on fake) with chance (1/2) and the ``d-wins`` level (0.99).
4. **gradient norms** of D and G, log scale.
5. **modes** held and covered (point data with known modes; % high-quality samples on the right axis) or
   **sample diversity** (generated / real mean pairwise distance, with 1 = as varied as the data).

Every alarm is a vertical line across all panels, coloured and labelled by its kind at the top.
No torch import; never fails on missing keys, ``null`` or NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from gankit.viz.curves import (
    _COLORS,
    LEGEND_WIDTH,
    PANEL_WIDTH,
    _as_float,
    _curve,
    _log_scale_if_positive,
    _table,
    accuracy_panel,
    legend_beside,
    stacked_axes,
)
from gankit.viz.toy import FAKE_COLOR, REAL_COLOR, _new_figure, _save_png

__all__ = ["plot_diagnostics", "diagnostics_figure", "ALARM_COLORS"]

ALARM_COLORS = {
    "modes-dropped": "#e66101", "diversity-low": "#e66101", "d-wins": "#5e3c99",
    "gradients-exploded": "#d01c8b", "diverged": "#b2182b",
}
_CHAR_WIDTH = 0.011  # a 7-pt character as a fraction of the panels' width (for spacing alarm labels)
_ROW_HEIGHT = 0.08  # one row of alarm labels as a fraction of the top panel's height
_TWIN_AXIS = 0.7  # inches right of the panels for the coverage panel's "% high quality" axis
_HIST = (("hist_real", "d_real_mean", "Greens", REAL_COLOR, "D(x)"),
         ("hist_fake", "d_fake_mean", "Purples", FAKE_COLOR, "D(G(z))"))


def _by_step(records: Iterable[Any]) -> list[Mapping[str, Any]]:
    """Records with a numeric step, sorted by it; a step recorded twice (resume) keeps its last record."""
    by_step: dict[float, Mapping[str, Any]] = {}
    for r in records:
        if isinstance(r, Mapping) and not math.isnan(_as_float(r.get("step"))):
            by_step[_as_float(r["step"])] = r
    return [by_step[s] for s in sorted(by_step)]


def _x_edges(steps: np.ndarray) -> np.ndarray:
    """Column edges halfway between recordings (a lone recording gets a column of width 1)."""
    if len(steps) == 1:
        return np.array([steps[0] - 0.5, steps[0] + 0.5])
    mid = 0.5 * (steps[1:] + steps[:-1])
    return np.concatenate([[2 * steps[0] - mid[0]], mid, [2 * steps[-1] - mid[-1]]])


def _shift(r: Mapping[str, Any], centred: bool) -> float:
    """What is subtracted from a record's values: its accuracy threshold for critics (0 if unknown)."""
    t = _as_float(r.get("threshold")) if centred else 0.0
    return 0.0 if math.isnan(t) else t


def _histogram_table(records: list[Mapping[str, Any]], key: str, centred: bool = False
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps (T,), common bin edges (B + 1,), shares (B, T)) of the histograms under ``key``, or None.

    Records may have different edges (a critic's range changes as it trains): each count is moved to
    the common bin that holds its bin's centre. ``centred``: values minus each record's threshold.
    """
    rows = []
    for r in records:
        edges, counts = r.get("hist_edges"), r.get(key)
        if isinstance(edges, list) and isinstance(counts, list) and len(edges) == len(counts) + 1 and counts:
            e = np.array([_as_float(v) for v in edges]) - _shift(r, centred)
            c = np.array([_as_float(v) for v in counts])
            if np.isfinite(e).all():
                rows.append((_as_float(r["step"]), e, np.nan_to_num(c)))
    if not rows:
        return None
    lo, hi = min(e[0] for _, e, _ in rows), max(e[-1] for _, e, _ in rows)
    common = np.linspace(lo, hi, max(len(c) for _, _, c in rows) + 1)
    shares = np.zeros((len(common) - 1, len(rows)))
    for t, (_, e, c) in enumerate(rows):
        col = np.histogram(0.5 * (e[1:] + e[:-1]), bins=common, weights=c)[0]
        shares[:, t] = col / col.sum() if col.sum() > 0 else np.nan
    return np.array([s for s, _, _ in rows]), common, shares


def _heatmap(ax: Axes, table: tuple[np.ndarray, np.ndarray, np.ndarray], records: list[Mapping[str, Any]],
             key: str, mean_key: str, cmap: str, color: str, label: str, probability: bool, steps: np.ndarray,
             cols: dict[str, np.ndarray]) -> None:
    """One histogram panel. A critic's scores are drawn minus the accuracy threshold: they have no fixed
    offset, and their drift would otherwise hide how far apart real and fake are."""
    h_steps, edges, shares = table
    ax.pcolormesh(_x_edges(h_steps), edges, np.ma.masked_invalid(shares), cmap=cmap, vmin=0.0,
                  vmax=max(float(np.nanmax(shares)) if np.isfinite(shares).any() else 1.0, 1e-12), shading="flat")
    if mean_key in cols:
        shift = np.array([_shift(r, not probability) for r in records])
        _curve(ax, steps, cols[mean_key] - shift, f"mean {label}", color, smooth=False)
    ax.axhline(0.5 if probability else 0.0, color="grey", ls="--", lw=1.0,
               label="1/2" if probability else "accuracy threshold")
    ax.set_ylim(edges[0], edges[-1])
    ax.set_ylabel(label if probability else f"critic {label}\n− threshold", fontsize=9)
    if not probability:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.yaxis.get_offset_text().set_fontsize(7)


def diagnostics_figure(records: Sequence[Mapping[str, Any]], alarms: list[dict[str, Any]] | None = None,
                       title: str | None = None) -> Figure:
    """Build (without saving) the figure of :func:`plot_diagnostics`; arguments as there."""
    records = _by_step(records)
    steps, cols, _ = _table(records)
    probability = not any(r.get("scale") == "score" for r in records)
    tables = [(_histogram_table(records, h[0], centred=not probability), h) for h in _HIST]
    acc_keys: list[str] = [k for k in ("d_acc", "d_acc_real", "d_acc_fake") if k in cols]
    grad_keys: list[str] = [k for k in ("d_grad_norm", "g_grad_norm") if k in cols]
    cover_keys: list[str] = [k for k in ("modes", "diversity") if k in cols]
    panels: list[tuple[str, Any]] = [("hist", (table, *h)) for table, h in tables if table is not None]
    panels += [p for p in (("acc", acc_keys), ("grad", grad_keys), ("cover", cover_keys)) if p[1]]

    twin = _TWIN_AXIS if "modes" in cover_keys and "hq" in cols else 0.0  # room for "% high quality"
    width = PANEL_WIDTH + twin + LEGEND_WIDTH
    fig = _new_figure((width, 1.2 + 1.9 * max(len(panels), 1)))
    axes = stacked_axes(fig, len(panels), "nothing to plot: no diagnostics records", title,
                        right=1 - (twin + LEGEND_WIDTH) / width)
    if axes is None:
        return fig
    for ax, (kind, what) in zip(axes, panels, strict=True):
        if kind == "hist":
            table, key, mean_key, cmap, color, label = what
            _heatmap(ax, table, records, key, mean_key, cmap, color, label, probability=probability, steps=steps,
                     cols=cols)
        elif kind == "acc":
            for k, label in zip(acc_keys, ("overall", "on real", "on fake")):
                _curve(ax, steps, cols[k], label, {"d_acc_real": REAL_COLOR, "d_acc_fake": FAKE_COLOR}.get(k, "black"),
                       smooth=False)
            accuracy_panel(ax)
        elif kind == "grad":
            for k in grad_keys:
                _curve(ax, steps, cols[k], k, _COLORS.get(k), smooth=False)
            ax.set_ylabel("grad norm", fontsize=9)
            _log_scale_if_positive(ax, [cols[k] for k in grad_keys])
        elif "modes" in what:
            _coverage_panel(ax, steps, cols)
        else:
            _curve(ax, steps, cols["diversity"], "generated / real", "black", smooth=False)
            ax.axhline(1.0, color="grey", ls="--", lw=1.0, label="as varied as the data")
            ax.axhline(0.5, color="grey", ls=":", lw=1.0, label="1/2")
            ax.set_ylim(bottom=0.0)
            ax.set_ylabel("sample diversity", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3, lw=0.5)
        legend_beside(ax, gap=twin + 0.08)  # clear of the coverage panel's right-hand axis
    label_rows = _draw_alarms(axes, alarms or [])
    axes[-1].set_xlabel("step", fontsize=9)
    if label_rows > 1:  # room above the top panel for the extra rows of labels
        fig.subplots_adjust(top=1 - (0.45 + 0.13 * label_rows) / fig.get_figheight())
    if title:
        axes[0].set_title(title, fontsize=11, pad=4 + 11 * label_rows)
    return fig


def _coverage_panel(ax: Axes, steps: np.ndarray, cols: dict[str, np.ndarray]) -> None:
    if "modes_held" in cols:
        _curve(ax, steps, cols["modes_held"], "held (the alarm's count)", "black", smooth=False)
    _curve(ax, steps, cols["modes"], "covered (>= 1 HQ sample)", "grey", smooth=False)
    if "modes_total" in cols and np.isfinite(cols["modes_total"]).any():
        total = float(np.nanmax(cols["modes_total"]))
        ax.axhline(total, color="grey", ls="--", lw=1.0, label=f"all {total:g} modes")
        ax.set_ylim(-0.3, total + 0.6)
    ax.set_ylabel("modes", fontsize=9)
    if "hq" in cols:
        twin = ax.twinx()
        twin.plot(steps, cols["hq"], color="#1f77b4", lw=1.0, alpha=0.7)
        twin.set_ylim(-2, 102)
        twin.set_ylabel("% high quality", fontsize=8, color="#1f77b4")
        twin.tick_params(labelsize=7, colors="#1f77b4")


def _draw_alarms(axes: np.ndarray, alarms: list[dict[str, Any]]) -> int:
    """A vertical line per alarm in every panel; the kinds raised at a step are named above the top panel,
    on a higher row when they would overlap the previous label. Returns the number of label rows."""
    at: dict[float, list[str]] = {}
    for a in alarms:
        step = _as_float(a.get("step")) if isinstance(a, Mapping) else math.nan
        if not math.isnan(step):
            at.setdefault(step, []).append(str(a.get("kind", "alarm")))
    for step, kinds in at.items():
        for ax in axes:
            ax.axvline(step, color=ALARM_COLORS.get(kinds[0], "red"), lw=1.2, alpha=0.8)
    top = axes[0]
    lo, hi = top.get_xlim()
    rows: list[tuple[float, int]] = []  # per row: the last label's step and length
    for step, kinds in sorted(at.items()):
        label = ", ".join(kinds)
        free = [i for i, (x, n) in enumerate(rows) if step - x > _CHAR_WIDTH * (hi - lo) * (n + len(label)) / 2]
        row = free[0] if free else len(rows)
        rows[row:row + 1] = [(step, len(label))]
        top.text(step, 1.01 + _ROW_HEIGHT * row, label,
                 transform=blended_transform_factory(top.transData, top.transAxes), ha="center", va="bottom",
                 fontsize=7, color=ALARM_COLORS.get(kinds[0], "red"), clip_on=False)
    return len(rows)


def plot_diagnostics(records: list[dict[str, Any]], alarms: list[dict[str, Any]] | None, path: str | Path,
                     title: str | None = None) -> None:
    """Write ``diagnostics.png``: D's output histograms over time, its accuracy, gradient norms and
    mode coverage or diversity, with alarms as labelled vertical lines.

    Args:
        records: the lines of ``diagnostics.jsonl`` (dicts with ``"step"`` and any of ``hist_edges``,
            ``hist_real``, ``hist_fake``, ``d_real_mean``, ``d_fake_mean``, ``scale``, ``threshold``,
            ``d_acc``, ``d_acc_real``, ``d_acc_fake``, ``d_grad_norm``, ``g_grad_norm``, ``modes``,
            ``modes_held``, ``modes_total``, ``hq``, ``diversity``).
        alarms: the lines of ``alarms.jsonl`` (``{"step", "kind", "message"}``), or None.
        path: PNG to write (atomically; parent directories are created).
        title: optional figure title.
    """
    _save_png(diagnostics_figure(records, alarms, title), path)
