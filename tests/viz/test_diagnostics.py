"""The diagnostics figure: the panels the records allow, histograms as heatmaps, alarms as labelled lines,
critics centred on their threshold, and no failure on bad or missing values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit.viz import diagnostics_figure, plot_diagnostics
from gankit.viz.diagnostics import _histogram_table


def _records(n: int = 12, scale: str = "probability", points: bool = True) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        if scale == "probability":
            real, fake, t = rng.beta(6, 3, 500), rng.beta(3, 6, 500), 0.5
            edges = np.linspace(0, 1, 41)
        else:  # a critic drifting upwards
            real, fake = rng.normal(10 * i + 1, 1, 500), rng.normal(10 * i - 1, 1, 500)
            t = 10.0 * i
            edges = np.linspace(min(real.min(), fake.min()), max(real.max(), fake.max()), 41)
        r = {"step": 100 * (i + 1), "scale": scale, "threshold": t, "hist_edges": edges.tolist(),
             "hist_real": np.histogram(real, edges)[0].tolist(), "hist_fake": np.histogram(fake, edges)[0].tolist(),
             "d_real_mean": float(real.mean()), "d_fake_mean": float(fake.mean()),
             "d_acc": 0.7, "d_acc_real": 0.75, "d_acc_fake": 0.65, "d_grad_norm": 1.0 + i, "g_grad_norm": 2.0,
             "d_loss": 1.2, "g_loss": 0.8}
        r.update({"modes": 8.0, "modes_held": min(i, 8), "modes_total": 8, "hq": 5.0 * i} if points
                 else {"diversity": 0.1 * i})
        out.append(r)
    return out


def _ylabels(fig) -> list[str]:
    return [a.get_ylabel() for a in fig.axes]


def test_all_panels_and_alarms(tmp_path: Path) -> None:
    alarms = [{"step": 300, "kind": "d-wins", "message": "m"}, {"step": 300, "kind": "diverged", "message": "m"},
              {"step": 900, "kind": "modes-dropped", "message": "m"}]
    plot_diagnostics(_records(), alarms, tmp_path / "d.png", title="ring8: diagnostics")
    with Image.open(tmp_path / "d.png") as im:
        assert im.format == "PNG" and im.size == (950, round((1.2 + 5 * 1.9) * 100))  # + the twin axis and legends
    fig = diagnostics_figure(_records(), alarms, title="ring8: diagnostics")
    assert _ylabels(fig)[:5] == ["D(x)", "D(G(z))", "D accuracy", "grad norm", "modes"]
    assert _ylabels(fig)[5] == "% high quality"  # the twin axis of the modes panel
    assert fig.axes[0].get_title() == "ring8: diagnostics"
    for ax in fig.axes[:5]:  # one vertical line per alarm step in every panel
        vertical = {ln.get_xdata()[0] for ln in ax.lines if len(set(ln.get_xdata())) == 1 and len(ln.get_xdata()) == 2}
        assert vertical == {300, 900}
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == ["d-wins, diverged", "modes-dropped"]
    assert fig.axes[3].get_yscale() == "log"
    assert len(fig.axes[0].collections) == 1  # the heatmap


def test_legends_sit_beside_the_panels_clear_of_the_twin_axis(legends_beside) -> None:
    assert legends_beside(diagnostics_figure(_records())) == 5
    assert legends_beside(diagnostics_figure(_records(points=False))) == 5
    assert diagnostics_figure(_records(points=False)).get_figwidth() == 8.8  # no twin axis: no room for one


def test_image_runs_show_diversity_and_critics_are_centred() -> None:
    fig = diagnostics_figure(_records(points=False, scale="score"), [])
    assert _ylabels(fig) == ["critic D(x)\n− threshold", "critic D(G(z))\n− threshold", "D accuracy", "grad norm",
                             "sample diversity"]
    # centred on each record's threshold, the drifting critic's histograms stay near 0 (real above, fake below)
    steps, edges, shares = _histogram_table(_records(scale="score"), "hist_real", centred=True)
    assert len(steps) == 12 and np.allclose(np.nansum(shares, axis=0), 1.0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert np.all(centres @ shares > 0.5) and edges[0] > -10 and edges[-1] < 10
    _, raw_edges, _ = _histogram_table(_records(scale="score"), "hist_real")
    assert raw_edges[-1] > 100  # uncentred, the common bins span the whole drift


@pytest.mark.parametrize("records", [[], [{"step": "x"}], [{"nostep": 1}]])
def test_nothing_to_plot_still_writes_a_png(tmp_path: Path, records: list) -> None:
    plot_diagnostics(records, None, tmp_path / "d.png")
    assert (tmp_path / "d.png").is_file()
    assert "nothing to plot" in diagnostics_figure(records).axes[0].texts[0].get_text()


def test_bad_values_and_partial_records_do_not_fail(tmp_path: Path) -> None:
    recs = _records(4)
    recs[1]["hist_real"] = [1, 2]  # wrong length: left out of the heatmap
    recs[2]["d_acc"] = None
    recs[3]["d_grad_norm"] = float("nan")
    recs.append({"step": 500, "d_acc": 0.9})  # a record without histograms
    recs.append(dict(recs[0], d_acc=0.1))  # step 100 again (a resume): the last one wins
    plot_diagnostics(recs, [{"step": None, "kind": "x"}, "junk"], tmp_path / "d.png")
    fig = diagnostics_figure(recs)
    (acc,) = [ln for ln in fig.axes[2].lines if ln.get_label() == "overall"]
    assert acc.get_ydata()[0] == pytest.approx(0.1)


def test_close_alarm_labels_go_on_separate_rows() -> None:
    alarms = [{"step": s, "kind": "gradients-exploded", "message": "m"} for s in (300, 350, 1100)]
    fig = diagnostics_figure(_records(), alarms, title="t")
    rows = {t.get_position()[0]: t.get_position()[1] for t in fig.axes[0].texts}
    assert rows[300] == rows[1100] < rows[350]  # the far one shares the first row
    assert fig.subplotpars.top < diagnostics_figure(_records(), alarms[:1]).subplotpars.top  # room made above
