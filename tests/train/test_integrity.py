"""Integrity of what a run writes: every JSON-lines record once after any kill/resume, checksums that catch
a flipped byte in a checkpoint or an export, --overwrite that deletes only gankit runs, and a hand-edited
config.yaml on resume."""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import struct
import warnings
import zipfile

import pytest
import torch

from fault_helpers import check_run_files
from gankit import api
from gankit.cli import main
from gankit.errors import CheckpointError
from gankit.train.checkpoint import load_checkpoint, save_checkpoint
from gankit.train.diagnostics import Diagnostics
from gankit.train.stats import JsonlWriter, read_jsonl

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

FAST = ["generator.width=16", "discriminator.width=16", "train.log_every=1", "eval.num_samples=200"]


def _records(run):
    """Every JSON-lines file of a run, without the wall-clock column: what two equal runs share exactly."""
    out = {}
    for path in (run.stats, run.metrics, run.diagnostics, run.alarms):
        out[path.name] = [{k: v for k, v in r.items() if k != "time"} for r in read_jsonl(path)]
    return out


def _killed_after(cfg, when):
    """Train ``cfg`` in a forked child that SIGKILLs itself right after a JSON-lines record for which
    ``when(file name, record)`` holds is written (no handler, no clean-up runs)."""
    run = api.run_dir_for(cfg)
    pid = os.fork()
    if pid == 0:  # the child: train, never return into pytest
        try:
            real = JsonlWriter.write

            def write(self, record):
                real(self, record)
                if when(self.path.name, record):
                    os.kill(os.getpid(), signal.SIGKILL)

            JsonlWriter.write = write
            api.train(cfg)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, "the child was not killed"
    return run


# ------------------------------------------------------------------------ item: each record once


@pytest.mark.parametrize("moment", ["final metrics", "final diagnostics", "finished"])
def test_every_jsonl_record_is_written_once_after_kill_9_and_resume(tiny, moment, monkeypatch):
    """Killed after the end-of-run metrics (or diagnostics) line and before exiting, or resumed after it
    finished: the resumed run's JSON-lines files equal an uninterrupted run's, record for record."""
    import gankit.viz.diagnostics

    monkeypatch.setattr(gankit.viz.diagnostics, "plot_diagnostics", lambda *a, **k: None)  # figures: not the subject
    common = [*FAST, "train.steps=10", "train.checkpoint_every=4", "train.eval_every=4", "train.diagnostics_every=3",
              "eval.metrics=[modes]"]
    ref = api.train(tiny(*common, "run.name=reference"))
    cfg = tiny(*common, "run.name=cut")
    if moment == "finished":
        run = api.train(cfg)
    else:
        name = "metrics.jsonl" if moment == "final metrics" else "diagnostics.jsonl"
        run = _killed_after(cfg, lambda file, record: file == name and record["step"] == 10)
        assert read_jsonl(run.root / name)[-1]["step"] == 10, "killed after the final line was written"
    api.resume(run.root)
    api.resume(run.root)  # and once more: a finished run resumed again adds nothing either
    got, want = _records(run), _records(ref)
    assert [r["step"] for r in got["metrics.jsonl"]] == [4, 8, 10]
    assert [r["step"] for r in got["diagnostics.jsonl"]] == [3, 6, 9, 10]
    assert got == want
    check_run_files(run.root)


def test_a_time_limit_at_an_evaluation_step_records_that_step_once(tiny):
    from gankit.train.callbacks import Callback

    class StopAt(Callback):
        def on_step(self, trainer, step):
            if step == 4:
                trainer.request_finish()

    cfg = tiny(*FAST, "train.steps=10", "train.eval_every=4", "eval.metrics=[modes]")
    run = api.run_dir_for(cfg)
    trainer = api.build_trainer(cfg, run)
    trainer.callbacks.append(StopAt())
    run.root.mkdir(parents=True)
    trainer.fit()  # eval at step 4 (on_step), then the end-of-run eval at the same step
    assert [r["step"] for r in read_jsonl(run.metrics)] == [4]


def test_put_replaces_the_record_with_the_same_key_and_keeps_the_others(tmp_path):
    path = tmp_path / "m.jsonl"
    w = JsonlWriter(path)
    key = lambda r: (r.get("step"), r.get("source"))  # noqa: E731
    w.put({"step": 1, "a": 1.0}, key)
    w.put({"step": 2, "a": 2.0}, key)
    w.put({"step": 2, "source": "gankit eval", "a": 5.0}, key)
    with path.open("a") as f:
        f.write('{"step": 3, "a"')  # a torn line
    w.put({"step": 2, "a": float("inf"), "floor": {"x": float("nan")}}, key)  # replaces step 2, training's
    assert read_jsonl(path) == [{"step": 1, "a": 1.0}, {"step": 2, "source": "gankit eval", "a": 5.0},
                                {"step": 2, "a": 1e308, "floor": {"x": None}}]
    assert path.read_text().endswith("\n")


