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
import zipfile
from pathlib import Path

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
