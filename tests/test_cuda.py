"""The CUDA paths: training, resume, export, bf16 autocast and the memory budget on a GPU.

Marked ``cuda`` and skipped where torch sees no CUDA device, so they cost nothing on a CPU machine;
``benchmarks/gpu_check.sh`` runs them with ``pytest -m cuda`` the moment a GPU is available. The CPU
twins of these checks live beside the code they test (tests/train/test_trainer.py and others); these
check that nothing in the CUDA path (device placement, CUDA RNG state in checkpoints, autocast on
``cuda``, ``torch.cuda.mem_get_info``) breaks them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gankit import api, budget
from gankit.train.stats import read_jsonl

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CUDA = ["run.device=cuda"]


def _modules(run):
    return torch.load(run.checkpoint, weights_only=True, map_location="cpu")["recipe"]["modules"]


def test_ring8_trains_on_cuda_and_exports_a_cpu_loadable_generator(tiny):
    run = api.train(tiny(*CUDA, "run.name=gpu"))
    stats = read_jsonl(run.stats)
    assert stats[-1]["step"] == 20 and all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in stats)
    assert {"modes", "hq", "w1"} <= set(read_jsonl(run.metrics)[-1])
    net, _, _ = api.load_generator(run.root)  # the export holds plain tensors: sampling needs no GPU
    x = api.sample_net(net, 16, seed=0)
    assert x.shape == (16, 2) and np.isfinite(x).all()


def test_cuda_run_resumes_like_a_straight_run(tiny):
    """2N steps == N + resume + N on CUDA: the checkpoint carries the CUDA RNG state and the device moves back.

    cuBLAS may pick other kernels between processes, so the weights agree to float32 rounding, not bitwise.
    """
    straight = _modules(api.train(tiny(*CUDA, "run.name=straight", "train.steps=24")))
    half = api.train(tiny(*CUDA, "run.name=half", "train.steps=12"))
    api.resume(half.root, ["train.steps=24"])
    resumed = _modules(half)
    for net in straight:
        for k in straight[net]:
            torch.testing.assert_close(resumed[net][k], straight[net][k], rtol=1e-4, atol=1e-5)
    assert [r["step"] for r in read_jsonl(half.stats)] == [5, 10, 12, 15, 20, 24]


def test_same_seed_gives_the_same_cuda_run_and_another_seed_another(tiny):
    """Seeding covers the CUDA generator too (noise is drawn on the device): an unseeded CUDA draw would make
    two runs of one seed differ by far more than float32 rounding."""
    a = _modules(api.train(tiny(*CUDA, "run.name=a", "train.steps=5")))
    b = _modules(api.train(tiny(*CUDA, "run.name=b", "train.steps=5")))
    c = _modules(api.train(tiny(*CUDA, "run.name=c", "train.steps=5", "run.seed=1")))
    gap = lambda x, y: max(float((x[n][k] - y[n][k]).abs().max()) for n in x for k in x[n]  # noqa: E731
                           if x[n][k].is_floating_point())
    assert gap(a, b) < 1e-5 < 1e-3 < gap(a, c)


def test_dcgan_bf16_channels_last_on_cuda(tiny):
    run = api.train(tiny(*CUDA, "run.name=dcgan", "run.precision=bf16", "run.channels_last=true",
                         "eval.metrics=[]", preset="dcgan-digits"))
    stats = read_jsonl(run.stats)
    assert stats and all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in stats)


def test_memory_budget_reads_the_gpu():
    free, where = budget.available(torch.device("cuda", 0))
    assert 0 < free <= torch.cuda.get_device_properties(0).total_memory
    assert where == "free on cuda:0"
