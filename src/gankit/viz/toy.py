"""Figures of a GAN training on 1-D and 2-D data.

Two pictures, drawn from a *snapshot* (a JSON-serialisable dict the trainer writes every N steps, see
:func:`plot_snapshot` for its keys):

- **2-D**, as GAN Lab shows it (Kahng et al., "GAN Lab: Understanding Complex Deep Generative Models
  using Interactive Visual Experimentation", 2018): the discriminator's output D(x) as a heatmap over
  the plane, the real points, the generator's samples from fixed noise, and on each sample the
  direction in which the generator's loss moves it (-grad of the G loss w.r.t. the sample).
- **1-D**, the figure of the GAN paper (Goodfellow et al., "Generative Adversarial Nets", 2014, Fig. 1)
  that the lecture redraws: the data density p_data (black, dotted), the generator's density p_g
  (green histogram) and the discriminator D(x) (blue, dashed, right axis in [0, 1]). At the game's
  equilibrium p_g = p_data and D(x) = 1/2 everywhere, hence the dashed reference line at 1/2.

Also :func:`plot_points`, the plain scatter / histogram of ``gankit sample -o out.png``.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so no
global state is touched and many frames can be drawn in one process. No torch import here.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gankit.errors import DataError
from gankit.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.cm import ScalarMappable

__all__ = ["plot_snapshot", "plot_points", "snapshot_figure", "points_figure"]

logger = logging.getLogger(__name__)

# Colours: GAN Lab's convention (green = real, purple = fake), matching the diverging colormap whose
# green end is D(x) = 1 ("looks real") and purple end D(x) = 0 ("looks fake").
REAL_COLOR = "#1b7837"
FAKE_COLOR = "#762a83"
ARROW_COLOR = "#222222"
HEATMAP_CMAP = "PRGn"
HEATMAP_ALPHA = 0.6  # pastel heatmap so that the dark points stay visible on it
# The 1-D figure's colours follow the GAN paper's Figure 1.
PDATA_COLOR = "black"
PG_COLOR = "#2ca02c"
D_COLOR = "#1f77b4"

DPI = 100
SIZE_2D = (5.0, 5.0)  # inches
SIZE_1D = (6.0, 4.0)
SIZE_1D_MAPPING = (6.0, 5.4)  # the 1-D figure with the z -> x panel below it
MAPPING_COLOR = "#555555"
PRIOR_LABELS = {"uniform": "z ~ U(0, 1)", "normal": "z ~ N(0, 1)"}
MAX_ARROWS = 300
ARROW_FRACTION = 0.07  # a typical arrow is this fraction of the plot's larger side


# ----------------------------------------------------------------------------------------------- I/O
def _save_png(fig: Figure, path: str | Path) -> None:
    """Render ``fig`` to a PNG at ``path`` atomically (a reader never sees a half-written frame).

    Args:
        fig: a figure built on the Agg canvas (see :func:`_new_figure`).
        path: destination; missing parent directories are created.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    atomic_write_bytes(path, buf.getvalue())


def _new_figure(size: tuple[float, float]) -> Figure:
    """A pyplot-free figure with an Agg canvas attached."""
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


# -------------------------------------------------------------------------------------- validation
def _points(value: Any, key: str, dim: int | None = None) -> np.ndarray:
    """Convert a list of points (or None) into a float array of shape (N, dim).

    A flat list / 1-D array is read as N one-dimensional points. JSON ``null`` entries become NaN.

    Raises:
        DataError: ragged or wrongly-shaped input, naming ``key``.
    """
    if value is None:
        return np.zeros((0, dim or 1))
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"snapshot[{key!r}] is not a list of points of equal length ({exc}).") from None
    if arr.size == 0:
        return np.zeros((0, dim or (arr.shape[-1] if arr.ndim == 2 else 1)))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"snapshot[{key!r}] must have shape (N, dim); got shape {arr.shape}.")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"snapshot[{key!r}] has points of dimension {arr.shape[1]}, expected {dim}.")
    return arr


