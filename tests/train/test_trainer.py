"""The generic trainer: the lecture's algorithm, logs, determinism, bit-exact resume, faults."""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from gankit import api
from gankit.errors import CheckpointError, ConfigError, NonFiniteLossError, TrainingInterrupted
from gankit.train.callbacks import Callback
from gankit.train.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from gankit.train.stats import read_jsonl
from gankit.train.trainer import lr_factor


def _weights(run):
    return torch.load(run.checkpoint, weights_only=True)


def _same_state(a, b):
    ma, mb = a["recipe"]["modules"], b["recipe"]["modules"]
    for net in ma:
        for k in ma[net]:
            assert torch.equal(ma[net][k], mb[net][k]), f"{net}.{k} differs"
    if a["ema"] is not None:
        for k in a["ema"]:
            assert torch.equal(a["ema"][k], b["ema"][k]), f"ema.{k} differs"
    for opt in a["recipe"]["optimizers"]:
        sa, sb = a["recipe"]["optimizers"][opt]["state"], b["recipe"]["optimizers"][opt]["state"]
        for p in sa:
            for k in sa[p]:
                assert torch.equal(sa[p][k], sb[p][k]), f"optimizer {opt} state {p}.{k} differs"
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def test_k_discriminator_steps_per_generator_step(tiny):
    cfg = tiny("train.d_steps=3", "train.steps=4")
    run = api.run_dir_for(cfg)
    calls = []
    trainer = api.build_trainer(cfg, run, callbacks=[])
    d, g = trainer.recipe.d_step, trainer.recipe.g_step
    trainer.recipe.d_step = lambda b: calls.append("d") or d(b)
    trainer.recipe.g_step = lambda b: calls.append("g") or g(b)
    run.root.mkdir(parents=True)
    trainer.fit()
    assert "".join(calls) == "dddg" * 4


def test_recipes_that_use_labels_get_image_label_pairs(tiny):
    cfg = tiny("train.steps=2", "data.batch_size=16", "train.sample_every=0", preset="dcgan-digits")
    run = api.run_dir_for(cfg)
    trainer = api.build_trainer(cfg, run, callbacks=[])
    seen = []
    trainer.recipe.uses_labels = True
    d, g = trainer.recipe.d_step, trainer.recipe.g_step
    trainer.recipe.d_step = lambda b: seen.append(b) or d(b[0])
    trainer.recipe.g_step = lambda b: seen.append(b) or g(b[0])
    run.root.mkdir(parents=True)
    trainer.fit()
    assert len(seen) == 4
    for x, y in seen:
        assert x.shape == (16, 1, 8, 8) and y.shape == (16,) and y.dtype == torch.int64
        assert 0 <= int(y.min()) and int(y.max()) <= 9


def test_stats_and_run_directory(tiny):
    cfg = tiny("train.steps=20", "train.log_every=5", "train.ema=0.9")
    run = api.train(cfg)
    stats = read_jsonl(run.stats)
    assert [r["step"] for r in stats] == [5, 10, 15, 20]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm", "lr_g", "lr_d", "time"):
        assert key in stats[0]
    assert 0 <= stats[-1]["d_real"] <= 1 and 0 <= stats[-1]["d_fake"] <= 1
    assert run.config.is_file() and run.checkpoint.is_file() and run.generator.is_file()
    metrics = read_jsonl(run.metrics)
    assert metrics[-1]["step"] == 20 and {"modes", "hq", "w1"} <= set(metrics[-1])
    state = load_checkpoint(run.checkpoint)
    assert state["step"] == 20 and state["ema"] is not None and state["config"]["train"]["steps"] == 20
    # the export is the EMA generator
    exported = load_file(str(run.generator))
    ema = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    assert exported.keys() == ema.keys() and all(torch.equal(exported[k], ema[k]) for k in ema)


def test_same_seed_same_run_different_seed_different_run(tiny):
    a = _weights(api.train(tiny("run.name=a")))
    b = _weights(api.train(tiny("run.name=b")))
    c = _weights(api.train(tiny("run.name=c", "run.seed=1")))
    _same_state(a, b)
    with pytest.raises(AssertionError):
        _same_state(a, c)


