"""``gankit sweep``: one preset over a grid of overrides x seeds, each run in its own process,
resumable, summarised as mean ± standard error over seeds.

    gankit sweep ring8 model.objective=mmgan,nsgan reg.instance_noise=0,0.1 --seeds 3

**The grid.** Each ``KEY=V1,V2,...`` argument is an axis; the cells are the Cartesian product of the axes
(in the order given) and every cell is trained once per seed. Commas split values only outside brackets,
so a YAML list is one value: ``g_optim.betas=[0.5,0.9],[0.0,0.99]`` is two values. An argument with one
value is a fixed override of every run. A value cannot itself contain a comma outside brackets.

**The folder** (``-o DIR``, default ``runs/sweep-<preset>``)::

    DIR/<cell>/seed-<S>/        an ordinary run directory (config.yaml, metrics.jsonl, generator, ...)
    DIR/<cell>/seed-<S>.log     the run's stdout and stderr, appended across calls
    DIR/runs.csv                every run: status, what this call did, exit code, wall seconds, final metrics
    DIR/summary.md .csv .json   per cell and metric: mean ± standard error over seeds, n, the seeds' values
    DIR/summary.png             a panel per metric: a bar per cell, standard-error bars, seeds as dots

``<cell>`` names the varied values, e.g. ``objective=mmgan,instance_noise=0.1`` (``base`` without axes).

**Runs** are ``python -m gankit train`` processes (one torch thread each by default), at most ``jobs`` at a
time, so a crash, a NaN loss or a hung run never touches the others. A run is

- *done* when it exported its generator and its last metrics line is at ``train.steps``: skipped;
- *partial* when it has a checkpoint but is not done (stopped, crashed, ``train.time_limit``): continued
  with ``gankit train --resume``; raising a fixed ``train.steps`` or changing ``eval.*`` on a later call
  continues finished runs the same way;
- *new* otherwise: trained from scratch (leftovers without a checkpoint are deleted first).

Changing what a checkpointed run trains (say ``generator.width``) is refused before anything starts: use
another folder. Ctrl-C or SIGTERM stops the children with SIGTERM (they checkpoint) and the same command
continues. Standard error is the sample standard deviation over seeds (ddof 1) / sqrt(n): the uncertainty
of the mean, not the spread of the runs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from gankit import config as config_mod
from gankit.errors import ConfigError, TrainingInterrupted
from gankit.launch import Signals, check_launcher, make_pool, open_log, run_remote

# The grid and the summaries live in modules of their own; every name stays importable from here.
from gankit.sweep_grid import (
    RESERVED,
    Axis,
    Cell,
    Run,
    Sweep,
    _under,
    make_cells,
    parse_grid,
    parse_seeds,
    short_names,
    split_values,
)
from gankit.sweep_summary import (
    DASH,
    NOT_METRICS,
    Summary,
    _previous_wall,
    aggregate,
    final_metrics,
    markdown_table,
    mean_se,
    metric_values,
    summary_metrics,
    write_runs,
    write_summary,
)
from gankit.train.rundir import RunDir

__all__ = [
    "DASH", "LOCATION", "NOT_METRICS", "REFINISH", "RESERVED", "STOPPED_CODES", "TAIL_LINES", "Axis", "Cell",
    "Result", "Run", "Summary", "Sweep", "Task", "aggregate", "execute", "final_metrics", "log_tail", "make_cells",
    "markdown_table", "mean_se", "metric_values", "parse_grid", "parse_seeds", "plan", "run", "run_commands",
    "run_status", "short_names", "split_values", "summary_metrics", "write_runs", "write_summary",
]

log = logging.getLogger("gankit")

# Where a run lives: it is found by its folder, so a moved sweep folder is no change.
LOCATION = ("run.name", "run.out_dir")
# Changed on a later call, these make a finished run "partial" again: they change its final metrics.
REFINISH = ("train.steps", "eval")
# Exit codes of a run stopped by a signal (the trainer's 128 + signum after checkpointing, or killed).
STOPPED_CODES = (130, 143, -signal.SIGINT, -signal.SIGTERM, -getattr(signal, "SIGKILL", 9))  # no SIGKILL on Windows
TAIL_LINES = 15


# ------------------------------------------------------------------------------------------------ plan


def _saved_config(rd: RunDir) -> dict[str, Any]:
    if rd.config.is_file():
        return config_mod.to_dict(config_mod.load(rd.config))
    from gankit.train.checkpoint import load_checkpoint

    return config_mod.to_dict(config_mod.from_dict(load_checkpoint(rd.checkpoint)["config"]))


def run_status(run: Run) -> str:
    """done, partial or new (see the module docstring).

    Raises:
        ConfigError: the folder holds a checkpoint trained with other values of keys a resume cannot change.
    """
    rd = RunDir(run.root)
    if not rd.checkpoint.is_file():
        return "new"
    saved = _saved_config(rd)
    changed = [k for k in config_mod.changed_keys(saved, config_mod.to_dict(run.cfg)) if not _under(k, LOCATION)]
    fixed = [k for k in changed if not _under(k, config_mod.RESUMABLE)]
    if fixed:
        raise ConfigError(f"'{run.root}' was trained with other values of {', '.join(fixed)}; "
                          "give the sweep another -o folder, or delete that run")
    if saved["train"]["steps"] > run.cfg.train.steps:
        raise ConfigError(f"'{run.root}' was set to train for {saved['train']['steps']} steps, more than "
                          f"train.steps={run.cfg.train.steps}; give the sweep another -o folder")
    final = final_metrics(run.root)
    finished = rd.generator.is_file() and final is not None and final.get("step") == run.cfg.train.steps
    return "done" if finished and not any(_under(k, REFINISH) for k in changed) else "partial"


def _normal(out: Path) -> Path:
    out = Path(os.path.normpath(out))
    return out.resolve() if out.name in ("", ".", "..") else out


def plan(preset: str | None, config_file: str | None, items: Sequence[str], seeds: Sequence[int],
         out: str | Path | None = None, threads: int = 1) -> Sweep:
    """Parse the grid, resolve and validate every run's config, and find each run's status.

    Nothing is written: a bad key or value in any run raises before anything starts.

    Args:
        preset: preset name (None with no ``config_file``: ring8, as ``gankit train``).
        config_file: a YAML config instead of a preset.
        items: ``KEY=V1,V2`` axes and ``KEY=V`` fixed overrides.
        seeds: the seeds every cell is trained with.
        out: the sweep's folder (default ``runs/sweep-<preset or file stem>``).
        threads: torch threads per run (also OMP/MKL); 0 keeps the config's ``run.threads``.

    Raises:
        ConfigError: bad grid, preset, key or value; or a folder trained with another config.
    """
    if threads < 0:
        raise ConfigError(f"--threads must be >= 0 (0: the config's run.threads), got {threads}")
    if not seeds:
        raise ConfigError("a sweep needs at least one seed")
    fixed, axes = parse_grid(items)
    base = config_mod.resolve(preset, config_file, fixed)
    title = Path(config_file).stem if config_file else base.preset
    source = ["-c", str(config_file)] if config_file else [base.preset]
    root = _normal(Path(out) if out else Path("runs") / f"sweep-{title}")
    sweep = Sweep(source, title, root, fixed, axes, list(seeds), threads, make_cells(axes))
    own = [f"run.out_dir={root.parent}", "train.progress=false", *([f"run.threads={threads}"] if threads else [])]
    for cell in sweep.cells:
        for seed in seeds:
            overrides = [*fixed, *cell.overrides, *own, f"run.seed={seed}",
                         f"run.name={root.name}/{cell.slug}/seed-{seed}"]
            cfg = config_mod.resolve(preset, config_file, overrides)
            sweep.runs.append(Run(cell, seed, root / cell.slug / f"seed-{seed}", overrides, cfg))
    for run in sweep.runs:
        run.status = run_status(run)
    return sweep


# ------------------------------------------------------------------------------------------- execution


@dataclass
class Task:
    """A command whose stdout and stderr are appended to ``log``; ``exit_code`` and ``wall_s`` once run."""

    command: list[str]
    log: Path
    exit_code: int | None = None
    wall_s: float = 0.0


def _stop_all(running: dict[subprocess.Popen, tuple[Task, float, IO[str]]], grace_s: float) -> None:
    """SIGTERM every child (a trainer checkpoints and exits 143), wait ``grace_s``, then kill the rest."""
    for p in running:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace_s
    try:
        for p in running:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        for p in running:
            if p.poll() is None:
                p.kill()
    for p, (task, start, f) in running.items():
        task.exit_code = p.wait()
        task.wall_s = time.monotonic() - start
        f.close()


def run_commands(tasks: Sequence[Task], jobs: int, env: dict[str, str] | None = None, grace_s: float = 60.0,
                 on_done: Callable[[Task], None] | None = None, poll_s: float = 0.1) -> None:
    """Run every task's command in its own process, at most ``jobs`` at once, in order.

    A failing command never stops the others. ``on_done(task)`` is called as each one ends.

    Raises:
        TrainingInterrupted: SIGINT or SIGTERM; the running children were sent SIGTERM and waited for (up
            to ``grace_s``), the rest were not started.
    """
    pending = list(tasks)
    running: dict[subprocess.Popen, tuple[Task, float, IO[str]]] = {}
    with Signals() as signals:  # Ctrl-C again: KeyboardInterrupt, which kills the children at once
        try:
            while (pending or running) and signals.signum is None:
                while pending and len(running) < jobs:
                    task = pending.pop(0)
                    f = open_log(task.command, task.log)
                    p = subprocess.Popen(task.command, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                         env=env)
                    running[p] = (task, time.monotonic(), f)
                time.sleep(poll_s)
                for p in [p for p in running if p.poll() is not None]:
                    task, start, f = running.pop(p)
                    task.exit_code, task.wall_s = p.returncode, time.monotonic() - start
                    f.close()
                    if on_done is not None:
                        on_done(task)
        finally:
            stopped = list(running.values())
            if running:
                _stop_all(running, grace_s)
    if signals.signum is not None:
        name = signal.Signals(signals.signum).name
        raise TrainingInterrupted(f"{name}: stopped {len(stopped)} running runs (they checkpoint) and "
                                  f"{len(pending)} not started; run the same command again to continue",
                                  signals.signum)


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])


def execute(sweep: Sweep, jobs: int = 0, grace_s: float = 60.0, launcher: str = "local",
            address: str | None = None, options: Sequence[str] = ()) -> None:
    """Train every run that is not done; update each run's status, action, exit code and wall time.

    Args:
        jobs: runs at once (local: 0 = the cores divided by the threads per run, at most the runs to do;
            ray, slurm: 0 = all, the cluster's scheduler decides).
        launcher: ``local`` processes, ``ray`` tasks or ``slurm`` jobs (:mod:`gankit.launch`); ``address``
            (ray) and ``options`` (slurm: submitit's KEY=VALUE parameters) configure the last two.
    """
    todo = [r for r in sweep.runs if r.status != "done"]
    for r in sweep.runs:
        r.action = "skipped" if r.status == "done" else ""
    if not todo:
        log.info("all %d runs of %s are done", len(sweep.runs), sweep.out)
        return
    if launcher == "local":
        jobs = jobs or max(1, (os.cpu_count() or 1) // max(1, sweep.threads))
        jobs = min(jobs, len(todo))
    env = {"PYTHONUNBUFFERED": "1"}  # added to the environment of each run's process
    package_root = Path(__file__).resolve().parent.parent
    if not {"site-packages", "dist-packages"} & set(package_root.parts):
        # a source checkout: the children import this gankit, not another installed copy
        env["PYTHONPATH"] = os.pathsep.join([str(package_root), *filter(None, [os.environ.get("PYTHONPATH")])])
    if sweep.threads:
        env.update(OMP_NUM_THREADS=str(sweep.threads), MKL_NUM_THREADS=str(sweep.threads))
    pool = None if launcher == "local" else make_pool(launcher, out=sweep.out, threads=sweep.threads,
                                                       address=address, options=options)
    counts = {s: sum(r.status == s for r in sweep.runs) for s in ("done", "partial", "new")}
    log.info("sweep %s: %d runs (%d done, %d partial, %d new); %s at a time (%s), logs in <cell>/seed-<S>.log",
             sweep.out, len(sweep.runs), counts["done"], counts["partial"], counts["new"], jobs or "all", launcher)
    new = [RunDir(r.root) for r in todo if r.status == "new" and r.root.exists()]
    for rd in new:  # a run that died before its first checkpoint: nothing to continue
        rd.check_removable("a new sweep run")  # never a folder gankit did not make; checked before any is deleted
    for rd in new:
        rd.remove("a new sweep run")
    by_task = [(Task(sweep.command(r), r.log), r) for r in todo]
    run_of = {id(t): r for t, r in by_task}
    bar = tqdm(total=len(sweep.runs), initial=len(sweep.runs) - len(todo), desc=sweep.out.name, unit="run",
               dynamic_ncols=True, disable=None)
    failed = 0

    def done(task: Task) -> None:
        nonlocal failed
        run = run_of[id(task)]
        _settle(run, task)
        if run.status == "failed":
            failed += 1
            log.error("%s failed (exit %s) after %.0f s; the end of %s:\n%s", run.name, task.exit_code,
                      task.wall_s, run.log, log_tail(run.log))
        bar.update(1)
        bar.set_postfix(failed=failed, refresh=False)

    try:
        with bar:
            if pool is None:
                run_commands([t for t, _ in by_task], jobs, dict(os.environ, **env), grace_s, on_done=done)
            else:
                run_remote(pool, [t for t, _ in by_task], jobs, env, grace_s, on_done=done)
    finally:
        for task, run in by_task:
            if task.exit_code is not None and not run.action:
                _settle(run, task)  # stopped by a signal


def _settle(run: Run, task: Task) -> None:
    """A run's status after its process ended."""
    run.action = "resumed" if run.status == "partial" else "trained"
    run.exit_code = task.exit_code
    run.wall_s += task.wall_s
    if task.exit_code == 0:
        run.status = run_status(run)  # partial when train.time_limit ended it early
    elif task.exit_code in STOPPED_CODES:
        run.status = "stopped"
    else:
        run.status = "failed"


@dataclass
class Result:
    sweep: Sweep
    summary: Summary
    paths: dict[str, Path]
    table: str

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.sweep.runs if r.status == "failed"]

    @property
    def unfinished(self) -> list[Run]:
        """Runs that ended cleanly before train.steps (train.time_limit): the same call continues them."""
        return [r for r in self.sweep.runs if r.status == "partial"]


def run(sweep: Sweep, jobs: int = 0, grace_s: float = 60.0, launcher: str = "local", address: str | None = None,
        options: Sequence[str] = ()) -> Result:
    """Execute the runs that are not done (as ``launcher`` says: see :func:`execute`), then write runs.csv
    and the summary files.

    Raises:
        TrainingInterrupted: Ctrl-C or SIGTERM (runs.csv is written; the same call continues).
    """
    if jobs < 0:
        raise ConfigError(f"--jobs must be >= 1 (0: as many as the cores allow), got {jobs}")
    check_launcher(launcher, address, options)
    previous = _previous_wall(sweep.out)
    for r in sweep.runs:
        r.wall_s = previous.get(r.name, 0.0)
    try:
        execute(sweep, jobs, grace_s, launcher, address, options)
    finally:
        write_runs(sweep)
    summary = aggregate(sweep)
    paths = write_summary(sweep, summary)
    paths["runs"] = sweep.out / "runs.csv"
    return Result(sweep, summary, paths, markdown_table(summary))