def _vector(value: Any, key: str) -> np.ndarray:
    """A 1-D float array from a JSON list (``null`` -> NaN)."""
    try:
        arr = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"snapshot[{key!r}] is not a list of numbers ({exc}).") from None
    return arr


def _finite_rows(arr: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of an (N, D) array whose entries are all finite."""
    return np.isfinite(arr).all(axis=1) if arr.size else np.zeros(len(arr), dtype=bool)


def _bounds(bounds: Any, dim: int, *arrays: np.ndarray) -> list[tuple[float, float]]:
    """Plot limits per axis: the given bounds, else the data's range with a 5 % margin."""
    if bounds is not None:
        try:
            b = np.asarray(bounds, dtype=float).reshape(-1, 2)
        except (TypeError, ValueError):
            raise DataError(f"bounds must be [[lo, hi], ...]; got {bounds!r}.") from None
        if len(b) >= dim and np.isfinite(b[:dim]).all() and (b[:dim, 1] > b[:dim, 0]).all():
            return [(float(lo), float(hi)) for lo, hi in b[:dim]]
        logger.warning("ignoring unusable bounds %r; using the data's range", bounds)
    out = []
    for k in range(dim):
        cols = [a[:, k] for a in arrays if a.size and a.shape[1] > k]
        vals = np.concatenate(cols) if cols else np.zeros(0)
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            out.append((-1.0, 1.0))
            continue
        lo, hi = float(vals.min()), float(vals.max())
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        out.append((lo - pad, hi + pad))
    return out


def _is_uniform(v: np.ndarray) -> bool:
    """True when ``v`` is strictly increasing with (nearly) equal steps, so imshow can draw it."""
    if v.size < 2:
        return True
    d = np.diff(v)
    return bool((d > 0).all() and np.allclose(d, d[0], rtol=1e-3, atol=0.0))


def _color_limits(d: np.ndarray) -> tuple[float, float]:
    """[0, 1] for a probability; otherwise the finite range (a critic that was not rescaled)."""
    finite = d[np.isfinite(d)]
    if finite.size == 0 or (finite.min() >= -1e-6 and finite.max() <= 1 + 1e-6):
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _snapshot_dim(snapshot: dict[str, Any]) -> int:
    dim = snapshot.get("dim")
    if dim is None:
        for key in ("fake", "real"):
            arr = _points(snapshot.get(key), key)
            if arr.size:
                return int(arr.shape[1])
        b = snapshot.get("bounds")
        return len(b) if b else 2
    try:
        return int(dim)
    except (TypeError, ValueError):
        raise DataError(f"snapshot['dim'] must be 1 or 2; got {dim!r}.") from None


def _default_title(snapshot: dict[str, Any]) -> str:
    parts = [f"step {snapshot['step']}" if snapshot.get("step") is not None else "samples"]
    what = " · ".join(str(snapshot[k]) for k in ("dataset", "objective") if snapshot.get(k))
    return f"{parts[0]} — {what}" if what else parts[0]


# ---------------------------------------------------------------------------------------- 2-D plot
def _subsample(n: int, k: int) -> np.ndarray:
    """Indices of at most ``k`` of ``n`` items, evenly spread (deterministic, so frames agree)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def _arrow_vectors(arrows: np.ndarray, span: float) -> np.ndarray:
    """Scale gradient arrows to on-screen lengths, keeping their relative sizes.

    The 90th percentile of the lengths becomes ``ARROW_FRACTION * span``; longer arrows are clipped to
    that length so that one outlier cannot hide all the others, shorter ones keep their ratio.

    Args:
        arrows: (N, 2) raw directions (arbitrary scale).
        span: the larger side of the plot in data units.

    Returns:
        (N, 2) arrows in data units.
    """
    norms = np.linalg.norm(arrows, axis=1)
    ref = float(np.percentile(norms, 90)) if norms.size else 0.0
    if not ref > 0:
        ref = float(norms.max()) if norms.size else 0.0
    if not ref > 0:
        return np.zeros_like(arrows)
    lengths = np.minimum(norms / ref, 1.0) * ARROW_FRACTION * span  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(norms[:, None] > 0, arrows / norms[:, None], 0.0)
    return unit * lengths[:, None]


def _draw_2d(fig: Figure, snapshot: dict[str, Any], title: str) -> None:
    real = _points(snapshot.get("real"), "real", 2)
    fake = _points(snapshot.get("fake"), "fake", 2)
    grid = snapshot.get("grid")
    (xlo, xhi), (ylo, yhi) = _bounds(snapshot.get("bounds"), 2, real, fake)

    # Fixed margins (no tight/constrained layout: they cost a re-draw per frame and move the axes).
    # Room on the right for the colourbar only when there is a heatmap.
    ax = fig.add_axes((0.11, 0.09, 0.70, 0.80) if grid is not None else (0.12, 0.09, 0.82, 0.80))
    handles: list[Any] = []
    cax = None

    if grid is not None:
        gx = _vector(grid.get("x"), "grid.x")
        gy = _vector(grid.get("y"), "grid.y")
        try:
            d = np.asarray(grid.get("d"), dtype=float)
        except (TypeError, ValueError):
            raise DataError("snapshot['grid']['d'] must be a list of ny rows of nx numbers.") from None
        if d.shape != (gy.size, gx.size):
            raise DataError(
                f"snapshot['grid']['d'] has shape {d.shape}, expected (len(y), len(x)) = "
                f"({gy.size}, {gx.size})."
            )
        vmin, vmax = _color_limits(d)
        d = np.ma.masked_invalid(d)
        image: ScalarMappable  # an image on a uniform grid, a mesh on any other
        if _is_uniform(gx) and _is_uniform(gy):
            hx = (gx[1] - gx[0]) / 2 if gx.size > 1 else 0.5
            hy = (gy[1] - gy[0]) / 2 if gy.size > 1 else 0.5
            image = ax.imshow(
                d, origin="lower", extent=(gx[0] - hx, gx[-1] + hx, gy[0] - hy, gy[-1] + hy),
                cmap=HEATMAP_CMAP, vmin=vmin, vmax=vmax, alpha=HEATMAP_ALPHA,
                interpolation="bilinear", aspect="auto", zorder=0,
            )
        else:
            image = ax.pcolormesh(gx, gy, d, cmap=HEATMAP_CMAP, vmin=vmin, vmax=vmax,
                                  alpha=HEATMAP_ALPHA, shading="nearest", zorder=0)
        cax = fig.add_axes((0.84, 0.09, 0.035, 0.80))
        cbar = fig.colorbar(image, cax=cax)
        cbar.set_label(str(snapshot.get("d_label") or "D(x)"), fontsize=9)
        cbar.ax.tick_params(labelsize=8)
        if (vmin, vmax) == (0.0, 1.0):
            cbar.ax.axhline(0.5, color="black", lw=0.8, ls="--")

    real_ok = real[_finite_rows(real)]
    if len(real_ok):
        ax.scatter(real_ok[:, 0], real_ok[:, 1], s=8, c=REAL_COLOR, alpha=0.8, linewidths=0,
                   zorder=2)
        handles.append(Line2D([], [], ls="", marker="o", ms=5, color=REAL_COLOR, label="real"))

    fake_mask = _finite_rows(fake)
    fake_ok = fake[fake_mask]
    if len(fake_ok):
        ax.scatter(fake_ok[:, 0], fake_ok[:, 1], s=14, c=FAKE_COLOR, edgecolors="white",
                   linewidths=0.4, zorder=3)
        handles.append(Line2D([], [], ls="", marker="o", ms=5, color=FAKE_COLOR, mec="white",
                              label="G(z)"))
    if len(fake) > len(fake_ok):
        logger.warning("snapshot at step %s: %d non-finite generator samples not drawn",
                       snapshot.get("step"), len(fake) - len(fake_ok))

    arrows_raw = snapshot.get("arrows")
    if arrows_raw is not None and len(fake):
        arrows = _points(arrows_raw, "arrows", 2)
        if len(arrows) != len(fake):
            raise DataError(
                f"snapshot['arrows'] has {len(arrows)} rows but snapshot['fake'] has {len(fake)}; "
                "there must be one arrow per generator sample."
            )
        ok = fake_mask & _finite_rows(arrows)
        pts, vec = fake[ok], arrows[ok]
        keep = _subsample(len(pts), MAX_ARROWS)
        pts, vec = pts[keep], _arrow_vectors(vec[keep], max(xhi - xlo, yhi - ylo))
        moving = np.linalg.norm(vec, axis=1) > 0
        if moving.any():
            ax.quiver(pts[moving, 0], pts[moving, 1], vec[moving, 0], vec[moving, 1],
                      angles="xy", scale_units="xy", scale=1.0, color=ARROW_COLOR, alpha=0.8,
                      width=0.004, headwidth=3.5, headlength=4.0, headaxislength=3.5, zorder=4)
            handles.append(Line2D([], [], ls="", marker=r"$\rightarrow$", ms=10, color=ARROW_COLOR,
                                  label="−∇ G loss"))

    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ylo, yhi)
    ax.set_aspect("equal", adjustable="box", anchor="C")
    # Fix the box now (not at draw time) so that transData maps to final pixels before drawing.
    ax.apply_aspect()
    if cax is not None:
        # Equal aspect shrinks the axes box; give the colourbar the same height.
        box = ax.get_position()
        cax.set_position((box.x1 + 0.03, box.y0, 0.035, box.height))
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=10)
    if handles:
        # A fixed corner: loc="best" scans every point and costs more than the rest of the figure.
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.8,
                  handletextpad=0.3, borderpad=0.3, labelspacing=0.3)


# ---------------------------------------------------------------------------------------- 1-D plot
def _bins(n: int, lo: float, hi: float) -> np.ndarray:
    count = int(min(60, max(10, round(math.sqrt(max(n, 1)) * 1.5))))
    return np.linspace(lo, hi, count + 1)


def _density_weights(values: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Histogram weights that make bar heights a density over *all* samples.

    ``density=True`` would renormalise over the samples inside the plotted range, inflating p_g when
    the generator puts mass outside the bounds; with these weights the bars' area is the fraction of
    samples shown, and their heights are comparable with the p_data curve.
    """
    width = float(bins[1] - bins[0])
    return np.full(values.shape, 1.0 / (values.size * width))


def _draw_mapping(fig: Figure, mapping: dict[str, Any], xlo: float, xhi: float, left: float, width: float) -> int:
    """The lecture's picture of G: the noise line below, an arrow from each z to G(z) on the x axis above.

    The noise axis spans ``mapping["range"]`` (where the prior's mass is; else the pairs' range) across the
    same width as the density panel (bottom edge at figure height 0.40), and the arrows end on an x line drawn just
    under the panel's tick labels, on the panel's scale; a pair whose G(z) lies outside [xlo, xhi] gets no
    arrow. Returns the number of arrows drawn.
    """
    z, gz = _vector(mapping.get("z"), "mapping.z"), _vector(mapping.get("x"), "mapping.x")
    if z.shape != gz.shape:
        raise DataError(f"snapshot['mapping'] has {z.size} z values but {gz.size} x values.")
    ok = np.isfinite(z) & np.isfinite(gz)
    z, gz = z[ok], gz[ok]
    prior = str(mapping.get("prior") or "")
    if mapping.get("range") is not None:
        zr = _vector(mapping["range"], "mapping.range")
        if zr.size != 2 or not (np.all(np.isfinite(zr)) and zr[0] < zr[1]):
            raise DataError(f"snapshot['mapping']['range'] must be [low, high] with low < high, got {zr.tolist()}.")
        zlo, zhi = float(zr[0]), float(zr[1])
    else:
        ((zlo, zhi),) = _bounds(None, 1, z[:, None])
    zax = fig.add_axes((left, 0.10, width, 0.02))
    zax.set_xlim(zlo, zhi)
    zax.set_ylim(-1, 1)
    zax.scatter(z, np.zeros_like(z), s=10, color=MAPPING_COLOR, zorder=3)
    zax.get_yaxis().set_visible(False)
    for side in ("left", "right", "top"):
        zax.spines[side].set_visible(False)
    zax.spines["bottom"].set_position(("data", 0))
    zax.tick_params(labelsize=8)
    zax.set_xlabel(PRIOR_LABELS.get(prior, "z (noise)"), fontsize=9)
    # the x line sits just under the density panel's tick labels: the arrows end on it, at G(z)
    bridge = fig.add_axes((left, 0.12, width, 0.215))
    bridge.set_axis_off()
    bridge.set_xlim(0, 1)
    bridge.set_ylim(0, 1)
    bridge.axhline(1.0, color=MAPPING_COLOR, lw=0.8)
    drawn = 0
    for zi, xi in zip((z - zlo) / (zhi - zlo), (gz - xlo) / (xhi - xlo)):
        if 0.0 <= xi <= 1.0:
            bridge.annotate("", xy=(xi, 1.0), xytext=(zi, 0.0), annotation_clip=False,
                            arrowprops={"arrowstyle": "-|>", "color": MAPPING_COLOR, "lw": 0.7, "alpha": 0.75,
                                        "shrinkA": 0, "shrinkB": 0, "mutation_scale": 7})
            drawn += 1
    bridge.text(1.01, 1.0, "x", fontsize=9, color=MAPPING_COLOR, ha="left", va="center")
    bridge.text(1.01, 0.5, "G", fontsize=10, color=MAPPING_COLOR, ha="left", va="center")
    return drawn


def _draw_1d(fig: Figure, snapshot: dict[str, Any], title: str) -> None:
    real = _points(snapshot.get("real"), "real", 1)[:, 0]
    fake = _points(snapshot.get("fake"), "fake", 1)[:, 0]
    real, fake = real[np.isfinite(real)], fake[np.isfinite(fake)]
    ((xlo, xhi),) = _bounds(snapshot.get("bounds"), 1, real[:, None], fake[:, None])

    mapping = snapshot.get("mapping")
    ax = fig.add_axes((0.11, 0.40, 0.76, 0.52) if mapping else (0.11, 0.13, 0.76, 0.77))
    handles: list[Any] = []

    density = snapshot.get("density")
    if density is not None:
        dx, dp = _vector(density.get("x"), "density.x"), _vector(density.get("p"), "density.p")
        if dx.shape != dp.shape:
            raise DataError(f"snapshot['density'] has {dx.size} x values but {dp.size} p values.")
        (line,) = ax.plot(dx, dp, color=PDATA_COLOR, ls=":", lw=2.0, label="p_data")
        handles.append(line)
    elif real.size:
        bins = _bins(real.size, xlo, xhi)
        ax.hist(real, bins=bins.tolist(), weights=_density_weights(real, bins), histtype="step",
                color=PDATA_COLOR, ls=":", lw=1.5)
        handles.append(Line2D([], [], color=PDATA_COLOR, ls=":", lw=1.5, label="real (histogram)"))
    if fake.size:
        bins = _bins(fake.size, xlo, xhi)
        ax.hist(fake, bins=bins.tolist(), weights=_density_weights(fake, bins), color=PG_COLOR, alpha=0.45,
                edgecolor=PG_COLOR, linewidth=0.8)
        handles.append(Line2D([], [], color=PG_COLOR, lw=6, alpha=0.45, label="p_g (G(z) histogram)"))
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("density", fontsize=9)
    ax.set_xlabel("" if mapping else "x", fontsize=9)  # with the mapping: the x line is labelled
    ax.tick_params(labelsize=8)

    grid = snapshot.get("grid")
    if grid is not None:
        gx, gd = _vector(grid.get("x"), "grid.x"), _vector(grid.get("d"), "grid.d")
        if gx.shape != gd.shape:
            raise DataError(f"snapshot['grid'] has {gx.size} x values but {gd.size} d values.")
        vmin, vmax = _color_limits(gd)
        ax2 = ax.twinx()
        label = str(snapshot.get("d_label") or "D(x)")
        (line,) = ax2.plot(gx, gd, color=D_COLOR, ls="--", lw=1.8, label=label)
        handles.append(line)
        if (vmin, vmax) == (0.0, 1.0):
            ax2.axhline(0.5, color="grey", ls="--", lw=0.8)
            ax2.set_ylim(0.0, 1.0)
        ax2.set_ylabel(label, fontsize=9, color=D_COLOR)
        ax2.tick_params(labelsize=8, colors=D_COLOR)
    ax.set_title(title, fontsize=10)
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.8)
    if mapping:
        _draw_mapping(fig, mapping, xlo, xhi, 0.11, 0.76)