def test_unlogged_steps_skip_the_statistics_but_train_the_same(tiny):
    """Steps that are not logged return losses only (Recipe.stats_wanted), and the run does not depend on it."""
    seen = []

    class Spy(Callback):
        def on_step(self, trainer, step):
            seen.append(trainer.recipe.stats_wanted)

    every = api.train(tiny("run.name=every", "train.steps=12", "train.log_every=1"))
    sparse = api.train(tiny("run.name=sparse", "train.steps=12", "train.log_every=5"), callbacks=[Spy()])
    _same_state(_weights(every), _weights(sparse))
    assert seen == [s % 5 == 0 or s == 12 for s in range(1, 13)]  # wanted on logged steps and the last
    assert [r["step"] for r in read_jsonl(sparse.stats)] == [5, 10, 12]
    assert all("d_grad_norm" in r and "d_acc" in r and "g_grad_norm" in r for r in read_jsonl(sparse.stats))
    class StopAtOne(Callback):
        def on_step(self, trainer, step):
            trainer.request_finish()  # ends after step 1, which is not logged

    trainer = api.build_trainer(tiny("run.name=stop", "train.steps=12", "train.log_every=5"),
                                api.run_dir_for(tiny("run.name=stop")), callbacks=[StopAtOne()])
    trainer.run.root.mkdir(parents=True)
    trainer.fit()
    assert trainer.step == 1 and trainer.recipe.stats_wanted  # reset however training ended
    recipe = api.build_trainer(tiny("run.name=direct"), api.run_dir_for(tiny("run.name=direct")), callbacks=[]).recipe
    batch = torch.randn(8, 2)
    recipe.stats_wanted = False
    assert set(recipe.d_step(batch)) == {"d_loss"} and set(recipe.g_step(batch)) == {"g_loss"}
    recipe.stats_wanted = True
    assert {"d_loss", "d_acc", "d_grad_norm"} <= set(recipe.d_step(batch)) and "g_grad_norm" in recipe.g_step(batch)


@pytest.mark.parametrize("ema", ["0", "0.9"])
def test_resume_is_bit_exact(tiny, ema):
    """2N steps straight == N steps + resume + N steps, parameter for parameter (and optimiser, EMA, RNG)."""
    straight = _weights(api.train(tiny("run.name=straight", "train.steps=24", f"train.ema={ema}")))
    half = api.train(tiny("run.name=half", "train.steps=12", f"train.ema={ema}"))
    api.resume(half.root, ["train.steps=24"])
    resumed = _weights(half)
    assert resumed["step"] == 24
    _same_state(straight, resumed)
    assert [r["step"] for r in read_jsonl(half.stats)] == [5, 10, 12, 15, 20, 24]


class _SignalAt(Callback):
    def __init__(self, step: int, sig: int = signal.SIGINT) -> None:
        self.at, self.sig = step, sig

    def on_step(self, trainer, step):
        if step == self.at:
            signal.raise_signal(self.sig)


def test_interrupt_writes_checkpoint_and_resume_matches(tiny):
    straight = _weights(api.train(tiny("run.name=straight", "train.steps=30", "train.lr_schedule=cosine",
                                       "train.ema=0.8")))
    cfg = tiny("run.name=cut", "train.steps=30", "train.lr_schedule=cosine", "train.ema=0.8")
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN, not Python's handler, when pytest runs under nohup
    with pytest.raises(TrainingInterrupted, match=r"SIGINT at step 13: checkpoint written .* gankit train --resume"):
        api.train(cfg, callbacks=[_SignalAt(13)])
    run = api.run_dir_for(cfg)
    assert load_checkpoint(run.checkpoint)["step"] == 13
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    api.resume(run.root)
    _same_state(straight, _weights(run))


def test_request_finish_and_time_limit_end_like_the_last_step_and_resume_continues(tiny):
    class FinishAt(Callback):
        def on_step(self, trainer, step):
            if step == 7:
                trainer.request_finish()

    straight = _weights(api.train(tiny("run.name=straight", "train.steps=30", "train.ema=0.8")))
    cfg = tiny("run.name=cut", "train.steps=30", "train.ema=0.8")
    run = api.train(cfg, callbacks=[FinishAt()])
    assert load_checkpoint(run.checkpoint)["step"] == 7
    assert run.generator.is_file()  # exported as at a normal end
    api.resume(run.root)
    _same_state(straight, _weights(run))

    limited = api.train(tiny("run.name=limited", "train.steps=30", "train.time_limit=1e-9"))
    assert load_checkpoint(limited.checkpoint)["step"] == 1 and limited.generator.is_file()
    api.resume(limited.root, ["train.time_limit=0"])
    assert load_checkpoint(limited.checkpoint)["step"] == 30
    with pytest.raises(ConfigError, match="train.time_limit must be >= 0"):
        tiny("train.time_limit=-1")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tiny):
    class Poison(Callback):
        def on_step(self, trainer, step):
            if step == 14:
                with torch.no_grad():
                    next(trainer.recipe.discriminator.parameters()).fill_(float("nan"))

    cfg = tiny("train.steps=30", "train.checkpoint_every=10")
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 15 .*last good checkpoint"):
        api.train(cfg, callbacks=[Poison()])
    state = load_checkpoint(api.run_dir_for(cfg).checkpoint)
    assert state["step"] == 10
    assert all(torch.isfinite(v).all() for v in state["recipe"]["modules"]["discriminator"].values())


