"""Every shipped preset trains to its end through the real CLI: a few steps with tiny nets, every end-of-run
callback on (sample figures, stages, per-class grids, diagnostics, metrics, export), then gankit eval and
gankit sample, and for one preset of each kind --resume of the finished run. No preset may crash after its
last step again (issue 13: stackgan-shapes died in its stages figure after every run and could never be
finished)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from gankit import config as config_mod
from gankit.cli import main
from gankit.train.rundir import RunDir

PRESETS = config_mod.preset_names()
TINY = ["train.steps=2", "train.log_every=1", "train.sample_every=2", "train.checkpoint_every=2",
        "train.diagnostics_every=2", "train.eval_every=0", "train.progress=false", "run.threads=1",
        "data.batch_size=16", "generator.width=8", "discriminator.width=8", "eval.num_samples=64"]
# --resume of a finished run repeats the end-of-run callbacks (as long again as training here): one preset
# of each kind of end (2-D figures, image grids, stages, per-class grid, auto-encoder figures, rejection)
RESUMED = {"ring8", "grid25-drs", "dcgan-digits", "lapgan-digits", "stackgan-shapes", "cgan-digits", "aae-digits"}


def _data_overrides(preset: str, tmp_path) -> list[str]:
    """The user's data a preset needs (points, a folder of images), made in tmp_path, and small settings."""
    cfg = config_mod.resolve(preset)
    out = []
    if cfg.data.name == "points":
        np.save(tmp_path / "points.npy", np.random.default_rng(0).normal(size=(200, 2)))
        out.append(f"data.path={tmp_path / 'points.npy'}")
    if cfg.data.name == "folder":
        folder = tmp_path / "images"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        out += [f"data.path={folder}", "data.image_size=16", "data.workers=0"]
    if {"fid", "level-fid"} & set(cfg.eval.metrics):  # named, not 'auto': more samples than features
        out.append("eval.num_samples=130")
    if cfg.model.caption_prior:
        out.append("model.caption_prior_steps=5")  # stackgan-shapes' prior over full captions, shortly fitted
    if cfg.eval.rejection > 0:
        out.append("eval.rejection=3")  # discriminator rejection sampling at the end, shortly calibrated
    return out


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_trains_to_its_end_and_resumes(preset, tmp_path, mnist_cache, capsys):
    args = ["train", preset, *TINY, *_data_overrides(preset, tmp_path), f"run.out_dir={tmp_path / 'runs'}"]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    run = RunDir(tmp_path / "runs" / preset)
    assert f"run: {run.root}" in out and "generator:" in out  # the summary
    for path in (run.metrics, run.stats, run.generator, run.curves, run.montage_png, run.sample_path(2)):
        assert path.is_file(), f"{preset}: no {path.name}"
    assert run.diagnostics.is_file() and run.diagnostics_png.is_file(), f"{preset}: no diagnostics"
    last = json.loads(run.metrics.read_text().splitlines()[-1])
    assert last["step"] == 2
    cfg = config_mod.resolve(preset)
    if cfg.generator.name in ("lapgan", "stackgan"):  # multi-stage generators: their stages figure
        assert (run.root / "stages.png").stat().st_size > 1000
    if cfg.model.recipe in ("cgan", "clapgan"):
        assert run.classes_png.is_file()
    if preset in RESUMED:  # a finished run resumed: nothing to train, the end-of-run callbacks run again
        assert main(["train", "--resume", str(run.root)]) == 0, capsys.readouterr().err[-2000:]
        assert json.loads(run.metrics.read_text().splitlines()[-1])["step"] == 2
        capsys.readouterr()
    # gankit eval scores it, or says in one line why no metric applies and appends nothing
    lines = len(run.metrics.read_text().splitlines())
    n = "130" if {"fid", "level-fid"} & set(cfg.eval.metrics) else "64"  # as in training (_data_overrides)
    code = main(["eval", str(run.root), "-n", n, "--no-floor"])
    out, err = capsys.readouterr()
    if code == 0:
        assert len(run.metrics.read_text().splitlines()) == lines + 1 and "recorded in" in out
    else:
        assert code == 2 and err.startswith("gankit: error: nothing to evaluate") and err.count("\n") == 1
        assert len(run.metrics.read_text().splitlines()) == lines
    assert main(["sample", str(run.root), "-n", "4", "-o", str(tmp_path / "x.npy")]) == 0
    assert len(np.load(tmp_path / "x.npy")) == 4