# ------------------------------------------------------------------------------------------- public
def snapshot_figure(snapshot: dict[str, Any], title: str | None = None) -> Figure:
    """Build (without saving) the figure of :func:`plot_snapshot`.

    Useful in notebooks and for tests that need pixel positions: the layout is final on return, so
    ``fig.axes[0].transData`` (the main axes) maps data to the pixels of the PNG that
    :func:`plot_snapshot` writes (x right, y up from the bottom edge).

    Args:
        snapshot: see :func:`plot_snapshot`.
        title: figure title; default ``"step N — dataset · objective"``.

    Returns:
        A matplotlib Figure with an Agg canvas.

    Raises:
        DataError: (a ValueError) malformed snapshot, with one sentence naming the bad key.
    """
    if not isinstance(snapshot, dict):
        raise DataError(f"a snapshot must be a dict; got {type(snapshot).__name__}.")
    dim = _snapshot_dim(snapshot)
    title = title if title is not None else _default_title(snapshot)
    if dim == 2:
        fig = _new_figure(SIZE_2D)
        _draw_2d(fig, snapshot, title)
    elif dim == 1:
        fig = _new_figure(SIZE_1D_MAPPING if snapshot.get("mapping") else SIZE_1D)
        _draw_1d(fig, snapshot, title)
    else:
        raise DataError(
            f"snapshots are drawn for 1-D and 2-D data only; got dim={dim} (use plot_points for "
            "higher-dimensional samples)."
        )
    return fig


