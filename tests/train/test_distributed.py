"""Distributed training (train/distributed.py): 2 gloo processes under torchrun against one process.

The torchrun job (tests/train/ddp_worker.py) is launched once per session and trains four tiny ring8
runs in one process group; the single-process references train here. Equivalence is tested in
``run.distributed_data=shard`` mode, where the two ranks split the very global batch and noise the single
process draws: the final weights agree to TOL (float32 rounding of a sum over 32 + 32 samples instead of
64, carried through 20 Adam steps; measured 6e-8), while the default ``independent`` mode, whose ranks
draw their own samples, differs by far more than TOL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gankit
from conftest import TINY
from gankit import api
from gankit import config as config_mod
from gankit.errors import ConfigError
from gankit.models.gan import GAN
from gankit.train import distributed
from gankit.train.checkpoint import load_checkpoint
from gankit.train.stats import read_jsonl

TOL = 1e-5  # max |w_ddp - w_single| over all weights after 20 steps (shard mode)
OVERRIDES = [*TINY, "run.threads=1", "run.device=cpu", "eval.metrics=wasserstein", "train.lr_schedule=linear",
             "train.lr_final=0.1"]
WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The 2-process torchrun job's output folder (runs/ and rank-R.pt), made once per pytest session:
    under pytest-xdist the workers share it through a lock in the session's base folder."""
    from filelock import FileLock  # a dependency of torch

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # <session>/popen-gwN -> <session>, shared by this session's workers
    out = base / "ddp-job"
    with FileLock(str(base / "ddp-job.lock")):
        if not (out / "rank-1.pt").is_file():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            _launch(out)
    return out


