"""Snapshot and sample figures: valid PNGs of the documented size whose pixels show the data."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
from matplotlib.quiver import Quiver
from matplotlib.text import Annotation
from PIL import Image

from gankit.viz import plot_points, plot_snapshot, points_figure, snapshot_figure, toy


def _png(path: Path) -> np.ndarray:
    """The PNG at ``path`` as an (H, W, 3) uint8 array, after checking it is a real PNG."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def _pixel(img: np.ndarray, fig: Any, ax: Any, x: float, y: float) -> np.ndarray:
    """The RGB of the PNG pixel at data coordinates (x, y) of ``ax`` (PNG saved at fig.dpi, no crop)."""
    px, py = ax.transData.transform((x, y))
    row = int(round(img.shape[0] - py))
    col = int(round(px))
    return img[row, col].astype(int)


def _heat_rgb(value: float) -> np.ndarray:
    """The colour the heatmap must show for D = value: the colormap blended over white."""
    rgba = np.array(matplotlib.colormaps[toy.HEATMAP_CMAP](value)[:3])
    return np.round(255 * (toy.HEATMAP_ALPHA * rgba + (1 - toy.HEATMAP_ALPHA))).astype(int)


def _half_plane_snapshot(left: float, right: float, axis: str = "x") -> dict[str, Any]:
    """No points; D = ``left`` where the coordinate ``axis`` is < 0 and ``right`` where it is > 0.

    The grid is not square (nx = 40, ny = 30) so that a transposed d would not even fit.
    """
    xs = np.linspace(-2.0, 2.0, 40)
    ys = np.linspace(-2.0, 2.0, 30)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx): d[j][i] at (x[i], y[j])
    coord = gx if axis == "x" else gy
    d = np.where(coord < 0, left, right)
    return {"step": 7, "dim": 2, "bounds": [[-2, 2], [-2, 2]], "real": [], "fake": [],
            "grid": {"x": xs.tolist(), "y": ys.tolist(), "d": d.tolist()}, "d_label": "D(x)",
            "arrows": None}


# ------------------------------------------------------------------------------------------ 2-D
@pytest.mark.parametrize("drop", [(), ("grid",), ("arrows",), ("grid", "arrows")])
def test_2d_snapshot_writes_a_500px_png(tmp_path: Path, snapshot_2d: dict, drop: tuple) -> None:
    for key in drop:
        snapshot_2d[key] = None
    out = tmp_path / "nested" / "step-001000.png"
    plot_snapshot(snapshot_2d, out)
    img = _png(out)
    assert img.shape == (500, 500, 3)
    codes = img[..., 0].astype(np.int32) << 16 | img[..., 1].astype(np.int32) << 8 | img[..., 2]
    assert len(np.unique(codes)) > 50  # a picture, not a blank page
    assert [p.name for p in out.parent.iterdir()] == ["step-001000.png"]  # no temp file left behind


def test_2d_title_and_colourbar_label(snapshot_2d: dict) -> None:
    snapshot_2d["d_label"] = "critic (rescaled)"
    fig = snapshot_figure(snapshot_2d)
    ax, cax = fig.axes[0], fig.axes[1]
    assert "step 1000" in ax.get_title() and "ring8" in ax.get_title()
    assert cax.get_ylabel() == "critic (rescaled)"
    assert ax.get_xlim() == (-1.5, 1.5) and ax.get_ylim() == (-1.5, 1.5)
    assert ax.get_aspect() == 1.0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["real", "G(z)", "−∇ G loss"]
    assert snapshot_figure(snapshot_2d, title="mine").axes[0].get_title() == "mine"


@pytest.mark.parametrize("left,right", [(1.0, 0.0), (0.0, 1.0)])
def test_heatmap_left_right_halves_show_d(tmp_path: Path, left: float, right: float) -> None:
    snap = _half_plane_snapshot(left, right, axis="x")
    plot_snapshot(snap, tmp_path / "h.png")
    img = _png(tmp_path / "h.png")
    fig = snapshot_figure(snap)
    ax = fig.axes[0]
    for y in (-1.5, 0.0, 1.5):
        for x, value in ((-1.5, left), (-0.6, left), (0.6, right), (1.5, right)):
            got = _pixel(img, fig, ax, x, y)
            np.testing.assert_allclose(got, _heat_rgb(value), atol=6, err_msg=f"at ({x}, {y})")
    # D = 1 is green (real), D = 0 purple (fake), as in GAN Lab.
    green = _pixel(img, fig, ax, -1.0 if left == 1.0 else 1.0, 0.0)
    purple = _pixel(img, fig, ax, 1.0 if left == 1.0 else -1.0, 0.0)
    assert green[1] > green[0] and green[1] > green[2]
    assert purple[0] > purple[1] and purple[2] > purple[1]