def test_resume_refuses_structural_changes_and_truncates_logs(tiny):
    run = api.train(tiny("train.steps=10", "train.checkpoint_every=5"))
    with pytest.raises(Exception, match="cannot change generator.width when resuming"):
        api.resume(run.root, ["generator.width=64", "train.steps=20"])
    # a crashed run may have logged past its last checkpoint: those lines are dropped on resume
    with run.stats.open("a") as f:
        f.write(json.dumps({"step": 999, "d_loss": 1.0}) + "\n")
    api.resume(run.root, ["train.steps=15"])
    steps = [r["step"] for r in read_jsonl(run.stats)]
    assert 999 not in steps and steps == sorted(steps) and steps[-1] == 15


@pytest.mark.parametrize("schedule,expected", [
    ("constant", [1.0, 1.0, 1.0]), ("linear", [1.0, 0.55, 0.1]), ("cosine", [1.0, 0.55, 0.1]),
])
def test_lr_factor(schedule, expected):
    got = [lr_factor(schedule, s, 100, 0.1) for s in (0, 50, 100)]
    assert got == pytest.approx(expected)
    assert lr_factor("cosine", 25, 100, 0.0) == pytest.approx(0.5 * (1 + 2**-0.5))


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"step": 1})

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"], "no temporary file left behind"


def test_bad_checkpoints_get_clear_errors(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"step": 3, "w": torch.ones(1000)})
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    torch.save({"model": torch.ones(2)}, tmp_path / "foreign.pt")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"format": "gankit-checkpoint", "x": Evil()}, protocol=2))
    atomic_write_bytes(tmp_path / "text.pt", b"hello")
    cases = {
        "missing.pt": "does not exist",
        "trunc.pt": "corrupt or truncated",
        "foreign.pt": "is not a gankit checkpoint",
        "evil.pt": "refusing to load",
        "text.pt": "corrupt or truncated",
    }
    for name, message in cases.items():
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(tmp_path / name)
        assert message in str(info.value) and "\n" not in str(info.value), name


def test_sigterm_checkpoints_and_exits_cleanly(tmp_path):
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "gankit", "-q", "train", "train.steps=100000", "generator.width=16",
           "discriminator.width=16", "train.sample_every=0", "train.log_every=1", "train.progress=false",
           f"run.out_dir={out}", "run.threads=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stats = out / "ring8" / "stats.jsonl"
    deadline = time.time() + 60
    while not (stats.exists() and stats.stat().st_size > 0) and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "SIGTERM at step" in err and "Traceback" not in err
    state = load_checkpoint(out / "ring8" / "checkpoints" / "last.pt")
    assert state["step"] >= 1


def test_ema_warmup_follows_the_net_early_and_reaches_the_set_decay():
    from torch.optim.swa_utils import AveragedModel

    from gankit.train.trainer import ema_decay, ema_warmup_fn

    assert ema_decay(0.999, 0) == pytest.approx(0.1) and ema_decay(0.999, 90) == pytest.approx(0.91)
    assert ema_decay(0.999, 10**6) == 0.999 and ema_decay(0.5, 100) == 0.5
    net = torch.nn.Linear(1, 1, bias=False)
    avg = AveragedModel(net, multi_avg_fn=ema_warmup_fn(0.9), use_buffers=True)
    want = None
    for t, w in enumerate([1.0, 2.0, 4.0, 8.0, 16.0]):
        with torch.no_grad():
            net.weight.fill_(w)
        avg.update_parameters(net)
        want = w if t == 0 else (lambda d: d * want + (1 - d) * w)(ema_decay(0.9, t))
        assert float(avg.module.weight.detach()) == pytest.approx(want)
    assert float(avg.module.weight.detach()) > 8.0  # a plain 0.9 EMA would still sit near the first value (~3.6)


def test_optimiser_keeps_its_own_kernel_choice_when_loading_a_checkpoint(tiny):
    """A checkpoint from an unfused Adam (older gankit) loads into the fused one and stays fused, same moments."""
    trainer = api.build_trainer(tiny("run.name=fused"), api.run_dir_for(tiny("run.name=fused")), callbacks=[])
    recipe = trainer.recipe
    recipe.d_step(torch.randn(8, 2))
    state = recipe.state_dict()
    for opt in state["optimizers"].values():
        for g in opt["param_groups"]:
            g["fused"] = None  # as an unfused optimiser saved it
    recipe.load_state_dict(state)
    assert all(o.param_groups[0]["fused"] for o in recipe.optimizers.values())
    for name, opt in recipe.optimizers.items():
        saved = state["optimizers"][name]["state"]
        for i, st in saved.items():
            assert torch.equal(opt.state_dict()["state"][i]["exp_avg"], st["exp_avg"])