def test_a_repeated_gankit_eval_replaces_its_record_other_options_add_one(tiny, capsys):
    run = api.train(tiny(*FAST, "train.steps=4"))
    trained = read_jsonl(run.metrics)
    for argv in (["-n", "100"], ["-n", "100"], ["-n", "150"], ["-n", "100"]):
        assert main(["eval", str(run.root), "--no-floor", *argv]) == 0
    assert "recorded in" in capsys.readouterr().out
    records = read_jsonl(run.metrics)
    assert records[:1] == trained and [r.get("samples") for r in records[1:]] == [150, 100]
    assert all(r["source"] == "gankit eval" for r in records[1:])


def test_a_lost_final_alarm_is_restored_once_on_resume(tmp_path):
    """Killed between the last diagnostics line and its alarm line: the resume writes the alarm, once."""

    class FakeRun:
        diagnostics, alarms = tmp_path / "diagnostics.jsonl", tmp_path / "alarms.jsonl"

    class FakeTrainer:
        run = FakeRun()

    lines = [{"step": 5, "d_loss": 0.5}, {"step": 10, "d_loss": 5e3}]  # "diverged" (patience 1) at step 10
    FakeRun.diagnostics.write_text("".join(json.dumps(r) + "\n" for r in lines))
    FakeRun.alarms.write_text("")
    for _ in range(2):
        diag = Diagnostics(every=5)
        diag.on_start(FakeTrainer())
        assert [(a["step"], a["kind"]) for a in read_jsonl(FakeRun.alarms)] == [(10, "diverged")]
        assert len(diag.alarms) == 1


# ------------------------------------------------------------------ item: checksums catch a flipped byte


def _member_span(data: bytes, suffix: str) -> tuple[int, int]:
    """(start, end) of the stored bytes of the zip member whose name ends with ``suffix``."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(suffix))
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    return start, start + info.compress_size


def _flipped(data: bytes, pos: int, bit: int = 0x10) -> bytes:
    out = bytearray(data)
    out[pos] ^= bit
    return bytes(out)


def _rezipped(data: bytes, change) -> bytes:
    """The same checkpoint with ``change(name, bytes)`` applied to its members and fresh, matching CRC-32s:
    damage the container cannot see (only the content checksum can)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, change(info.filename, zin.read(info.filename)))
    return out.getvalue()


