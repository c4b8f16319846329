"""benchmarks/gpu_check.sh and its helper: the script parses, refuses unknown flags, and the helper's pieces
(environment verdict, MNIST cache from the shipped digits, stage-by-stage results) do what the script
relies on. The whole script's CPU dry run (``--cpu-smoke``) takes minutes, so it is not run here."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.data.images import load_idx_dataset

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
_spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_script_parses_and_refuses_an_unknown_flag(tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    bad = subprocess.run(["bash", str(SCRIPT), "--gpus", "2", "--out", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown argument '--gpus'" in bad.stderr
    assert not any(tmp_path.iterdir())  # refused before any stage ran
    usage = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--cpu-smoke" in usage.stdout


def test_environment_verdict_follows_cuda():
    info, code = gpu_check.environment(cpu_smoke=False)
    assert info["torch"] == torch.__version__ and info["cuda_available"] == torch.cuda.is_available()
    assert code == (0 if torch.cuda.is_available() else 3)  # 3: the script stops, saying torch has no CUDA
    assert gpu_check.environment(cpu_smoke=True)[1] == 0  # the dry run accepts a CPU torch
    assert info["missing"] == []  # this environment has every requirement the script checks


def test_mnist_cache_from_the_shipped_digits_loads_as_mnist(tmp_path):
    root = gpu_check.mnist_cache(tmp_path)
    x, y = load_idx_dataset("mnist", "train", root=root)
    xt, yt = load_idx_dataset("mnist", "test", root=root)
    assert x.shape == (800, 28, 28) and xt.shape == (200, 28, 28) and x.dtype == np.uint8
    with np.load(gpu_check.FIXTURE) as f:
        assert np.array_equal(xt, f["x"][800:, 0]) and np.array_equal(y, f["y"][:800])


def test_stages_are_recorded_one_by_one_with_run_scores(tmp_path):
    out, run = tmp_path / "out", tmp_path / "run"
    run.mkdir()
    (run / "stats.jsonl").write_text('{"step": 50, "time": 2.0}\n{"step": 100, "time": 4.0}\n{"step": 1')  # torn
    (run / "metrics.jsonl").write_text(json.dumps({"step": 104, "fid": 12.5, "d_loss": 1.0,
                                                   "floor": {"kind": "held-out", "fid": 1.5}}) + "\n")
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"torch": "x", "gpu": "H100"}))
    assert gpu_check.main(["header", str(out), "--mode", "gpu", "--env", str(env), "--note", "hello"]) == 0
    assert gpu_check.main(["record", str(out), "tests", "--rc", "0", "--seconds", "3.04", "--note", "5 passed"]) == 0
    first = json.loads((out / "gpu-check.json").read_text())
    assert [s["stage"] for s in first["stages"]] == ["tests"] and first["env"]["gpu"] == "H100"
    assert gpu_check.main(["record", str(out), "dcgan-mnist", "--rc", "124", "--seconds", "200",
                           "--run", str(run)]) == 0
    res = json.loads((out / "gpu-check.json").read_text())
    assert [s["stage"] for s in res["stages"]] == ["tests", "dcgan-mnist"]
    scores = res["stages"][1]["scores"]
    assert scores["steps"] == 104 and scores["steps_per_s"] == 25.0  # 100 steps in 4 s at the last whole line
    assert scores["metrics"] == {"step": 104, "fid": 12.5} and scores["floor"] == {"kind": "held-out", "fid": 1.5}
    md = (out / "gpu-check.md").read_text()
    assert "| tests | ok | 3 | 5 passed |" in md and "| dcgan-mnist | timed out | 200 |" in md and "hello" in md
