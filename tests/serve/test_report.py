"""``gankit report``: one self-contained HTML file with the run's config, curves, metrics and frames."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import tiny_config
from gankit import api
from gankit.cli import main
from gankit.cli_train import _print_summary
from gankit.serve.report import build_report, metrics_html, write_report
from gankit.train.rundir import RunDir
from gankit.viz import pick_steps

FLOOR_RECORD = {"step": 20, "source": "gankit eval", "samples": 300, "ema": False, "w1": 0.123456, "modes": 7.0,
                "floor": {"kind": "two independent samples of the training data", "w1": 0.0314159, "modes": 8.0}}


def _images(text: str) -> list[str]:
    return re.findall(r'<img[^>]*\ssrc="([^"]*)"', text)


def test_report_is_self_contained_with_config_metrics_and_frames(runs_dir: Path, tmp_path: Path) -> None:
    run = RunDir(runs_dir / "ring8")
    with open(run.metrics, "a", encoding="utf-8") as f:
        f.write(json.dumps(FLOOR_RECORD) + "\n")
    before = sorted(p.relative_to(run.root) for p in run.root.rglob("*"))
    out = tmp_path / "share" / "report.html"
    size = write_report(run, out)
    text = out.read_text(encoding="utf-8")
    assert size == len(text.encode())
    assert sorted(p.relative_to(run.root) for p in run.root.rglob("*")) == before  # the run is only read

    # self-contained: no scripts, stylesheets or images from anywhere else; every image decodes
    assert not re.search(r"<(script|link|iframe)\b", text)
    assert not re.search(r"""\b(src|href)\s*=\s*(?!["']?data:)""", text)
    assert not re.search(r"url\(", text)
    srcs = _images(text)
    assert srcs and all(s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in srcs)
    for s in srcs:
        raw = base64.b64decode(s.split(",", 1)[1], validate=True)
        assert raw[:4] in (b"\x89PNG", b"GIF8")

    # the config, the final metrics (formatted as the CLI does) and the real-vs-real floor
    assert "steps: 20" in text and "batch_size: 64" in text and "objective: nsgan" in text
    last = json.loads(run.metrics.read_text().splitlines()[0])  # the trainer's end-of-run record
    assert f"{last['w1']:.4g}" in text
    assert "0.1235" in text and "0.03142" in text and "real vs real" in text and "gankit eval" in text
    # curves, the sample grids at the lecture's steps, and the montage (PNG and GIF)
    assert "alt=\"training curves\"" in text
    steps = pick_steps([s for s, _ in run.sample_frames()])
    assert [int(s) for s in re.findall(r"<figcaption>step (\d+)</figcaption>", text)] == steps
    assert 'alt="training montage"' in text and 'alt="training animation"' in text


def test_report_of_a_run_still_training_draws_its_montage_without_writing_to_the_run(
        runs_dir: Path, tmp_path: Path) -> None:
    run = RunDir(runs_dir / "ring8")
    for p in (run.montage_png, run.montage_gif, run.curves):
        p.unlink()
    text = build_report(run)
    assert 'alt="training montage"' in text and "data:image/gif;base64," in text
    assert not run.montage_png.exists() and not run.montage_gif.exists()


def test_metrics_table_without_records_says_why() -> None:
    assert "No metrics recorded" in metrics_html([{"step": 300, "ema": False}])
    table = metrics_html([{"step": 10, "w1": 0.5}, FLOOR_RECORD])
    assert table.count("<tr>") == 3  # header, w1, modes
    assert "<td>w1</td><td>0.5</td><td>0.1235</td><td>0.03142</td>" in table
    assert "<td>modes</td><td>-</td><td>7</td><td>8</td>" in table


def test_cli_report_default_path_and_missing_run(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(runs_dir / "ring8")]) == 0
    out = capsys.readouterr().out
    assert (runs_dir / "ring8" / "report.html").is_file() and "report.html" in out and "self-contained" in out
    assert main(["report", str(runs_dir / "nope")]) == 2
    assert capsys.readouterr().err.startswith("gankit: error: no run at")


def _recipe_figures() -> dict[str, tuple[str, list[str], list[Any], list[str]]]:
    from gankit.models.autoencoder import LatentFigures
    from gankit.train.callbacks import ClassGrid, StageFigure
    from gankit.train.diagnostics import Diagnostics

    return {  # (preset, overrides, the callbacks that write the figures, the figures)
        "cgan": ("ring8", ["data.name=digits", "model.recipe=cgan"], [ClassGrid()], ["classes.png"]),
        "lapgan": ("lapgan-digits", [], [StageFigure(), Diagnostics(2, n=64)], ["stages.png", "diagnostics.png"]),
        "vae": ("ring8", ["data.name=digits", "model.recipe=vae", "generator.noise_dim=2"], [LatentFigures()],
                ["latent-grid.png", "latent-codes.png"]),
    }


@pytest.mark.parametrize("name", ["cgan", "lapgan", "vae"])
def test_report_and_summary_hold_every_figure_the_run_wrote(name: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The recipes' own figures were missing from the report, the dashboard and the end-of-training summary."""
    preset, overrides, callbacks, own = _recipe_figures()[name]
    cfg = tiny_config(tmp_path / "runs", f"run.name={name}", "train.steps=2", "train.log_every=1", "data.batch_size=16",
                      "eval.metrics=[]", *overrides, preset=preset)
    run = api.train(cfg, callbacks=callbacks)  # just the figures' callbacks: a fast run
    assert set(own) <= {p.name for p in run.figures()}
    text = build_report(run)
    srcs = _images(text)
    for fig in own:
        if fig == "diagnostics.png":  # redrawn from diagnostics.jsonl, as the curves from stats.jsonl
            assert 'alt="diagnostics"' in text
            continue
        data = base64.b64encode((run.root / fig).read_bytes()).decode()  # embedded as written, with a caption
        assert f'alt="{fig}"' in text and f"data:image/png;base64,{data}" in srcs
        assert re.search(rf"<figcaption>{re.escape(fig)}: \w", text)
    _print_summary(run)
    listed = capsys.readouterr().out.split("figures:")[1]
    assert all(str(run.root / fig) in listed for fig in own)


def test_figures_without_their_records_are_embedded_as_written(runs_dir: Path) -> None:
    """curves.png and diagnostics.png are redrawn from their records; without the records, the files stand in."""
    run = RunDir(runs_dir / "ring8")
    run.diagnostics_png.write_bytes(run.curves.read_bytes())
    for p in (run.stats, run.diagnostics):
        p.unlink(missing_ok=True)
    (run.root / "extra.png").write_bytes(run.curves.read_bytes())  # any figure, named by its file
    text = build_report(run)
    curves = f"data:image/png;base64,{base64.b64encode(run.curves.read_bytes()).decode()}"
    assert _images(text).count(curves) == 3  # curves, diagnostics and extra.png: the same bytes here
    assert 'alt="diagnostics"' in text and "<figcaption>extra.png: extra</figcaption>" in text
