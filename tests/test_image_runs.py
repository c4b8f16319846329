"""Image runs end to end on real digits: a cache holding MNIST files made from the 1,000 shipped test digits
(800 as 'train', 200 as 'test'), the dcgan-mnist and Stacked-MNIST presets shrunk to seconds, the shipped
classifier's metrics during training, and gankit eval / sample with the test-vs-train floor."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from gankit.cli import main

from image_helpers import mnist_cache  # noqa: F401  (fixture: MNIST from the 1,000 shipped test digits)

SMALL = ["generator.width=16", "discriminator.width=16", "data.batch_size=32", "train.progress=false",
         "train.sample_every=0", "train.checkpoint_every=10"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _table(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("fid", "is", "kid", "precision", "recall", "density", "coverage", "modes", "mode_kl"):
            rows[parts[0]] = parts[1:]
    return rows


def test_dcgan_mnist_trains_scores_and_evaluates_against_the_floor(capsys, tmp_path, mnist_cache):
    code, out, err = run(capsys, "train", "dcgan-mnist", *SMALL, "train.steps=20", "train.eval_every=10",
                         "eval.num_samples=200", f"run.out_dir={tmp_path}")
    assert code == 0, err
    rd = tmp_path / "dcgan-mnist"
    lines = [json.loads(s) for s in (rd / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [10, 20]  # periodic evaluation, then the end
    for key in ("fid", "fid_low", "fid_high", "is", "kid", "precision", "recall", "density", "coverage", "fid_n"):
        assert key in lines[-1], key
    assert lines[-1]["fid_n"] == 200

    code, out, err = run(capsys, "eval", str(rd), "-n", "200")
    assert code == 0, err
    assert "held-out test split vs training split" in out
    rows = _table(out)
    model_fid, floor_fid = float(rows["fid"][0]), float(rows["fid"][-3])  # "v [low, high]" per column
    model_is, floor_is = float(rows["is"][0]), float(rows["is"][-3])
    assert floor_fid < model_fid and floor_is > model_is  # 20 tiny steps are far from real digits
    assert floor_is > 7.0  # 200 real test digits (10 splits of 20, which bias IS low) read confidently
    record = json.loads((rd / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["floor"]["kind"] == "held-out test split vs training split" and record["floor"]["fid_n"] == 200

    code, out, _ = run(capsys, "sample", str(rd), "--nearest", "-n", "4", "-o", str(tmp_path / "nn.png"))
    assert code == 0 and "held-out test images" in out and Image.open(tmp_path / "nn.png").width > 200


def test_stacked_mnist_presets_count_modes(capsys, tmp_path, mnist_cache):
    for preset in ("stacked-mnist-dcgan", "stacked-mnist-wgan-gp"):
        code, out, err = run(capsys, "train", preset, *SMALL, "train.steps=4", "train.d_steps=1",
                             "eval.num_samples=300", f"run.out_dir={tmp_path}")
        assert code == 0, err
        last = json.loads((tmp_path / preset / "metrics.jsonl").read_text().splitlines()[-1])
        assert 1 <= last["modes"] <= 300 and 0 <= last["mode_kl"] <= np.log(1000) and last["modes_n"] == 300
    code, out, _ = run(capsys, "eval", str(tmp_path / "stacked-mnist-dcgan"), "-n", "300")
    rows = _table(out)
    assert float(rows["modes"][-1]) > 200  # 300 triples of real test digits: mostly distinct modes


def test_cgan_mnist_scores_conditional_accuracy(capsys, tmp_path, mnist_cache):
    """cgan-mnist: the shipped classifier reads each sample against the class it was generated for, during
    training (metrics.jsonl) and in gankit eval (no real-vs-real floor for it: real digits carry no request)."""
    code, out, err = run(capsys, "train", "cgan-mnist", *SMALL, "train.steps=4", "train.ema=0",
                         "eval.num_samples=200", "eval.metrics=[conditional-accuracy,inception-score]",
                         f"run.out_dir={tmp_path}")
    assert code == 0, err
    last = json.loads((tmp_path / "cgan-mnist" / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0 <= last["class_accuracy"] <= 1 and last["class_accuracy_n"] == 200 and "is" in last
    code, out, err = run(capsys, "eval", str(tmp_path / "cgan-mnist"), "-n", "200", "--metrics",
                         "conditional-accuracy,inception-score")
    assert code == 0, err
    row = next(line.split() for line in out.splitlines() if line.startswith("class_accuracy"))
    assert row[-1] == "-" and 0 <= float(row[1]) <= 1  # model column filled, floor column empty
    code, out, err = run(capsys, "eval", str(tmp_path / "cgan-mnist"), "-n", "200", "--no-floor")
    assert code == 0 and "class_accuracy" in out  # 'auto' includes it for a conditional run