def _launch(out: Path) -> None:
    src = str(Path(gankit.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(WORKER), str(out), json.dumps(OVERRIDES)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _single(tmp_path: Path, name: str, *extra: str):
    cfg = config_mod.resolve("ring8", overrides=[*OVERRIDES, f"run.out_dir={tmp_path}", f"run.name={name}", *extra])
    return load_checkpoint(api.train(cfg).checkpoint)


def _max_diff(a: dict, b: dict) -> float:
    out = 0.0
    for net in a["recipe"]["modules"]:
        for k, v in a["recipe"]["modules"][net].items():
            out = max(out, float((v - b["recipe"]["modules"][net][k]).abs().max()))
    return out


@pytest.mark.slow
def test_two_gloo_processes_in_shard_mode_match_one_process_with_the_same_global_batch(job, tmp_path):
    ddp = load_checkpoint(job / "runs" / "shard" / "checkpoints" / "last.pt")
    single = _single(tmp_path, "single")
    assert ddp["step"] == single["step"] == 20
    assert torch.load(job / "rank-0.pt", weights_only=True)["shard_batch"] == 32  # each rank: half of 64
    diff = _max_diff(ddp, single)
    assert diff < TOL, diff
    # logged losses are averaged over the ranks: the global-batch values
    a, b = read_jsonl(job / "runs" / "shard" / "stats.jsonl"), read_jsonl(tmp_path / "single" / "stats.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [5, 10, 15, 20]  # rank 0 alone wrote
    for ra, rb in zip(a, b, strict=True):
        for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_acc"):
            assert ra[key] == pytest.approx(rb[key], abs=TOL), key
    # the other direction: independent sampling is a different (equally valid) run, far outside TOL
    indep = load_checkpoint(job / "runs" / "indep" / "checkpoints" / "last.pt")
    assert _max_diff(indep, single) > 100 * TOL


@pytest.mark.slow
def test_ranks_stay_identical_and_only_rank_0_writes_the_run_directory(job):
    r0, r1 = (torch.load(job / f"rank-{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    for k in r0["indep"]:
        assert torch.equal(r0["indep"][k], r1["indep"][k]), k
    assert not torch.equal(r0["indep_rng"], r1["indep_rng"])  # but each drew its own data and noise
    run = job / "runs" / "indep"
    assert (run / "generator.safetensors").is_file() and (run / "config.yaml").is_file()
    assert [r["step"] for r in read_jsonl(run / "stats.jsonl")] == [5, 10, 15, 20]
    assert len(read_jsonl(run / "metrics.jsonl")) == 1
    assert len(load_checkpoint(run / "checkpoints" / "last.pt")["rng_ranks"]) == 2


@pytest.mark.slow
def test_the_cli_under_torchrun_reports_on_rank_0_and_refuses_a_batch_that_does_not_split(job):
    r0, r1 = (torch.load(job / f"rank-{r}.pt", weights_only=True) for r in (0, 1))
    for r in (r0, r1):
        assert r["cli_bad"]["code"] == 2
        assert r["cli_bad"]["stderr"].strip() == (
            "gankit: error: data.batch_size (63) must be divisible by the number of processes (2): "
            "it is the global batch, split evenly over the ranks")
    assert r0["cli"]["code"] == r1["cli"]["code"] == 0
    assert "generator: " in r0["cli"]["stdout"] and r1["cli"]["stdout"] == ""
    assert (job / "runs" / "cli" / "generator.safetensors").is_file()


@pytest.mark.slow
def test_resume_under_ddp_is_bit_exact_with_every_ranks_rng(job):
    full = load_checkpoint(job / "runs" / "indep" / "checkpoints" / "last.pt")
    resumed = load_checkpoint(job / "runs" / "half" / "checkpoints" / "last.pt")
    assert full["step"] == resumed["step"] == 20
    assert _max_diff(full, resumed) == 0.0
    for r in (0, 1):
        assert torch.equal(full["rng_ranks"][r]["torch"], resumed["rng_ranks"][r]["torch"])
        rank = torch.load(job / f"rank-{r}.pt", weights_only=True)
        assert torch.equal(rank["indep_rng"], rank["resumed_rng"])
    assert [r["step"] for r in read_jsonl(job / "runs" / "half" / "stats.jsonl")] == [5, 10, 15, 20]
    # the rank-0 callback's request_finish stopped rank 1 too, at the same step
    assert [torch.load(job / f"rank-{r}.pt", weights_only=True)["half_step"] for r in (0, 1)] == [10, 10]


@pytest.mark.slow
def test_sigterm_on_one_rank_stops_both_after_the_same_step_with_a_checkpoint(job, tmp_path):
    for r in (0, 1):
        got = torch.load(job / f"rank-{r}.pt", weights_only=True)["sigterm"]
        assert got != "not interrupted"
        assert got["step"] == 7 and got["code"] == 143, got
        assert "continue with: torchrun --nproc_per_node 2 -m gankit train --resume" in got["message"]
    run = job / "runs" / "sigterm"
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 7
    assert not (run / "generator.safetensors").exists()
    # a DDP checkpoint resumes in one process (rank 0's RNG stream; a different world size is not bit-exact)
    copy = tmp_path / "sigterm"
    shutil.copytree(run, copy)
    api.resume(copy, ["train.steps=10"])
    assert load_checkpoint(copy / "checkpoints" / "last.pt")["step"] == 10


# ------------------------------------------------------------------ in-process pieces (no process group)
def test_per_rank_batch_splits_the_global_batch_or_says_why_not():
    assert distributed.per_rank_batch(64, 2) == 32
    assert distributed.per_rank_batch(64, 1) == 64
    assert distributed.per_rank_batch(64, 4, pack=4) == 16
    with pytest.raises(ConfigError, match=r"data.batch_size \(65\) must be divisible by the number of processes \(2\)"):
        distributed.per_rank_batch(65, 2)
    with pytest.raises(ConfigError, match="multiple of model.pack"):
        distributed.per_rank_batch(64, 8, pack=16)


def test_env_context_reads_torchrun_variables():
    assert distributed.env_context({}) == distributed.Context(0, 1, 0)
    ctx = distributed.env_context({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.enabled, ctx.is_main) == (3, 4, 1, True, False)
    for bad in ({"WORLD_SIZE": "2", "RANK": "2"}, {"WORLD_SIZE": "x"}, {"WORLD_SIZE": "0"}):
        with pytest.raises(ConfigError):
            distributed.env_context(bad)


def test_shard_mode_slices_of_noise_and_data_make_up_the_global_draw(tiny):
    cfg = tiny()
    g = GAN(cfg, (2,)).generator
    torch.manual_seed(0)
    whole = g.sample_noise(64)
    parts = []
    for rank in (0, 1):
        g = GAN(cfg, (2,)).generator
        distributed.shard_noise(g, distributed.Context(rank, 2, rank))
        torch.manual_seed(0)
        parts.append(g.sample_noise(32))
        private = torch.Generator().manual_seed(5)  # figures' private draws are not sharded
        assert g.sample_noise(7, generator=private).shape == (7, 2)
    assert torch.equal(torch.cat(parts), whole)
    x, y = torch.arange(8), torch.arange(8) * 10
    assert [t.tolist() for t in distributed.shard((x, y), distributed.Context(1, 4, 1))] == [[2, 3], [20, 30]]


def test_sampling_seeds_differ_per_rank_and_step_and_repeat():
    seeds = {distributed.sampling_seed(0, r, s) for r in range(4) for s in (0, 10)}
    assert len(seeds) == 8
    assert distributed.sampling_seed(3, 1, 5) == distributed.sampling_seed(3, 1, 5)


def test_single_process_trainer_is_untouched_by_the_distributed_code(tiny):
    trainer = api.build_trainer(tiny(), api.run_dir_for(tiny()), callbacks=[])
    assert not trainer.dist.enabled and trainer.batch_size == 64
    assert all(not opt._optimizer_step_pre_hooks for opt in trainer.recipe.optimizers.values())


def test_bf16_autocast_runs_the_nets_in_bfloat16_with_float32_scores_and_weights(tiny):
    cfg = tiny("run.precision=bf16", "train.steps=3")
    run = api.run_dir_for(cfg)
    trainer = api.build_trainer(cfg, run, callbacks=[])
    seen = {}
    trainer.recipe.generator.register_forward_hook(lambda m, i, o: seen.setdefault("g", o.dtype) and None)
    trainer.recipe.discriminator.register_forward_hook(lambda m, i, o: seen.setdefault("d", o.dtype) and None)
    run.root.mkdir(parents=True)
    record = trainer.fit()
    assert seen == {"g": torch.bfloat16, "d": torch.float32}  # D's hook added by the trainer runs first
    assert all(p.dtype == torch.float32 for p in trainer.recipe.generator.parameters())
    assert all(torch.isfinite(torch.tensor(v)) for v in record.values())
    fp32 = api.build_trainer(tiny("train.steps=3", "run.name=fp32"), run, callbacks=[])
    (run.root / "checkpoints").mkdir(exist_ok=True)
    fp32.fit()
    diff = max(float((a - b).detach().abs().max()) for a, b in zip(trainer.recipe.generator.parameters(),
                                                            fp32.recipe.generator.parameters()))
    assert 0 < diff < 0.05  # bf16 changes the numbers, slightly


@pytest.mark.slow  # importing torch._dynamo takes a few seconds
def test_compile_option_compiles_the_nets_and_refuses_double_backward(tiny):
    cfg = tiny("run.compile=true")
    trainer = api.build_trainer(cfg, api.run_dir_for(cfg), callbacks=[])
    assert all(m._compiled_call_impl is not None for m in trainer.recipe.modules().values())
    assert set(trainer.recipe.state_dict()["modules"]["generator"]) == set(
        api.build_trainer(tiny(), api.run_dir_for(cfg), callbacks=[]).recipe.state_dict()["modules"]["generator"])
    for bad in ("reg.r1=1", "reg.gradient_penalty=10", "model.unroll=2"):
        with pytest.raises(ConfigError, match="run.compile cannot be used"):
            api.build_trainer(tiny("run.compile=true", bad), api.run_dir_for(cfg), callbacks=[])
    with pytest.raises(ConfigError, match="run.precision"):
        tiny("run.precision=fp16")
