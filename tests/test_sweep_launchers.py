"""gankit sweep --launcher ray|slurm: the same runs, folders, resume rule and summaries as local processes.

Ray runs on a real local instance (2 CPUs); Slurm through submitit's local executor (no Slurm here). Both
are optional extras: their tests are skipped, saying so, where the package is missing (CI installs them).
"""

from __future__ import annotations

import json
import sys

import pytest

from conftest import TINY
from extras import require
from gankit import api, launch
from gankit import config as config_mod
from gankit.sweep import Task
from sweep_helpers import python, read_csv, run

SWEEP = ["sweep", "ring8", *TINY, "eval.metrics=[modes]", "--seeds", "2"]


def check_sweep(capsys, out, launcher_args):
    """Train a 1-cell x 2-seed sweep through a launcher; then the same call skips both runs; the numbers
    are those of the same config trained in this process."""
    code, stdout, err = run(capsys, *SWEEP, "-o", str(out), *launcher_args)
    assert code == 0, err
    assert [(r["seed"], r["status"], r["action"]) for r in read_csv(out / "runs.csv")] == [
        ("0", "done", "trained"), ("1", "done", "trained")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == 2 and summary["seeds"] == [0, 1]
    code, again, _ = run(capsys, *SWEEP, "-o", str(out), *launcher_args)
    assert code == 0 and again == stdout and {r["action"] for r in read_csv(out / "runs.csv")} == {"skipped"}
    # the same run trained here, from its saved config, gives the same final metrics
    cfg = config_mod.load(out / "base" / "seed-1" / "config.yaml")
    cfg.run.out_dir, cfg.run.name = str(out.parent / "here"), "seed-1"
    here = api.train(cfg)
    final = lambda root: json.loads((root / "metrics.jsonl").read_text().splitlines()[-1])  # noqa: E731
    assert final(out / "base" / "seed-1") == final(here.root)


@pytest.mark.parametrize("argv,message,code", [
    (["--address", "ray://x:1"], "--address is the Ray cluster's: use it with --launcher ray", 2),
    (["--launcher", "slurm", "--slurm-option", "partition"], "--slurm-option 'partition' is not KEY=VALUE", 2),
    (["--slurm-option", "a=b"], "--slurm-option sets submitit's parameters", 2),
])
def test_options_of_another_launcher_are_one_line(capsys, tmp_path, argv, message, code):
    got, _, err = run(capsys, *SWEEP, "-o", str(tmp_path / "sw"), *argv)
    assert got == code and message in err and err.count("\n") == 1
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("launcher,module", [("ray", "ray"), ("slurm", "submitit")])
def test_a_missing_extra_is_one_line_and_writes_nothing(capsys, tmp_path, monkeypatch, launcher, module):
    monkeypatch.setitem(sys.modules, module, None)
    code, _, err = run(capsys, *SWEEP, "-o", str(tmp_path / "sw"), "--launcher", launcher)
    assert code == 1 and err.startswith(f"gankit: error: --launcher {launcher} needs the {module} package: "
                                        f"pip install 'gankit[{launcher}]'") and err.count("\n") == 1
    assert not (tmp_path / "sw").exists()


# ------------------------------------------------------------------------------------------------ Ray


@pytest.fixture(scope="module")
def ray_local():
    ray = require("ray", "gankit[ray]")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_tasks_report_exit_codes_and_write_logs(ray_local, tmp_path):
    pool = launch.RayPool(address=None, cpus=1)  # uses the running instance
    tasks = [Task(python("import os; print('boom', os.environ['GANKIT_T']); raise SystemExit(3)"), tmp_path / "a.log"),
             Task(python("print('fine')"), tmp_path / "b.log")]
    ended = []
    launch.run_remote(pool, tasks, jobs=1, env={"GANKIT_T": "seen"}, on_done=ended.append, poll_s=0.05)
    assert [t.exit_code for t in tasks] == [3, 0] and ended == tasks
    assert "boom seen" in (tmp_path / "a.log").read_text() and "fine" in (tmp_path / "b.log").read_text()


@pytest.mark.slow  # two `gankit train` processes on Ray workers
def test_ray_sweep_same_folders_resume_rule_and_numbers(ray_local, capsys, tmp_path):
    check_sweep(capsys, tmp_path / "sw", ["--launcher", "ray"])


# ---------------------------------------------------------------------------------------------- Slurm


@pytest.fixture
def submitit_local():
    return require("submitit", "gankit[slurm]")


def test_submitit_jobs_report_exit_codes_and_refuse_unknown_options(submitit_local, tmp_path):
    pool = launch.SlurmPool(tmp_path / "submitit", cpus=1, options={"cluster": "local", "timeout_min": "5"})
    tasks = [Task(python("raise SystemExit(4)"), tmp_path / "a.log"), Task(python("print('fine')"), tmp_path / "b.log")]
    launch.run_remote(pool, tasks, jobs=0, env={}, poll_s=0.05)
    assert [t.exit_code for t in tasks] == [4, 0] and "fine" in (tmp_path / "b.log").read_text()
    with pytest.raises(launch.ConfigError, match="--slurm-option: .*'no_such_option'"):
        launch.SlurmPool(tmp_path / "s2", cpus=1, options={"cluster": "local", "no_such_option": "1"})


@pytest.mark.slow  # two `gankit train` processes as submitit jobs
def test_slurm_sweep_through_submitit_same_folders_resume_rule_and_numbers(submitit_local, capsys, tmp_path):
    check_sweep(capsys, tmp_path / "sw", ["--launcher", "slurm", "--slurm-option", "cluster=local"])
    assert any((tmp_path / "sw" / "submitit").iterdir())  # submitit's own job files


CHILD = ("import os, signal, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
         "os.kill(int(os.environ['DRIVER']), signal.SIGINT); time.sleep(60)")


def _gone(pid_file, timeout_s=30.0):
    """Whether the process whose pid is in ``pid_file`` ended within ``timeout_s``."""
    import os
    import time

    deadline = time.monotonic() + timeout_s
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _interrupted(pool, tmp_path):
    import os
    import threading

    from gankit.errors import TrainingInterrupted

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals need the main thread")
    tasks = [Task([sys.executable, "-c", CHILD, str(tmp_path / "pid")], tmp_path / "a.log"),
             Task(python("pass"), tmp_path / "b.log")]
    with pytest.raises(TrainingInterrupted, match="SIGINT: cancelled 1 submitted runs .* and 1 not submitted") as info:
        launch.run_remote(pool, tasks, jobs=1, env={"DRIVER": str(os.getpid())}, poll_s=0.05)
    assert info.value.exit_code == 130
    assert _gone(tmp_path / "pid")  # the worker passed the cancel on to its process
    assert not (tmp_path / "b.log").exists()


def test_ctrl_c_cancels_ray_tasks_and_their_processes(ray_local, tmp_path):
    _interrupted(launch.RayPool(address=None, cpus=1), tmp_path)


def test_ctrl_c_cancels_submitit_jobs_and_their_processes(submitit_local, tmp_path):
    _interrupted(launch.SlurmPool(tmp_path / "submitit", cpus=1, options={"cluster": "local"}), tmp_path)


class _LossyPool:
    """A pool whose first cancel of each task is lost (as Ray can lose one that reaches a task as it starts);
    the second ends it."""

    def __init__(self) -> None:
        self.cancels: dict[int, int] = {}

    def cancel(self, handle):
        self.cancels[handle] = self.cancels.get(handle, 0) + 1

    def result(self, handle):
        if self.cancels.get(handle, 0) >= 2:
            raise RuntimeError("cancelled")  # what ray.get / submitit's result raise for a cancelled task
        return None


def test_a_lost_cancel_is_sent_again_and_ctrl_c_waits_for_the_tasks_to_end():
    import time

    pool = _LossyPool()
    t0 = time.monotonic()
    launch._cancel_and_wait(pool, [1, 2], timeout_s=20.0, poll_s=0.01)
    assert pool.cancels == {1: 2, 2: 2} and time.monotonic() - t0 < 5.0  # re-sent after 2 s, then over
    stuck = _LossyPool()
    stuck.result = lambda handle: None  # never ends: the wait gives up at its timeout
    t0 = time.monotonic()
    launch._cancel_and_wait(stuck, [1], timeout_s=0.3, poll_s=0.01)
    assert 0.3 <= time.monotonic() - t0 < 2.0 and stuck.cancels == {1: 1}
