"""CLI smoke tests: list, dry-run, train a few steps, sample, eval, resume, and the errors bad input gets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import TINY
from gankit.cli import main
from table_helpers import metric_table as table


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_registry(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for section in ("presets:", "datasets:", "networks:", "objectives:", "recipes:", "metrics:"):
        assert section in out
    for name in ("ring8", "grid25", "gauss1d", "nsgan", "mmgan", "mlp", "gan", "modes", "wasserstein"):
        assert f"  {name} " in out
    code, out, _ = run(capsys, "list", "objectives")
    assert code == 0 and "nsgan" in out and "datasets:" not in out
    code, out, _ = run(capsys, "list", "metrics")  # each reported number: direction, unit, meaning
    assert code == 0 and "    recall           ↑ higher, fraction: variety: fraction of real images" in out
    assert "    kid              ↓ lower, ×1e-3: " in out


def test_dry_run_prints_resolved_config_and_writes_nothing(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "grid25", "train.steps=77", f"run.out_dir={tmp_path}/runs", "--dry-run")
    assert code == 0 and "steps: 77" in out and "name: grid25" in out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "train.stepz=1"], "unknown key 'train.stepz'"),
        (["train", "data.name=nope"], "data.name: unknown value 'nope'; choose one of:"),
        (["train", "nopreset"], "unknown preset 'nopreset'"),
        (["train", "ring8", "oops"], "'oops' is not an override"),
        (["train", "points"], "needs a file: set data.path"),
        (["train", "points", "data.path=/no/such.npy"], "does not exist"),
        (["sample", "/no/run", "-o", "x.npy"], "no run at '/no/run'"),
    ],
)
def test_bad_input_exit_2_one_line_nothing_written(capsys, tmp_path, argv, message):
    code, _, err = run(capsys, *argv, *([f"run.out_dir={tmp_path}/runs"] if argv[0] == "train" else []))
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("gankit: error: ")
    assert not (tmp_path / "runs").exists()


def test_train_sample_eval_resume(capsys, tmp_path):
    out_dir = tmp_path / "runs"
    base = [*TINY, f"run.out_dir={out_dir}", "train.sample_every=10", "train.steps=20", "train.diagnostics_every=-1"]
    code, out, _ = run(capsys, "train", *base)
    assert code == 0
    rd = out_dir / "ring8"
    assert f"run: {rd}" in out and "figures:" in out and "montage.png" in out and "diagnostics.png" in out
    # the summary: one short table with the real-vs-real floor, computed at the end of training
    rows = table(out[out.index("metrics (step 20):"):])
    assert float(rows["modes"]["real vs real"]) == 8.0 and rows["modes"]["better"] == "↑ higher"
    assert "real vs real: two independent samples of the training data" in out and "mode_kl_n" not in out
    for f in ("config.yaml", "stats.jsonl", "metrics.jsonl", "checkpoints/last.pt", "generator.safetensors",
              "samples/step-000010.png", "samples/step-000020.png", "snapshots/step-000020.json",
              "montage.png", "montage.gif", "curves.png", "diagnostics.jsonl", "alarms.jsonl", "diagnostics.png"):
        assert (rd / f).is_file(), f

    # a second train into the same directory is refused, and nothing is lost
    code, _, err = run(capsys, "train", *base)
    assert code == 2 and "already exists" in err and "--resume" in err

    code, out, _ = run(capsys, "sample", str(rd), "-n", "1000", "-o", str(tmp_path / "s.npy"))
    assert code == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (1000, 2) and np.isfinite(x).all()
    run(capsys, "sample", str(rd), "-n", "1000", "-o", str(tmp_path / "t.npy"))
    assert np.array_equal(x, np.load(tmp_path / "t.npy")), "sampling is reproducible under --seed"
    code, _, _ = run(capsys, "sample", str(rd), "-n", "300", "-o", str(tmp_path / "s.png"))
    assert code == 0 and Image.open(tmp_path / "s.png").size[0] > 100
    code, _, _ = run(capsys, "sample", str(rd), "-n", "10", "-o", str(tmp_path / "s.csv"))
    assert code == 0 and np.loadtxt(tmp_path / "s.csv", delimiter=",").shape == (10, 2)
    code, _, err = run(capsys, "sample", str(rd), "-o", str(tmp_path / "s.txt"))
    assert code == 2 and "must end in .npy, .csv or .png" in err

    code, out, err = run(capsys, "eval", str(rd), "-n", "500")
    assert code == 0 and "real vs real" in out and "two independent samples of the training data" in out
    rows = table(out)
    assert {"modes", "hq", "w1"} <= set(rows)
    # real data covers every mode
    assert float(rows["modes"]["real vs real"]) == 8.0 and float(rows["hq"]["real vs real"]) > 99.0
    assert (rows["modes"]["better"], rows["hq"]["unit"], rows["w1"]["better"]) == ("↑ higher", "%", "↓ lower")
    # under the table, one line per metric on what it measures
    meanings = out[out.index("what they measure:"):]
    assert "  w1 " in meanings and "earth mover's distance" in meanings and "  mode_kl " in meanings
    # on stderr while it works: the samples drawn, each metric with its sample count, the floor, in order
    steps = [line for line in err.splitlines() if line.startswith("eval: ")]
    assert steps[:3] == ["eval: generating 500 samples", "eval: kl-js (1/5): 500 samples vs 500 real",
                         "eval: modes (2/5): 500 samples vs 500 real"]
    assert steps[6] == "eval: real-vs-real floor: two independent samples of the training data"
    assert steps[7] == "eval: floor kl-js (1/5): 500 samples vs 500 real" and steps[-1].startswith("eval: done in ")
    import json

    record = json.loads((rd / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["source"] == "gankit eval" and record["samples"] == 500 and record["step"] == 20
    assert record["floor"]["modes"] == 8.0 and record["floor"]["w1"] < record["w1"]
    code, out, _ = run(capsys, "eval", str(rd), "-n", "200", "--metrics", "modes", "--no-floor")
    names = [line.split()[0] for line in out.splitlines() if line.split()]
    # names, not out: the run path may hold "w1"
    assert code == 0 and "real vs real" not in out and "w1" not in names and "modes" in names
    code, _, err = run(capsys, "-q", "eval", str(rd), "-n", "100", "--no-floor")
    assert code == 0 and err == ""  # -q: no progress

    with (rd / "alarms.jsonl").open("a") as f:  # the summary repeats the alarms of the run
        f.write(json.dumps({"step": 10, "kind": "d-wins", "message": "crafted"}) + "\n")
    code, out, _ = run(capsys, "train", "--resume", str(rd), "train.steps=30")
    assert code == 0 and "alarms: d-wins at step 10" in out
    from gankit.train.checkpoint import load_checkpoint

    assert load_checkpoint(rd / "checkpoints" / "last.pt")["step"] == 30
    code, _, err = run(capsys, "train", "--resume", str(rd), "generator.depth=5")
    assert code == 2 and "cannot change generator.depth when resuming" in err


def test_eval_table_scales_folds_intervals_and_reads_the_floor_of_prefixed_keys():
    from gankit.cli import eval_table, metric_meanings

    model = {"kid": 0.0081, "kid_low": 0.0072, "kid_high": 0.009, "kid_std": 0.001, "kid_n": 500.0,
             "is": 2.5, "is_std": 0.1, "drs_hq": 90.0, "acceptance": 0.3, "pr_n": 500.0, "ema": True}
    floor = {"kid": 0.0001, "kid_low": -0.0001, "kid_high": 0.0003, "hq": 99.0, "kind": "x"}
    rows = table(eval_table(model, floor))
    assert list(rows) == ["kid", "is", "drs_hq", "acceptance"]  # no count, interval, flag or text rows
    assert rows["kid"] == {"metric": "kid", "model": "8.1 [7.2, 9]", "real vs real": "0.1 [-0.1, 0.3]",
                           "better": "↓ lower", "unit": "×1e-3"}  # KID shown in units of 1e-3
    assert (rows["is"]["model"], rows["is"]["real vs real"], rows["is"]["better"]) == ("2.5 ± 0.1", "-", "↑ higher")
    assert rows["drs_hq"]["real vs real"] == "99" and rows["drs_hq"]["unit"] == "%"  # the floor of hq
    assert rows["acceptance"]["better"] == "" and "real vs real" not in table(eval_table(model, None))["kid"]
    meanings = metric_meanings(model).splitlines()
    assert [line.split()[0] for line in meanings] == ["kid", "is", "hq"]


def test_1d_run_makes_figures(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "gauss1d", *TINY, "train.sample_every=10", f"run.out_dir={tmp_path}")
    assert code == 0
    assert (tmp_path / "gauss1d" / "montage.gif").is_file()
    import json

    snap = json.loads((tmp_path / "gauss1d" / "snapshots" / "step-000020.json").read_text())
    assert snap["dim"] == 1 and snap["density"] is not None and len(snap["grid"]["d"]) == 200
    # the lecture's z -> x arrows: 30 (z, G(z)) pairs at evenly spaced quantiles of the normal noise
    # (the 1/60 and 59/60 quantiles are ∓2.13), G(z) being what the exported generator gives for that z;
    # the frames have the mapping panel below
    m = snap["mapping"]
    z = np.array(m["z"])
    assert m["prior"] == "normal" and m["range"] == [-3, 3] and len(z) == len(m["x"]) == 30
    assert np.all(np.diff(z) > 0) and -2.6 < z[0] < -1.7 and 1.7 < z[-1] < 2.6 and abs(np.median(z)) < 0.3
    import torch

    from gankit import api

    net = api.load_generator(tmp_path / "gauss1d")[0]
    with torch.no_grad():
        gz = net(torch.tensor(z, dtype=torch.float32)[:, None])[:, 0].numpy()
    assert np.allclose(gz, m["x"], atol=1e-4)
    assert Image.open(tmp_path / "gauss1d" / "samples" / "step-000020.png").size == (600, 540)
    # noise of 2 dimensions has no line to draw the arrows from
    code, _, _ = run(capsys, "train", "gauss1d", *TINY, "generator.noise_dim=2", "train.sample_every=20",
                     f"run.out_dir={tmp_path}", "run.name=z2")
    assert code == 0
    assert json.loads((tmp_path / "z2" / "snapshots" / "step-000020.json").read_text())["mapping"] is None
    assert Image.open(tmp_path / "z2" / "samples" / "step-000020.png").size == (600, 400)


def test_image_run_writes_sample_grids(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "dcgan-digits", "train.steps=4", "train.sample_every=2", "generator.width=16",
                       "discriminator.width=16", "data.batch_size=16", "train.progress=false", "eval.num_samples=200",
                       f"run.out_dir={tmp_path}")
    assert code == 0 and "metrics (step 4)" in out  # the shipped digits classifier scores 8x8 digits
    assert "\nfid " in out and "\nis " in out and "rand_" not in out
    rd = tmp_path / "dcgan-digits"
    grid = Image.open(rd / "samples" / "step-000004.png")
    assert grid.mode == "L" and grid.width >= 256
    assert (rd / "montage.gif").is_file() and (rd / "generator.safetensors").is_file()
    code, _, _ = run(capsys, "sample", str(rd), "-n", "5", "-o", str(tmp_path / "x.npy"))
    assert code == 0 and np.load(tmp_path / "x.npy").shape == (5, 1, 8, 8)
    code, _, _ = run(capsys, "sample", str(rd), "-n", "16", "-o", str(tmp_path / "x.png"))
    assert code == 0 and Image.open(tmp_path / "x.png").mode == "L"

    # latent walks: 3 rows of 6 steps, as a grid and as an array
    code, out, _ = run(capsys, "sample", str(rd), "--interpolate", "linear", "--steps", "6", "-n", "3",
                       "-o", str(tmp_path / "walk.npy"))
    assert code == 0 and np.load(tmp_path / "walk.npy").shape == (3, 6, 1, 8, 8)
    code, out, _ = run(capsys, "sample", str(rd), "--interpolate", "spherical", "-o", str(tmp_path / "walk.png"))
    assert code == 0 and "8 spherical interpolations of 10 steps" in out
    assert Image.open(tmp_path / "walk.png").width >= 256
    # nearest training images: digits has no test split, so the copy check uses leave-one-out
    code, out, _ = run(capsys, "sample", str(rd), "--nearest", "--k", "4", "-n", "3", "-o", str(tmp_path / "nn.png"))
    assert code == 0 and "rest of the training set" in out and "% of generated samples" in out
    assert Image.open(tmp_path / "nn.png").height > Image.open(tmp_path / "nn.png").width / 3
    code, _, _ = run(capsys, "sample", str(rd), "--nearest", "--k", "4", "-n", "3", "-o", str(tmp_path / "nn.npy"))
    assert code == 0 and np.load(tmp_path / "nn.npy").shape == (3, 4, 1, 8, 8)
    code, _, err = run(capsys, "sample", str(rd), "--nearest", "--interpolate", "linear", "-o", str(tmp_path / "z.png"))
    assert code == 2 and "choose one of --interpolate and --nearest" in err
    code, _, err = run(capsys, "sample", str(rd), "--interpolate", "linear", "--steps", "1",
                       "-o", str(tmp_path / "z.png"))
    assert code == 2 and "at least 2 steps" in err


def test_data_status_and_offline_get(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    code, out, _ = run(capsys, "data", "status")
    assert code == 0 and str(tmp_path / "cache") in out and "mnist" in out and "missing" in out
    code, _, err = run(capsys, "data", "get", "cifar10")
    assert code == 2 and "cifar10 is not in the cache" in err and err.count("\n") == 1
    code, _, err = run(capsys, "data", "get")
    assert code == 2 and "needs a data set name" in err
