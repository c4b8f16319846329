"""Image runs end to end on real digits: a cache holding MNIST files made from the 1,000 shipped test digits
(800 as 'train', 200 as 'test'), the dcgan-mnist and Stacked-MNIST presets shrunk to seconds, the shipped
classifier's metrics during training, and gankit eval / sample with the test-vs-train floor."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from gankit.cli import main
from table_helpers import metric_table, number

SMALL = ["generator.width=16", "discriminator.width=16", "data.batch_size=32", "train.progress=false",
         "train.sample_every=0", "train.checkpoint_every=10"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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
    # the end of training scores the real-vs-real floor too (the test split), and the summary shows it
    assert lines[-1]["floor"]["kind"] == "held-out test split vs training split" and "floor" not in lines[0]
    summary = metric_table(out[out.index("metrics (step 20):"):])
    assert number(summary["fid"]["real vs real"]) == pytest.approx(lines[-1]["floor"]["fid"], rel=1e-3)
    assert summary["precision"]["better"] == "↑ higher" and summary["kid"]["unit"] == "×1e-3"

    code, out, err = run(capsys, "eval", str(rd), "-n", "200")
    assert code == 0, err
    assert "held-out test split vs training split" in out
    rows = metric_table(out)
    model_fid, floor_fid = number(rows["fid"]["model"]), number(rows["fid"]["real vs real"])
    model_is, floor_is = number(rows["is"]["model"]), number(rows["is"]["real vs real"])
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
    rows = metric_table(out)
    assert float(rows["modes"]["real vs real"]) > 200  # 300 triples of real test digits: mostly distinct modes


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
    row = metric_table(out)["class_accuracy"]
    assert row["real vs real"] == "-" and 0 <= number(row["model"]) <= 1  # model column filled, floor column empty
    code, out, err = run(capsys, "eval", str(tmp_path / "cgan-mnist"), "-n", "200", "--no-floor")
    assert code == 0 and "class_accuracy" in out  # 'auto' includes it for a conditional run
