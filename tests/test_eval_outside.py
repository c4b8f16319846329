"""gankit eval --fake PATH [--real PATH | --data NAME] and api.evaluate_samples: the same numbers for the same
samples however they arrive, the floor and intervals, image metrics on digits / folder / shapes runs, and one
clear line for every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from gankit import api
from gankit.cli import main
from gankit.errors import DataError
from table_helpers import metric_table

SMALL = ["generator.width=16", "discriminator.width=16", "data.batch_size=16", "train.progress=false",
         "train.sample_every=0", "train.checkpoint_every=2", "train.steps=2", "eval.num_samples=150",
         "train.diagnostics_every=0", "eval.metrics=[kid]", "eval.floor=false"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "dcgan-digits", *SMALL, f"run.out_dir={out}"]) == 0
    return out / "dcgan-digits"


def test_a_run_scores_the_same_as_its_samples_given_as_an_array_or_as_pngs(digits_run, tmp_path) -> None:
    by_run = api.evaluate(digits_run, metrics=["auto"], write=False)
    assert by_run.extractor.startswith("digits-classifier") and "fid" in by_run.model  # image metrics on digits
    net, cfg, _ = api.load_generator(digits_run)
    x, _ = api.sample_net_with_labels(net, 150, seed=cfg.eval.seed + 2)  # what `gankit eval RUN` scores
    np.save(tmp_path / "x.npy", x)
    by_array = api.evaluate_samples(tmp_path / "x.npy", data="digits")
    assert by_array.model == by_run.model and by_array.floor == by_run.floor
    assert by_array.floor_kind == by_run.floor_kind
    by_flag = api.evaluate_samples(digits_run, metrics=["auto"])  # --fake RUN alone: exactly gankit eval RUN
    assert by_flag.model == by_run.model
    # PNG files hold bytes: the same quantised samples as an array and as a folder score the same
    u8 = np.round((x + 1) * 127.5).astype(np.uint8)
    np.save(tmp_path / "u8.npy", u8)
    (tmp_path / "png").mkdir()
    for i, a in enumerate(u8):
        Image.fromarray(a[0]).save(tmp_path / "png" / f"{i:04d}.png")
    a = api.evaluate_samples(tmp_path / "u8.npy", data="digits", metrics=["fid", "kid"])
    b = api.evaluate_samples(tmp_path / "png", data="digits", metrics=["fid", "kid"])
    assert a.model == b.model and a.floor == b.floor
    assert abs(a.model["fid"] - by_run.model["fid"]) <= 0.05 * by_run.model["fid"]  # 8-bit rounding moves it little


def test_cli_outside_real_folder_random_embedding_floor_and_json(capsys, tmp_path) -> None:
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (600, 3, 8, 8)).astype(np.uint8)  # halves of 300 > the 256 feature dimensions
    np.save(tmp_path / "real.npy", real.transpose(0, 2, 3, 1))  # channels last
    fake = np.clip(real[:300] / 255.0 * 0.5, 0, 1)  # darker: in [0, 1], detected as such
    np.save(tmp_path / "fake.npy", fake)
    code, out, err = run(capsys, "eval", "--fake", tmp_path / "fake.npy", "--real", tmp_path / "real.npy",
                         "-o", tmp_path / "r.json")
    assert code == 0, err
    assert "values in [0, 1] (detected" in out and "two disjoint random halves" in out
    assert "random-conv" in out and "NOT Inception" in out
    table = metric_table(out[out.index("metric "):])
    assert set(table) >= {"rand_fid", "rand_kid", "rand_precision", "rand_recall"} and "fid" not in table
    assert table["rand_fid"]["real vs real"] != "-"
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["model"]["rand_fid"] > saved["floor"]["rand_fid"]  # darker images are farther than real from real
    assert saved["samples"] == 300 and saved["extractor"].startswith("random-conv")


def test_points_get_the_point_metrics(capsys, tmp_path) -> None:
    rng = np.random.default_rng(1)
    np.save(tmp_path / "f.npy", rng.normal(size=(200, 2)))
    np.save(tmp_path / "r.npy", rng.normal(size=(400, 2)) + 0.5)
    code, out, err = run(capsys, "eval", "--fake", tmp_path / "f.npy", "--real", tmp_path / "r.npy")
    assert code == 0, err
    table = metric_table(out[out.index("metric "):])
    assert "w1" in table and "sw" in table and "image features" not in out


def test_bad_inputs_get_one_line(capsys, tmp_path) -> None:
    rng = np.random.default_rng(2)
    np.save(tmp_path / "a.npy", rng.integers(0, 256, (40, 1, 8, 8)).astype(np.uint8))
    np.save(tmp_path / "big.npy", rng.integers(0, 256, (40, 1, 16, 16)).astype(np.uint8))
    np.save(tmp_path / "odd.npy", rng.uniform(0, 1.5, (40, 1, 8, 8)))
    cases = [
        (["--fake", tmp_path / "a.npy"], "need a reference: --real PATH"),
        (["--fake", tmp_path / "big.npy", "--data", "digits"], "shape 1x16x16 but data set 'digits' has image of shape "
                                                               "1x8x8; resize them with --size 8"),
        (["--fake", tmp_path / "odd.npy", "--data", "digits"], "fit none of the ranges"),
        (["--fake", tmp_path / "a.npy", "--data", "digits", "--metrics", "fid"], "fid needs at least 65 samples"),
        (["--fake", tmp_path / "a.npy", "--real", tmp_path / "a.npy", "--data", "digits"], "not both"),
        (["--fake", tmp_path / "a.npy", "--data", "digits", "--extractor", "nope"], "unknown feature extractor 'nope'"),
        (["--real", tmp_path / "a.npy"], "needs a run folder, or outside samples: --fake PATH"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, "eval", *argv)
        errors = [line for line in err.splitlines() if line.startswith("gankit: error: ")]
        assert code == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in err, (argv, err)
    # "auto" leaves FID out at 40 samples (64-d features) with a warning, and scores what it can
    code, out, err = run(capsys, "eval", "--fake", tmp_path / "a.npy", "--data", "digits", "--no-floor")
    assert code == 0 and "left out: fid needs at least 65 samples" in err
    assert "kid" in metric_table(out[out.index("metric "):])


def test_a_folder_run_prints_random_embedding_metrics(capsys, tmp_path) -> None:
    rng = np.random.default_rng(3)
    (tmp_path / "imgs").mkdir()
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    code, out, err = run(capsys, "train", "dcgan-folder", *SMALL, f"data.path={tmp_path / 'imgs'}",
                         "data.image_size=16", "data.workers=0", "train.ema=0", "eval.num_samples=40",
                         f"run.out_dir={tmp_path / 'runs'}")
    assert code == 0, err
    code, out, err = run(capsys, "eval", tmp_path / "runs" / "dcgan-folder", "-n", "40")
    assert code == 0, err
    assert "rand_kid" in metric_table(out[out.index("metric "):]) and "random-conv" in out


def test_python_metrics_refuse_unit_range_images_instead_of_a_wrong_number() -> None:
    from gankit import metrics

    class Outside:  # a duck-typed data set that does not vouch for the range
        kind, name, shape, dim = "image", "outside", (1, 8, 8), 64

    x = np.random.default_rng(4).uniform(0, 1, (100, 1, 8, 8))
    with pytest.raises(DataError, match=r"look like \[0, 1\].*--range 0,1"):
        metrics.evaluate(["kid"], x, x, Outside())
    assert "rand_kid" in metrics.evaluate(["kid"], x * 2 - 1, x * 2 - 1, Outside())