def _resume_fails(run, capsys, message):
    assert main(["-q", "train", "--resume", str(run.root), "train.steps=6"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: checkpoint '") and message in err and err.count("\n") == 1, err


def test_a_flipped_byte_in_a_checkpoint_is_one_line_and_never_loads(tiny, capsys):
    run = api.train(tiny(*FAST, "train.steps=4"))
    good = run.checkpoint.read_bytes()
    state = load_checkpoint(run.checkpoint)
    assert state["version"] == 2 and state["checksum"].startswith("sha256:")
    weights = max((k for k in zipfile.ZipFile(run.checkpoint).namelist() if "/data/" in k),
                  key=lambda k: zipfile.ZipFile(run.checkpoint).getinfo(k).file_size)  # the largest tensor
    tensor, pickled = _member_span(good, weights), _member_span(good, "data.pkl")
    for pos in (tensor[0] + 3, (tensor[0] + tensor[1]) // 2, pickled[0] + 20, (pickled[0] + pickled[1]) // 2):
        run.checkpoint.write_bytes(_flipped(good, pos))
        _resume_fails(run, capsys, "does not match its CRC-32")
    # the same damage with CRC-32s that match (the container cannot see it): the content checksum does
    def flip_weight(name: str, b: bytes) -> bytes:
        return _flipped(b, len(b) // 2, 0x40) if name.endswith(weights[-7:]) and "/data/" in name else b

    run.checkpoint.write_bytes(_rezipped(good, flip_weight))
    _resume_fails(run, capsys, "its content does not match its checksum")
    assert b"ring8" in zipfile.ZipFile(run.checkpoint).read(next(n for n in zipfile.ZipFile(run.checkpoint).namelist()
                                                                if n.endswith("data.pkl")))
    same_length = lambda name, b: b.replace(b"ring8", b"rinG8", 1) if name.endswith("data.pkl") else b  # noqa: E731
    run.checkpoint.write_bytes(_rezipped(good, same_length))
    _resume_fails(run, capsys, "its content does not match its checksum")
    run.checkpoint.write_bytes(good)
    assert main(["-q", "train", "--resume", str(run.root), "train.steps=6"]) == 0  # the undamaged file resumes
    capsys.readouterr()


def test_version_1_checkpoints_load_by_their_crcs_and_version_2_needs_its_checksum(tmp_path):
    old = tmp_path / "old.pt"
    torch.save({"format": "gankit-checkpoint", "version": 1, "step": 3, "w": torch.arange(64.0)}, old)
    assert load_checkpoint(old)["step"] == 3  # written before the checksum: still read
    start, end = _member_span(old.read_bytes(), "data/0")
    old.write_bytes(_flipped(old.read_bytes(), start + 5))
    with pytest.raises(CheckpointError, match="does not match its CRC-32"):
        load_checkpoint(old)
    bare = tmp_path / "bare.pt"
    torch.save({"format": "gankit-checkpoint", "version": 2, "step": 3}, bare)
    with pytest.raises(CheckpointError, match="its content has no checksum"):
        load_checkpoint(bare)
    # the digest covers every kind of value a training state holds, and survives a save/load round trip
    state = {"step": 3, "w": torch.arange(6.0).reshape(2, 3)[:, 1:], "h": torch.ones(2, dtype=torch.bfloat16),
             "empty": torch.zeros(0), "mask": torch.tensor([True, False]), "cfg": {"a": [1, 2.5, (3, "x")], "b": None},
             "python": [3, list(range(5)), None], 7: "integer key"}
    save_checkpoint(tmp_path / "all.pt", state)
    assert load_checkpoint(tmp_path / "all.pt")["cfg"] == state["cfg"]


def test_a_flipped_byte_in_a_generator_export_is_one_line(tiny, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    run = api.train(tiny(*FAST, "train.steps=4"))
    good = run.generator.read_bytes()
    header_len = struct.unpack("<Q", good[:8])[0]
    step_at = good.index(b'"step":"4"') + len(b'"step":"')
    out = run.root.parent / "x.npy"
    for pos in (8 + header_len + 5, len(good) - 3, step_at):  # tensor data, and the metadata's step 4 -> 5
        run.generator.write_bytes(_flipped(good, pos, 0x01))
        assert main(["sample", str(run.root), "-n", "5", "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gankit: error: generator export '{run.generator}' is corrupt: its content does not "
                              "match its checksum") and err.count("\n") == 1, err
    run.generator.write_bytes(good)
    tensors = load_file(str(run.generator))
    with safe_open(str(run.generator), framework="pt") as f:
        meta = f.metadata()
    unversioned = {k: v for k, v in meta.items() if k not in ("version", "checksum")}
    save_file(tensors, str(run.generator), metadata=unversioned)  # an export from before the checksum: loads
    assert main(["sample", str(run.root), "-n", "5", "-o", str(out)]) == 0
    save_file(tensors, str(run.generator), metadata={k: v for k, v in meta.items() if k != "checksum"})
    assert main(["sample", str(run.root), "-n", "5", "-o", str(out)]) == 2
    assert "its content has no checksum" in capsys.readouterr().err


def test_a_protocol_5_pickle_as_last_pt_is_refused_in_exactly_one_line(tiny, capsys):
    run = api.train(tiny(*FAST, "train.steps=4"))
    run.checkpoint.write_bytes(pickle.dumps({"format": "gankit-checkpoint", "version": 2}, protocol=5))
    with warnings.catch_warnings(record=True) as caught:  # what would be printed (torch's was two lines)
        warnings.simplefilter("always")
        assert main(["-q", "train", "--resume", str(run.root), "train.steps=6"]) == 2
    assert [str(w.message) for w in caught] == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gankit: error: checkpoint '") and "corrupt" in err, err


# ------------------------------------------------------------- item: --overwrite deletes only gankit runs


def _train_argv(out, *extra):
    flags = [e for e in extra if e.startswith("--")]
    extra = [e for e in extra if not e.startswith("--")]
    return ["-q", "train", *flags, "ring8", *FAST, "train.steps=3", "train.sample_every=0", "train.progress=false",
            "train.diagnostics_every=0", "eval.metrics=[modes]", f"run.out_dir={out}", "generator.depth=2",
            "discriminator.depth=2", "data.batch_size=64", *extra]


def test_overwrite_refuses_a_folder_gankit_did_not_make_and_replaces_a_run(tmp_path, capsys):
    out = tmp_path / "some"
    mine = out / "important"
    mine.mkdir(parents=True)
    (mine / "thesis.tex").write_text("years of work")
    (mine / "config.yaml").write_text("mine: true\n")  # even a config.yaml alone does not make it a run
    assert main(_train_argv(out, "run.name=important", "--overwrite")) == 2
    err = capsys.readouterr().err
    assert err == (f"gankit: error: refusing to delete '{mine}' for --overwrite: it is not a gankit run directory "
                   "(no .gankit-run marker); delete it yourself or pick another run.name or run.out_dir\n")
    assert (mine / "thesis.tex").read_text() == "years of work"
    # a run gankit made carries the marker: --overwrite replaces it (a stray file inside goes with it)
    assert main(_train_argv(out, "run.name=run")) == 0
    run = api.find_run(out / "run")
    assert run.marker.is_file() and check_run_files(run.root)
    (run.root / "old.txt").write_text("x")
    assert main(_train_argv(out, "run.name=run", "train.steps=2", "--overwrite")) == 0
    assert not (run.root / "old.txt").exists() and [r["step"] for r in read_jsonl(run.stats)] == [1, 2]
    # a run from before the marker (config.yaml and stats.jsonl) and an empty folder are replaced too
    run.marker.unlink()
    assert main(_train_argv(out, "run.name=run", "--overwrite")) == 0 and run.marker.is_file()
    (out / "empty").mkdir()
    assert main(_train_argv(out, "run.name=empty", "--overwrite")) == 0
    # neither a file nor a link is ever deleted
    (out / "file").write_text("data")
    (out / "link").symlink_to(mine)
    assert main(_train_argv(out, "run.name=link", "--overwrite")) == 2
    err = capsys.readouterr().err
    assert err == (f"gankit: error: refusing to delete '{out / 'link'}' for --overwrite: it is not a folder but a "
                   "link; pick another run.name or run.out_dir\n")
    for flags in (["--overwrite"], []):
        assert main(_train_argv(out, "run.name=file", *flags)) == 2
        assert capsys.readouterr().err == (f"gankit: error: run directory '{out / 'file'}' is a file; pick another "
                                           "run.name or run.out_dir\n")
    assert (out / "file").read_text() == "data" and (mine / "thesis.tex").exists()


def test_a_sweep_never_deletes_a_folder_it_did_not_make(tmp_path, capsys):
    out = tmp_path / "sweep"
    stray = out / "base" / "seed-0"
    stray.mkdir(parents=True)
    (stray / "notes.txt").write_text("keep me")
    argv = ["-q", "sweep", "ring8", *FAST, "train.steps=2", "train.diagnostics_every=0", "train.sample_every=0",
            "eval.metrics=[modes]", "--seeds", "1", "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gankit: error: refusing to delete '{stray}' for a new sweep run: it is not a gankit "
                          "run directory") and err.count("\n") == 1
    assert (stray / "notes.txt").read_text() == "keep me"


# ------------------------------------------------------------------- item: a hand-edited config.yaml


def test_a_hand_edit_of_a_resumable_key_in_config_yaml_is_honoured_and_said(tiny, caplog):
    import logging

    import yaml

    run = api.train(tiny(*FAST, "train.steps=4", "train.checkpoint_every=2", "eval.metrics=[modes]"))
    data = yaml.safe_load(run.config.read_text())
    data["train"]["steps"] = 7  # the user edits the file instead of passing train.steps=7
    data["eval"]["num_samples"] = 150
    run.config.write_text(yaml.safe_dump(data))
    with caplog.at_level(logging.WARNING, logger="gankit"):
        api.resume(run.root)
    said = [r.getMessage() for r in caplog.records if "differs from the checkpoint" in r.getMessage()]
    assert said == [f"{run.config} differs from the checkpoint in eval.num_samples 200 -> 150, train.steps 4 -> 7: "
                    "resuming with config.yaml's values (KEY=VALUE overrides win over both)"]
    assert [r["step"] for r in read_jsonl(run.stats)] == list(range(1, 8))
    assert load_checkpoint(run.checkpoint)["config"]["train"]["steps"] == 7
    # an override wins over the edit; a finished run with nothing edited resumes silently
    data["train"]["steps"] = 12
    run.config.write_text(yaml.safe_dump(data))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gankit"):
        api.resume(run.root, ["train.steps=9"])
        api.resume(run.root)
    assert [r["step"] for r in read_jsonl(run.stats)] == list(range(1, 10))
    assert len([r for r in caplog.records if "differs from the checkpoint" in r.getMessage()]) == 1