def plot_snapshot(snapshot: dict[str, Any], path: str | Path, title: str | None = None) -> None:
    """Write the PNG of one training snapshot on 1-D or 2-D data.

    2-D (500 x 500 px): D(x) as a heatmap (green = 1 "real", purple = 0 "fake", colourbar labelled
    ``d_label``, dashed tick at 1/2), real points, generator samples, and the generator's gradient
    arrows (at most 300, evenly subsampled, lengths normalised to about 7 % of the plot while keeping
    their relative sizes), equal aspect. 1-D (600 x 400 px): p_data (curve, or histogram of the real
    points), the density histogram of G(z), and D(x) on a right axis in [0, 1] with a dashed line at
    1/2 (the equilibrium D* = p_data / (p_data + p_g) = 1/2); with ``mapping`` (600 x 540 px), below it
    the noise line and an arrow from each z to G(z), the lecture's (and the GAN paper's) picture of G.

    The snapshot (JSON-serialisable; ``None`` entries are skipped)::

        {"step": int, "dim": 1 | 2, "dataset": str, "objective": str,
         "bounds": [[xlo, xhi], [ylo, yhi]],          # 1-D: [[xlo, xhi]]
         "real": [[x, y], ...], "fake": [[x, y], ...],  # 1-D: [[x], ...]
         "grid": {"x": [nx], "y": [ny], "d": [[nx] * ny]} | None,  # d[j][i] at (x[i], y[j]);
                                                          # 1-D: {"x": [n], "d": [n]}
         "d_label": "D(x)",
         "arrows": [[dx, dy], ...] | None,              # 2-D, one per fake point
         "density": {"x": [n], "p": [n]} | None,        # 1-D
         # 1-D data from 1-D noise: (z, G(z)) pairs
         "mapping": {"prior": str, "range": [lo, hi], "z": [k], "x": [k]} | None}

    Args:
        snapshot: the dict above.
        path: PNG to write (atomically; parent directories are created).
        title: figure title; default ``"step N — dataset · objective"``.

    Raises:
        DataError: (a ValueError) malformed snapshot, with one sentence naming the bad key.
    """
    _save_png(snapshot_figure(snapshot, title), path)