def test_heatmap_rows_are_y(tmp_path: Path) -> None:
    """d[j][i] is D at (x[i], y[j]): D = 1 on the lower half must be drawn at the bottom."""
    snap = _half_plane_snapshot(1.0, 0.0, axis="y")
    plot_snapshot(snap, tmp_path / "h.png")
    img = _png(tmp_path / "h.png")
    fig = snapshot_figure(snap)
    ax = fig.axes[0]
    np.testing.assert_allclose(_pixel(img, fig, ax, 0.3, -1.2), _heat_rgb(1.0), atol=6)
    np.testing.assert_allclose(_pixel(img, fig, ax, 0.3, 1.2), _heat_rgb(0.0), atol=6)


def test_heatmap_on_a_non_uniform_grid(tmp_path: Path) -> None:
    snap = _half_plane_snapshot(1.0, 0.0)
    xs = np.array(snap["grid"]["x"])
    snap["grid"]["x"] = (np.sign(xs) * np.abs(xs) ** 1.5 / 2 ** 0.5).tolist()  # still within [-2, 2]
    plot_snapshot(snap, tmp_path / "h.png")
    img = _png(tmp_path / "h.png")
    fig = snapshot_figure(snap)
    np.testing.assert_allclose(_pixel(img, fig, fig.axes[0], -1.0, 0.0), _heat_rgb(1.0), atol=6)
    np.testing.assert_allclose(_pixel(img, fig, fig.axes[0], 1.0, 0.0), _heat_rgb(0.0), atol=6)


def test_points_are_drawn_where_they_are(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    real = (np.array([-1.0, -1.0]) + 0.01 * rng.normal(size=(200, 2))).tolist()
    fake = (np.array([1.0, 1.0]) + 0.01 * rng.normal(size=(200, 2))).tolist()
    snap = {"step": 3, "dim": 2, "bounds": [[-2, 2], [-2, 2]], "real": real, "fake": fake,
            "grid": None, "arrows": None}
    plot_snapshot(snap, tmp_path / "p.png")
    img = _png(tmp_path / "p.png")
    fig = snapshot_figure(snap)
    ax = fig.axes[0]
    real_rgb = np.array(matplotlib.colors.to_rgb(toy.REAL_COLOR)) * 255
    fake_rgb = np.array(matplotlib.colors.to_rgb(toy.FAKE_COLOR)) * 255
    np.testing.assert_allclose(_pixel(img, fig, ax, -1.0, -1.0), real_rgb, atol=30)
    np.testing.assert_allclose(_pixel(img, fig, ax, 1.0, 1.0), fake_rgb, atol=30)
    np.testing.assert_array_equal(_pixel(img, fig, ax, 1.0, -1.0), [255, 255, 255])


def test_arrows_are_subsampled_normalised_and_keep_direction(make_snapshot_2d) -> None:
    snap = make_snapshot_2d(n_fake=1000)
    fake = np.array(snap["fake"])
    raw = np.c_[np.ones(1000), np.zeros(1000)] * 1e6 * np.linspace(0.1, 1.0, 1000)[:, None]
    snap["arrows"] = raw.tolist()  # huge and all pointing right, with lengths varying 10x
    fig = snapshot_figure(snap)
    (quiver,) = [c for c in fig.axes[0].collections if isinstance(c, Quiver)]
    assert 200 <= quiver.N <= toy.MAX_ARROWS
    u, v = np.asarray(quiver.U), np.asarray(quiver.V)
    assert np.all(u > 0) and np.allclose(v, 0)
    span = 3.0
    assert u.max() == pytest.approx(toy.ARROW_FRACTION * span)  # on screen, whatever the raw scale
    assert u.min() < 0.3 * u.max()  # relative sizes survive the normalisation
    # Arrows sit on their own samples.
    offsets = quiver.get_offsets()
    assert np.isin(offsets[:, 0], fake[:, 0]).all()


def test_zero_and_nonfinite_values_do_not_break_the_figure(tmp_path: Path, snapshot_2d: dict) -> None:
    snapshot_2d["arrows"] = [[0.0, 0.0]] * len(snapshot_2d["fake"])  # D saturated: no gradient
    snapshot_2d["fake"][0] = [float("nan"), 0.0]
    snapshot_2d["grid"]["d"][0][0] = None  # JSON null
    plot_snapshot(snapshot_2d, tmp_path / "s.png")
    assert _png(tmp_path / "s.png").shape == (500, 500, 3)


def test_bounds_default_to_the_data(tmp_path: Path, snapshot_2d: dict) -> None:
    snapshot_2d["bounds"] = None
    snapshot_2d["grid"] = None
    fig = snapshot_figure(snapshot_2d)
    fake = np.array(snapshot_2d["fake"])
    lo, hi = fig.axes[0].get_xlim()
    assert lo < fake[:, 0].min() and hi > fake[:, 0].max()


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda s: s.update(arrows=s["arrows"][:-1]), "one arrow per generator sample"),
        (lambda s: s["grid"].update(d=np.array(s["grid"]["d"]).T[:-1].tolist()), "grid"),
        (lambda s: s.update(fake=[[0.0, 0.0, 0.0]]), "dimension 3"),
        (lambda s: s.update(dim=3), "1-D and 2-D"),
        (lambda s: s.update(real=[[0.0, 1.0], [2.0]]), "real"),
    ],
)
def test_malformed_snapshots_raise_one_clear_value_error(snapshot_2d: dict, change, match: str) -> None:
    change(snapshot_2d)
    with pytest.raises(ValueError, match=match):
        snapshot_figure(snapshot_2d)


