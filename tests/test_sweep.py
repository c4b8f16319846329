"""gankit sweep: the grid, seeds, mean ± standard error, the process pool (failures, Ctrl-C), bad input,
and one tiny sweep end to end (train, skip when done, resume a partial run)."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest

from conftest import TINY
from gankit import sweep as sweep_mod
from gankit import sweep_summary
from gankit.errors import ConfigError, TrainingInterrupted
from sweep_helpers import python, read_csv, run

# ------------------------------------------------------------------------------------------------ grid


def test_grid_product_fixed_values_and_bracketed_lists():
    fixed, axes = sweep_mod.parse_grid(
        ["model.objective=mmgan,nsgan", "train.steps=20", "reg.instance_noise=0, 0.1,0.2",
         "g_optim.betas=[0.5,0.9]", "d_optim.betas=[0.5,0.9],[0.0,0.99]"])
    assert fixed == ["train.steps=20", "g_optim.betas=[0.5,0.9]"]
    assert axes == [sweep_mod.Axis("model.objective", ("mmgan", "nsgan")),
                    sweep_mod.Axis("reg.instance_noise", ("0", "0.1", "0.2")),
                    sweep_mod.Axis("d_optim.betas", ("[0.5,0.9]", "[0.0,0.99]"))]
    cells = sweep_mod.make_cells(axes)
    assert len(cells) == 2 * 3 * 2
    assert cells[0].overrides == ["model.objective=mmgan", "reg.instance_noise=0", "d_optim.betas=[0.5,0.9]"]
    assert cells[1].slug == "objective=mmgan,instance_noise=0,betas=0.0-0.99"  # the last axis varies fastest
    assert cells[-1].params[0] == ("model.objective", "nsgan")
    assert len({c.slug for c in cells}) == len(cells)
    assert sweep_mod.make_cells([])[0].slug == "base"  # seeds only


def test_clashing_short_names_use_the_whole_key():
    cells = sweep_mod.make_cells([sweep_mod.Axis("g_optim.lr", ("1e-3", "1e-4")),
                                  sweep_mod.Axis("d_optim.lr", ("1e-3", "2e-4"))])
    assert cells[0].slug == "g_optim.lr=1e-3,d_optim.lr=1e-3"


@pytest.mark.parametrize(
    "items,message",
    [
        (["train.steps"], "'train.steps' is not an override"),
        (["train.steps=1", "train.steps=2,3"], "train.steps is given twice"),
        (["run.seed=1,2"], "use --seeds or --seed-list"),
        (["run.out_dir=x"], "use -o/--out"),
        (["run.threads=2"], "use --threads"),
        (["g_optim.betas=[0.5,0.9"], "unbalanced brackets"),
        (["model.objective=mmgan,"], "empty value"),
        (["model.objective=mmgan,mmgan"], "lists a value twice"),
        (["train..steps=1"], "must be dotted names"),
    ],
)
def test_bad_grids(items, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        sweep_mod.parse_grid(items)


def test_values_that_name_the_same_folder_are_refused():
    with pytest.raises(ConfigError, match="share the folder name"):
        sweep_mod.make_cells([sweep_mod.Axis("data.path", ("a b.npy", "a/b.npy"))])


def test_seeds():
    assert sweep_mod.parse_seeds() == [0, 1, 2]
    assert sweep_mod.parse_seeds(2) == [0, 1]
    assert sweep_mod.parse_seeds(seed_list="3, 7,11") == [3, 7, 11]
    for bad in ({"seeds": 0}, {"seed_list": "1,x"}, {"seed_list": "1,1"}, {"seed_list": "-1"}, {"seed_list": ""}):
        with pytest.raises(ConfigError):
            sweep_mod.parse_seeds(**bad)


# ----------------------------------------------------------------------------------------- aggregation


def test_mean_and_standard_error():
    mean, se, n = sweep_mod.mean_se([1.0, 2.0, 3.0, 4.0])
    assert (mean, n) == (2.5, 4)
    assert se == pytest.approx(math.sqrt(((1.5**2 + 0.5**2) * 2 / 3) / 4))  # std ddof 1 = 1.29, / sqrt(4)
    assert se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    mean, se, n = sweep_mod.mean_se([0.7])
    assert mean == 0.7 and math.isnan(se) and n == 1
    assert sweep_mod.mean_se([2.0, None, float("nan"), 4.0])[::2] == (3.0, 2)  # missing values are left out
    assert sweep_mod.mean_se([])[2] == 0
    assert sweep_summary._fmt(0.123456, 0.0123, 2) == "0.1235 ± 0.012"
    assert sweep_summary._fmt(0.7, math.nan, 1) == "0.7 ± –"
    assert sweep_summary._fmt(math.nan, math.nan, 0) == "–"


def test_metric_values_and_summary_columns():
    record = {"step": 20, "ema": False, "modes": 8.0, "fid": 3.0, "fid_low": 2.5, "fid_high": 3.5, "fid_n": 1000,
              "js": None, "floor": {"modes": 8.0}, "note": "x"}
    values = sweep_mod.metric_values(record)
    assert list(values) == ["modes", "fid", "fid_low", "fid_high", "fid_n", "js"] and math.isnan(values["js"])
    assert sweep_mod.summary_metrics(list(values)) == ["modes", "fid", "js"]


# ------------------------------------------------------------------------------------------ processes


def test_a_failing_command_does_not_stop_the_others(tmp_path):
    tasks = [sweep_mod.Task(python("print('boom'); raise SystemExit(3)"), tmp_path / "a.log"),
             sweep_mod.Task(python("print('fine')"), tmp_path / "b.log"),
             sweep_mod.Task(python("print('also fine')"), tmp_path / "c.log")]
    ended = []
    sweep_mod.run_commands(tasks, jobs=2, on_done=ended.append, poll_s=0.02)
    assert [t.exit_code for t in tasks] == [3, 0, 0] and len(ended) == 3
    assert "boom" in sweep_mod.log_tail(tmp_path / "a.log") and "fine" in (tmp_path / "b.log").read_text()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_ctrl_c_stops_the_children_and_starts_nothing_more(tmp_path):
    # the child interrupts the sweep itself, so the signal cannot arrive before the sweep's handler is set
    child = python("import os, signal, time; os.kill(os.getppid(), signal.SIGINT); time.sleep(60)")
    tasks = [sweep_mod.Task(child, tmp_path / "a.log"), sweep_mod.Task(python("pass"), tmp_path / "b.log")]
    with pytest.raises(TrainingInterrupted, match="SIGINT: stopped 1 running runs .* and 1 not started") as info:
        sweep_mod.run_commands(tasks, jobs=1, grace_s=10, poll_s=0.02)
    assert info.value.exit_code == 130
    assert tasks[0].exit_code in sweep_mod.STOPPED_CODES and tasks[0].wall_s < 30
    assert tasks[1].exit_code is None and not (tmp_path / "b.log").exists()


# -------------------------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    "argv,message",
    [
        (["nopreset", "train.steps=1,2"], "unknown preset 'nopreset'"),
        (["ring8", "train.stepz=1,2"], "unknown key 'train.stepz'"),
        (["ring8", "model.objective=nsgan,nope"], "model.objective: unknown value 'nope'"),
        (["ring8", "train.steps=10", "train.steps=20"], "train.steps is given twice"),
        (["ring8", "--seeds", "0"], "--seeds must be >= 1"),
        (["ring8", "--jobs", "-1"], "--jobs must be >= 1"),
    ],
)
def test_bad_input_exit_2_one_line_nothing_written(capsys, tmp_path, argv, message):
    code, _, err = run(capsys, "sweep", *argv, "-o", str(tmp_path / "sw"))
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("gankit: error: ")
    assert not (tmp_path / "sw").exists()


def test_a_failed_run_is_reported_and_the_sweep_exits_1(capsys, tmp_path, monkeypatch):
    # the real commands are tested end to end below; here one cell's process fails at once
    def command(self, r):
        return python("print('loss is nan'); raise SystemExit(1)" if r.cell.slug == "objective=mmgan" else "pass")

    monkeypatch.setattr(sweep_mod.Sweep, "command", command)
    code, out, err = run(capsys, "sweep", "ring8", "model.objective=mmgan,nsgan", "--seeds", "1",
                         "-o", str(tmp_path / "sw"))
    assert code == 1 and "1 of 2 runs failed: objective=mmgan/seed-0" in err
    assert "objective=mmgan/seed-0 failed (exit 1)" in err and "loss is nan" in err  # the end of its log
    rows = {r["run"]: r for r in read_csv(tmp_path / "sw" / "runs.csv")}
    assert rows["objective=mmgan/seed-0"]["status"] == "failed" and rows["objective=mmgan/seed-0"]["exit"] == "1"
    assert rows["objective=nsgan/seed-0"]["exit"] == "0"  # it ran (and, being a stand-in, trained nothing)
    assert "| mmgan | 0 |" in out  # no finished run: n = 0


@pytest.mark.slow  # five `gankit train` processes (~5 CPU-s each, mostly imports)
def test_sweep_end_to_end_then_skip_then_resume(capsys, tmp_path):
    out = tmp_path / "sw"
    argv = ["sweep", "ring8", "model.objective=mmgan,nsgan", *TINY, "eval.metrics=[modes,set-distance]",
            "--seeds", "2", "-j", "2", "-o", str(out)]
    code, stdout, err = run(capsys, *argv)
    assert code == 0, err
    assert f"summary: {out / 'summary.md'}" in stdout
    for name in ("summary.md", "summary.csv", "summary.json", "summary.png", "runs.csv"):
        assert (out / name).is_file(), name
    runs = read_csv(out / "runs.csv")
    assert [(r["model.objective"], r["seed"], r["status"], r["action"]) for r in runs] == [
        ("mmgan", "0", "done", "trained"), ("mmgan", "1", "done", "trained"),
        ("nsgan", "0", "done", "trained"), ("nsgan", "1", "done", "trained")]
    cfg = (out / "objective=nsgan" / "seed-1" / "config.yaml").read_text()
    assert "seed: 1" in cfg and "objective: nsgan" in cfg and "threads: 1" in cfg
    assert "metrics (step 20)" in (out / "objective=nsgan" / "seed-1.log").read_text()

    # the summary's numbers are the runs' final metrics.jsonl values, averaged over seeds
    summary = {(r["model.objective"], r["metric"]): r for r in read_csv(out / "summary.csv")}
    table = stdout.splitlines()
    for objective in ("mmgan", "nsgan"):
        finals = [json.loads((out / f"objective={objective}" / f"seed-{s}" / "metrics.jsonl").read_text()
                             .splitlines()[-1]) for s in (0, 1)]
        row = next(line for line in table if line.startswith(f"| {objective} | 2 |"))
        for metric in ("modes", "hq", "nearest_point", "chamfer"):
            values = [f[metric] for f in finals]
            s = summary[(objective, metric)]
            assert [float(s["seed_0"]), float(s["seed_1"])] == values
            assert float(s["mean"]) == pytest.approx(np.mean(values), rel=1e-12) and s["n"] == "2"
            se = np.std(values, ddof=1) / np.sqrt(2)
            assert float(s["se"]) == pytest.approx(se, rel=1e-9, abs=1e-15)
            assert f"{np.mean(values):.4g} ± {se:.2g}" in row
    data = json.loads((out / "summary.json").read_text())
    assert data["seeds"] == [0, 1] and data["axes"] == {"model.objective": ["mmgan", "nsgan"]} and data["done"] == 4

    # a second call finds every run done and starts nothing
    code, stdout2, _ = run(capsys, *argv)
    assert code == 0 and stdout2 == stdout
    assert {r["action"] for r in read_csv(out / "runs.csv")} == {"skipped"}

    # a run that lost its export and final metrics line is partial: only it is continued (--resume)
    victim = out / "objective=nsgan" / "seed-1"
    (victim / "generator.safetensors").unlink()
    lines = (victim / "metrics.jsonl").read_text().splitlines(keepends=True)
    (victim / "metrics.jsonl").write_text("".join(lines[:-1]))
    code, plan, _ = run(capsys, *argv, "--dry-run")
    assert code == 0 and "(3 done, 1 partial, 0 new)" in plan and "partial  objective=nsgan/seed-1" in plan
    code, stdout3, err = run(capsys, *argv)
    assert code == 0, err
    actions = {r["run"]: (r["status"], r["action"]) for r in read_csv(out / "runs.csv")}
    assert actions.pop("objective=nsgan/seed-1") == ("done", "resumed")
    assert set(actions.values()) == {("done", "skipped")}
    assert "--resume" in (victim.parent / "seed-1.log").read_text()
    assert stdout3 == stdout  # the same checkpoint, evaluated with the same private RNG: the same numbers