def points_figure(
    fake: np.ndarray,
    real: np.ndarray | None = None,
    bounds: Sequence[Sequence[float]] | None = None,
    title: str | None = None,
) -> Figure:
    """Build (without saving) the figure of :func:`plot_points`; arguments as there."""
    fake_arr = _points(fake, "fake")
    dim = fake_arr.shape[1]
    real_arr = _points(real, "real", dim) if real is not None else None
    n_bad = int((~_finite_rows(fake_arr)).sum())
    if n_bad:
        logger.warning("%d non-finite samples not drawn", n_bad)
    fake_arr = fake_arr[_finite_rows(fake_arr)]
    if real_arr is not None:
        real_arr = real_arr[_finite_rows(real_arr)]
    base = title if title is not None else f"{len(fake_arr)} samples"

    if dim == 1:
        snap: dict[str, Any] = {"dim": 1, "bounds": bounds, "fake": fake_arr, "real": real_arr}
        fig = _new_figure(SIZE_1D)
        _draw_1d(fig, snap, base)
        return fig

    xy = fake_arr[:, :2]
    rxy = real_arr[:, :2] if real_arr is not None else np.zeros((0, 2))
    if dim > 2:
        base = f"{base} (first 2 of {dim} coordinates)"
        bounds = list(bounds)[:2] if bounds is not None else None
    (xlo, xhi), (ylo, yhi) = _bounds(bounds, 2, rxy, xy)
    fig = _new_figure(SIZE_2D)
    ax = fig.add_axes((0.12, 0.09, 0.82, 0.82))
    handles = []
    if len(rxy):
        ax.scatter(rxy[:, 0], rxy[:, 1], s=8, c=REAL_COLOR, alpha=0.6, linewidths=0)
        handles.append(Line2D([], [], ls="", marker="o", ms=5, color=REAL_COLOR, label="real"))
    if len(xy):
        ax.scatter(xy[:, 0], xy[:, 1], s=10, c=FAKE_COLOR, alpha=0.8, linewidths=0)
        handles.append(Line2D([], [], ls="", marker="o", ms=5, color=FAKE_COLOR, label="G(z)"))
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ylo, yhi)
    ax.set_aspect("equal", adjustable="box", anchor="C")
    ax.apply_aspect()
    ax.set_xlabel("x[0]", fontsize=9)
    ax.set_ylabel("x[1]", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_title(base, fontsize=10)
    if len(handles) > 1:
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.8)
    return fig


def plot_points(
    fake: np.ndarray,
    path: str | Path,
    real: np.ndarray | None = None,
    bounds: Sequence[Sequence[float]] | None = None,
    title: str | None = None,
) -> None:
    """Write a plain picture of samples: a scatter (2-D and up) or a density histogram (1-D).

    Used by ``gankit sample -o out.png``. For dim > 2 the first two coordinates are drawn and the
    title says so. Non-finite samples are skipped (and counted in a log warning).

    Args:
        fake: (N, D) or (N,) generator samples.
        path: PNG to write (atomically; parent directories are created).
        real: optional (M, D) real points drawn underneath, in green.
        bounds: optional [[xlo, xhi], [ylo, yhi]] plot limits; default the data's range.
        title: figure title; default ``"N samples"``.

    Raises:
        DataError: (a ValueError) samples that are not an (N, D) array, or real points of another D.
    """
    _save_png(points_figure(fake, real=real, bounds=bounds, title=title), path)