# ------------------------------------------------------------------------------------------ 1-D
@pytest.mark.parametrize("with_density", [True, False])
@pytest.mark.parametrize("with_grid", [True, False])
def test_1d_snapshot(tmp_path: Path, make_snapshot_1d, with_density: bool, with_grid: bool) -> None:
    snap = make_snapshot_1d(with_density=with_density, with_grid=with_grid)
    plot_snapshot(snap, tmp_path / "s.png")
    assert _png(tmp_path / "s.png").shape == (400, 600, 3)

    fig = snapshot_figure(snap)
    ax = fig.axes[0]
    assert ax.get_xlim() == (-5.0, 5.0)
    # p_g is a density histogram: its bars integrate to 1 (all samples lie inside the bounds).
    bars = [p for p in ax.patches if p.get_fill()]
    area = sum(b.get_width() * b.get_height() for b in bars)
    assert area == pytest.approx(1.0, rel=1e-6)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == ("p_data" if with_density else "real (histogram)")
    if with_grid:
        assert len(fig.axes) == 2
        d_ax = fig.axes[1]
        assert d_ax.get_ylim() == (0.0, 1.0)
        halves = [ln for ln in d_ax.lines if ln.get_linestyle() == "--" and np.allclose(ln.get_ydata(), 0.5)]
        assert halves, "no dashed line at D = 1/2"
        assert "D(x)" in labels
    else:
        assert len(fig.axes) == 1


def test_1d_histogram_is_a_density_over_all_samples(make_snapshot_1d) -> None:
    """Samples outside the bounds are not drawn, but they still count in the normalisation."""
    snap = make_snapshot_1d()
    snap["fake"] = [[-4.0 + 0.01 * k] for k in range(100)] + [[9.0]] * 100  # half beyond xhi = 5
    ax = snapshot_figure(snap).axes[0]
    bars = [p for p in ax.patches if p.get_fill()]
    assert sum(b.get_width() * b.get_height() for b in bars) == pytest.approx(0.5)


def test_1d_discriminator_curve_is_drawn_in_blue(tmp_path: Path, make_snapshot_1d) -> None:
    snap = make_snapshot_1d(with_density=False)
    snap["fake"] = []  # leave only the D curve on the right-hand part of the plot
    snap["real"] = []
    snap["grid"]["d"] = [0.75] * len(snap["grid"]["x"])  # a flat line at 3/4 of the right axis
    plot_snapshot(snap, tmp_path / "s.png")
    img = _png(tmp_path / "s.png")
    fig = snapshot_figure(snap)
    d_ax = fig.axes[1]
    blue = np.array(matplotlib.colors.to_rgb(toy.D_COLOR)) * 255

    def distance_to_blue(y: float) -> float:
        # A 40 px wide strip, so that the dashes' gaps cannot hide the line.
        px, py = d_ax.transData.transform((-2.0, y))
        row, col = int(round(img.shape[0] - py)), int(round(px))
        strip = img[row - 2:row + 3, col:col + 40].reshape(-1, 3).astype(float)
        return float(np.abs(strip - blue).sum(axis=1).min())

    assert distance_to_blue(0.75) < 30
    assert distance_to_blue(0.25) > 200  # nothing blue where D is not


