"""Training curves: the panels that the records allow, reference lines, and no failure on bad values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit.viz import D_LOSS_AT_HALF, plot_stats, stats_figure


def _records(n: int = 120) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        step = 10 * (i + 1)
        out.append({
            "step": step, "time": 0.01 * step,
            "d_loss": 1.4 + 0.1 * rng.normal(), "g_loss": 0.7 + 0.1 * rng.normal(),
            "d_real": 0.6 + 0.02 * rng.normal(), "d_fake": 0.4 + 0.02 * rng.normal(),
            "d_grad_norm": 10 ** rng.uniform(-2, 1), "g_grad_norm": 10 ** rng.uniform(-1, 2),
            "lr_g": 2e-4, "lr_d": 2e-4 * 0.99 ** i,
        })
    return out


def _panel(fig, ylabel: str):
    (ax,) = [a for a in fig.axes if a.get_ylabel() == ylabel]
    return ax


def _hlines(ax, y: float) -> list:
    return [ln for ln in ax.lines if len(ln.get_ydata()) == 2 and np.allclose(ln.get_ydata(), y)]


def test_all_panels_with_reference_lines(tmp_path: Path) -> None:
    stats = _records()
    plot_stats(stats, tmp_path / "curves.png", title="ring8 / nsgan")
    with Image.open(tmp_path / "curves.png") as im:
        assert im.format == "PNG" and im.size == (880, round((1.2 + 4 * 2.1) * 100))  # 6.8 in panels + 2 in legends

    fig = stats_figure(stats, title="ring8 / nsgan")
    assert [a.get_ylabel() for a in fig.axes] == ["loss", "discriminator", "grad norm", "learning rate"]
    assert fig.axes[0].get_title() == "ring8 / nsgan"

    loss = _panel(fig, "loss")
    (eq,) = _hlines(loss, D_LOSS_AT_HALF)
    assert D_LOSS_AT_HALF == pytest.approx(2 * math.log(2)) == pytest.approx(1.386, abs=1e-3)
    assert eq.get_linestyle() == "--" and eq.get_label().startswith("d_loss at D = 1/2")
    legend = [t.get_text() for t in loss.get_legend().get_texts()]
    assert {"d_loss", "g_loss"} <= set(legend)

    disc = _panel(fig, "discriminator")
    (half,) = _hlines(disc, 0.5)
    assert half.get_linestyle() == "--"
    assert {"mean D(x)", "mean D(G(z))"} <= {t.get_text() for t in disc.get_legend().get_texts()}
    assert disc.get_ylim()[0] >= -0.05 and disc.get_ylim()[1] <= 1.05

    assert _panel(fig, "grad norm").get_yscale() == "log"
    assert _panel(fig, "learning rate").get_yscale() == "linear"  # spans less than a factor 10


def test_legends_never_cover_the_curves(legends_beside) -> None:
    """curves.png's legends sat inside the panels' upper right, over the D accuracy curve near 1."""
    stats = [{**r, "d_acc": 0.995} for r in _records()]  # a curve right where the legend was
    assert legends_beside(stats_figure(stats)) == 5


def test_a_rate_decaying_to_zero_has_no_negative_ticks() -> None:
    """The linear learning-rate axis was padded below 0, showing negative rates."""
    stats = [{"step": s, "lr_g": 2e-4 * (1 - s / 100)} for s in (0, 50, 100)]  # 2e-4, 1e-4, 0: a linear axis
    ax = _panel(stats_figure(stats), "learning rate")
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0.0
    visible = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert min(visible) == 0.0


def test_panels_without_keys_are_left_out(tmp_path: Path) -> None:
    stats = [{"step": s, "g_loss": 1.0 / s, "d_grad_norm": 0.5} for s in range(1, 30)]
    fig = stats_figure(stats)
    assert [a.get_ylabel() for a in fig.axes] == ["loss", "grad norm"]
    assert not _hlines(fig.axes[0], D_LOSS_AT_HALF)  # no d_loss, no line for it
    plot_stats(stats, tmp_path / "c.png")
    with Image.open(tmp_path / "c.png") as im:
        assert im.size == (880, round((1.2 + 2 * 2.1) * 100))


def test_missing_keys_nan_inf_none_and_junk_do_not_fail(tmp_path: Path) -> None:
    stats = _records(80)
    stats[3]["d_loss"] = float("nan")
    stats[4]["g_loss"] = float("inf")
    stats[5]["g_loss"] = None
    stats[6]["d_real"] = "n/a"
    del stats[7]["d_fake"], stats[7]["g_grad_norm"]
    stats[8]["d_grad_norm"] = 0.0  # no logarithm: hidden on the log axis
    stats[9] = {"step": stats[9]["step"]}  # an empty record
    stats.append({"no_step": 1.0})  # skipped
    stats.append({"step": None, "d_loss": 3.0})  # skipped
    plot_stats(stats, tmp_path / "c.png")
    with Image.open(tmp_path / "c.png") as im:
        assert im.format == "PNG"

    fig = stats_figure(stats)
    loss = _panel(fig, "loss")
    (bad,) = [ln for ln in loss.lines if ln.get_label() == "first non-finite loss"]
    assert bad.get_xdata()[0] == stats[3]["step"]  # the NaN d_loss, before the inf g_loss
    # The raw curves keep the gaps (NaN) rather than joining over the bad values.
    raw = [ln for ln in loss.lines if ln.get_alpha() == 0.25]
    assert raw and all(np.isnan(ln.get_ydata()).sum() >= 1 for ln in raw)


def test_all_nan_column_and_single_point() -> None:
    fig = stats_figure([{"step": 1, "d_loss": float("nan"), "g_loss": 2.0}])
    assert [a.get_ylabel() for a in fig.axes] == ["loss"]
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert "g_loss" in labels and "d_loss" not in labels and "first non-finite loss" in labels
    # A run that diverged at once still gets its loss panel, showing where.
    fig = stats_figure([{"step": s, "d_loss": float("nan")} for s in (5, 6)])
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert fig.axes[0].get_ylabel() == "loss" and "first non-finite loss" in labels


@pytest.mark.parametrize("stats", [[], [{"step": 1}], [{"foo": "bar"}], [{"step": 2, "note": "x"}]])
def test_nothing_to_plot_still_writes_a_png(tmp_path: Path, stats: list) -> None:
    plot_stats(stats, tmp_path / "c.png", title="empty run")
    with Image.open(tmp_path / "c.png") as im:
        assert im.format == "PNG"
    texts = [t.get_text() for ax in stats_figure(stats).axes for t in ax.texts]
    assert any(t.startswith("nothing to plot") for t in texts)


def test_steps_sorted_and_resumed_steps_keep_the_last_record() -> None:
    stats = [{"step": 3, "g_loss": 3.0}, {"step": 1, "g_loss": 1.0}, {"step": 2, "g_loss": 99.0},
             {"step": 2, "g_loss": 2.0}]  # step 2 logged again after a resume
    fig = stats_figure(stats)
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_label() == "g_loss"]
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), [1.0, 2.0, 3.0])


def test_long_runs_get_a_moving_average_that_ignores_nan() -> None:
    stats = [{"step": s, "g_loss": float(s % 2)} for s in range(1000)]  # 0, 1, 0, 1, ...
    stats[500]["g_loss"] = float("nan")
    fig = stats_figure(stats)
    (smooth,) = [ln for ln in fig.axes[0].lines if ln.get_label() == "g_loss"]
    y = np.asarray(smooth.get_ydata())
    inner = np.r_[y[50:495], y[506:950]]
    assert np.allclose(inner, 0.5, atol=0.06)  # the alternation averages out
    assert np.isnan(y[500])  # and the gap stays a gap


def test_d_accuracy_panel_when_the_stats_have_it() -> None:
    stats = [dict(r, d_acc=0.6 + 0.001 * i) for i, r in enumerate(_records(20))]
    fig = stats_figure(stats)
    assert [a.get_ylabel() for a in fig.axes] == ["loss", "discriminator", "D accuracy", "grad norm", "learning rate"]
    acc = _panel(fig, "D accuracy")
    assert _hlines(acc, 0.5) and _hlines(acc, 0.99) and acc.get_ylim() == (-0.02, 1.02)
    assert "D accuracy" in [t.get_text() for t in acc.get_legend().get_texts()]
    assert "D accuracy" not in [a.get_ylabel() for a in stats_figure(_records(20)).axes]