def test_1d_mapping_draws_an_arrow_from_each_z_to_its_g_of_z(tmp_path: Path, make_snapshot_1d) -> None:
    snap = make_snapshot_1d()
    z = (np.arange(30) + 0.5) / 30
    gz = -1.0 + 4.0 * (z - 0.5)  # in [-3, 1]
    gz[-1] = 7.0  # outside the bounds [-5, 5]: no arrow for it
    snap["mapping"] = {"prior": "uniform", "range": [0, 1], "z": z.tolist(), "x": gz.tolist()}
    plot_snapshot(snap, tmp_path / "s.png")
    assert _png(tmp_path / "s.png").shape == (540, 600, 3)
    fig = snapshot_figure(snap)
    ax, zax, bridge = fig.axes[0], fig.axes[2], fig.axes[3]  # [1] is D's axis, as without the mapping
    assert zax.get_xlim() == (0.0, 1.0) and zax.get_xlabel() == "z ~ U(0, 1)"
    arrows = [a for a in bridge.texts if isinstance(a, Annotation)]
    assert len(arrows) == 29
    for a, zi, xi in zip(arrows, z, gz):
        # each arrow starts above its z on the noise line and ends above G(z) on the density panel's x scale
        tail, head = bridge.transData.transform(a.xyann), bridge.transData.transform(a.xy)
        assert tail[0] == pytest.approx(zax.transData.transform((zi, 0))[0], abs=0.5)
        assert head[0] == pytest.approx(ax.transData.transform((xi, 0))[0], abs=0.5)
        assert head[1] > tail[1]
    # normal noise: the line spans the snapshot's range (±3σ) whatever the pairs' range, so the frames of
    # one run share one axis; without a range, the pairs' range with a 5 % margin
    zn = np.linspace(-2.0, 2.0, 30)
    normal = {"prior": "normal", "range": [-3, 3], "z": zn.tolist(), "x": (zn - 1).tolist()}
    fig = snapshot_figure({**snap, "mapping": normal})
    assert fig.axes[2].get_xlim() == (-3.0, 3.0) and fig.axes[2].get_xlabel() == "z ~ N(0, 1)"
    assert len([a for a in fig.axes[3].texts if isinstance(a, Annotation)]) == 30
    fig = snapshot_figure({**snap, "mapping": {**normal, "range": None}})
    assert fig.axes[2].get_xlim() == pytest.approx((-2.2, 2.2))
    for bad in ([1, 0], [0, 1, 2], [0, None]):
        with pytest.raises(ValueError, match=r"\['range'\] must be \[low, high\]"):
            snapshot_figure({**snap, "mapping": {**normal, "range": bad}})
    with pytest.raises(ValueError, match="mapping"):
        snapshot_figure({**snap, "mapping": {"prior": "uniform", "z": [0.5], "x": [0.0, 1.0]}})


# --------------------------------------------------------------------------------------- points
def test_plot_points_2d_and_1d(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    plot_points(rng.normal(size=(300, 2)), tmp_path / "a.png", real=rng.normal(size=(300, 2)))
    assert _png(tmp_path / "a.png").shape == (500, 500, 3)
    plot_points(rng.normal(size=300), tmp_path / "b.png", bounds=[[-4, 4]], title="1-D")
    assert _png(tmp_path / "b.png").shape == (400, 600, 3)
    fig = points_figure(rng.normal(size=(300, 1)), bounds=[[-4, 4]])
    assert fig.axes[0].get_xlim() == (-4.0, 4.0)


def test_plot_points_high_dim_says_first_two_coordinates(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(200, 5))
    x[:, 0] += 10.0  # the first coordinate is the one on the x axis
    fig = points_figure(x, title="samples")
    assert fig.axes[0].get_title() == "samples (first 2 of 5 coordinates)"
    assert fig.axes[0].get_xlim()[0] > 5.0
    plot_points(x, tmp_path / "c.png")
    assert "first 2 of 5" in points_figure(x).axes[0].get_title()
    assert _png(tmp_path / "c.png").shape == (500, 500, 3)


def test_plot_points_rejects_mismatched_real(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dimension"):
        plot_points(np.zeros((5, 2)), tmp_path / "x.png", real=np.zeros((5, 3)))
    assert not (tmp_path / "x.png").exists()


def test_viz_does_not_import_torch() -> None:
    import importlib
    import subprocess

    code = ("import sys, gankit.viz.toy, gankit.viz.curves, gankit.viz.montage; "
            "sys.exit('torch' in sys.modules)")
    src = Path(importlib.import_module("gankit.viz").__file__).parents[2]
    # Only the viz modules and gankit.errors: stub the package so its __init__ (which may import
    # torch for the registries) is not what is being tested.
    stub = ("import sys, types; pkg = types.ModuleType('gankit'); "
            f"pkg.__path__ = [{str(src / 'gankit')!r}]; sys.modules['gankit'] = pkg; ")
    result = subprocess.run([sys.executable, "-c", stub + code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_snapshot_is_not_mutated(snapshot_2d: dict) -> None:
    before = copy.deepcopy(snapshot_2d)
    snapshot_figure(snapshot_2d)
    assert snapshot_2d == before
