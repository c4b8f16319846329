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

import csv
import hashlib
import io
import itertools
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from gankit import config as config_mod
from gankit.errors import ConfigError, TrainingInterrupted
from gankit.fileio import atomic_write_text
from gankit.launch import Signals, check_launcher, make_pool, open_log, run_remote
from gankit.train.rundir import RunDir
from gankit.train.stats import read_jsonl

log = logging.getLogger("gankit")

# Keys the sweep sets itself, with the option that sets them.
RESERVED = {"run.seed": "--seeds or --seed-list", "run.name": "-o/--out", "run.out_dir": "-o/--out",
            "run.threads": "--threads"}
# Where a run lives: it is found by its folder, so a moved sweep folder is no change.
LOCATION = ("run.name", "run.out_dir")
# Changed on a later call, these make a finished run "partial" again: they change its final metrics.
REFINISH = ("train.steps", "eval")
NOT_METRICS = ("step", "ema", "samples")
# Exit codes of a run stopped by a signal (the trainer's 128 + signum after checkpointing, or killed).
STOPPED_CODES = (130, 143, -signal.SIGINT, -signal.SIGTERM, -getattr(signal, "SIGKILL", 9))  # no SIGKILL on Windows
DASH = "–"  # a missing standard error (one seed) or value
TAIL_LINES = 15


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


# ------------------------------------------------------------------------------------------------ grid


@dataclass(frozen=True)
class Axis:
    """One varied key and its values, as written on the command line."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a value per axis, and the folder name that spells them."""

    params: tuple[tuple[str, str], ...]
    slug: str

    @property
    def overrides(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.params]


def split_values(raw: str) -> list[str]:
    """``"a,b,[1,2]"`` -> ``["a", "b", "[1,2]"]``: commas split values except inside brackets or braces."""
    values, depth, start = [], 0, 0
    for i, ch in enumerate(raw):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth < 0:
                break
        elif ch == "," and depth == 0:
            values.append(raw[start:i])
            start = i + 1
    if depth != 0:
        raise ConfigError(f"unbalanced brackets in '{raw}'; write a list value as [a,b]")
    values.append(raw[start:])
    return [v.strip() for v in values]


def parse_grid(items: Sequence[str]) -> tuple[list[str], list[Axis]]:
    """Split ``KEY=V1,V2`` arguments into fixed overrides (one value) and axes (several values).

    Raises:
        ConfigError: not ``key=value``, a key given twice, a key the sweep sets itself, an empty or
            repeated value.
    """
    fixed: list[str] = []
    axes: list[Axis] = []
    seen: set[str] = set()
    for item in items:
        if "=" not in item:
            raise ConfigError(f"'{item}' is not an override; write section.key=value or section.key=v1,v2 "
                              "(e.g. model.objective=mmgan,nsgan)")
        key, raw = item.split("=", 1)
        key = key.strip()
        config_mod.parse_override(f"{key}=")  # the key's syntax
        if key in RESERVED:
            raise ConfigError(f"{key} is set by the sweep; use {RESERVED[key]}")
        if key in seen:
            raise ConfigError(f"{key} is given twice; list all its values in one argument ({key}=v1,v2)")
        seen.add(key)
        values = split_values(raw)
        if len(values) == 1:
            fixed.append(f"{key}={values[0]}")
            continue
        if "" in values:
            raise ConfigError(f"{key} has an empty value in '{raw}'")
        if len(set(values)) != len(values):
            raise ConfigError(f"{key} lists a value twice in '{raw}'")
        axes.append(Axis(key, tuple(values)))
    return fixed, axes


def short_names(keys: Sequence[str]) -> dict[str, str]:
    """Each key's last part (``model.objective`` -> ``objective``), or the whole key where two would clash."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def _slug_value(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", value).strip("-") or "empty"


def make_cells(axes: Sequence[Axis]) -> list[Cell]:
    """The Cartesian product of the axes, first axis slowest; without axes, one cell named 'base'."""
    short = short_names([a.key for a in axes])
    cells = []
    for combo in itertools.product(*(a.values for a in axes)):
        params = tuple((a.key, v) for a, v in zip(axes, combo))
        slug = ",".join(f"{short[k]}={_slug_value(v)}" for k, v in params) or "base"
        if len(slug) > 100:  # folder names have a length limit
            slug = slug[:80] + "-" + hashlib.sha1(slug.encode()).hexdigest()[:8]
        cells.append(Cell(params, slug))
    slugs = [c.slug for c in cells]
    for cell in cells:
        if slugs.count(cell.slug) > 1:
            raise ConfigError(f"two cells share the folder name '{cell.slug}'; use values that differ in "
                              "letters, digits or . _ + -")
    return cells


def parse_seeds(seeds: int | None = None, seed_list: str | None = None) -> list[int]:
    """``--seeds N`` (0..N-1; default 3) or ``--seed-list 3,7,11``."""
    if seed_list is not None:
        try:
            out = [int(s) for s in seed_list.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--seed-list must be integers separated by commas, got '{seed_list}'") from None
        if not out or min(out) < 0:
            raise ConfigError(f"--seed-list must list seeds >= 0, got '{seed_list}'")
        if len(set(out)) != len(out):
            raise ConfigError(f"--seed-list repeats a seed: '{seed_list}'")
        return out
    n = 3 if seeds is None else seeds
    if n < 1:
        raise ConfigError(f"--seeds must be >= 1, got {n}")
    return list(range(n))


# ------------------------------------------------------------------------------------------------ plan


@dataclass
class Run:
    """One (cell, seed): its folder, its overrides for ``gankit train``, its resolved config and status.

    ``status`` is done / partial / new when planned, and after running done / partial / failed / stopped.
    ``action`` says what this call did: skipped, trained, resumed (empty: not started).
    """

    cell: Cell
    seed: int
    root: Path
    overrides: list[str]
    cfg: Any
    status: str = "new"
    action: str = ""
    exit_code: int | None = None
    wall_s: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.cell.slug}/seed-{self.seed}"

    @property
    def log(self) -> Path:
        return self.root.with_name(self.root.name + ".log")


@dataclass
class Sweep:
    """The planned sweep: what to train (``source``: a preset, or ``-c FILE``), where, and every run."""

    source: list[str]
    title: str
    out: Path
    fixed: list[str]
    axes: list[Axis]
    seeds: list[int]
    threads: int
    cells: list[Cell]
    runs: list[Run] = field(default_factory=list)

    def command(self, run: Run) -> list[str]:
        """The ``gankit train`` command line of a run: new, or ``--resume`` with the keys a resume may set."""
        train = [sys.executable, "-m", "gankit", "train"]
        if run.status == "partial":
            keep = [o for o in run.overrides if _under(o.split("=", 1)[0].strip(), config_mod.RESUMABLE)]
            return [*train, "--resume", str(run.root), *keep]
        return [*train, *self.source, *run.overrides]

    def describe(self) -> str:
        """The plan as text: one line per run with its status (``--dry-run``)."""
        counts = {s: sum(r.status == s for r in self.runs) for s in ("done", "partial", "new")}
        lines = [f"sweep {self.out}: {len(self.cells)} cells x {len(self.seeds)} seeds = {len(self.runs)} runs "
                 f"({counts['done']} done, {counts['partial']} partial, {counts['new']} new)"]
        if self.fixed:
            lines.append(f"fixed: {' '.join(self.fixed)}")
        width = max(len(r.name) for r in self.runs)
        lines += [f"  {r.status:<8} {r.name:<{width}}  {' '.join(r.cell.overrides + [f'run.seed={r.seed}'])}"
                  for r in self.runs]
        return "\n".join(lines)


def _saved_config(rd: RunDir) -> dict[str, Any]:
    if rd.config.is_file():
        return config_mod.to_dict(config_mod.load(rd.config))
    from gankit.train.checkpoint import load_checkpoint

    return config_mod.to_dict(config_mod.from_dict(load_checkpoint(rd.checkpoint)["config"]))


def final_metrics(root: Path) -> dict[str, Any] | None:
    """The last metrics line training wrote (not one of ``gankit eval``'s), or None."""
    records = [r for r in read_jsonl(RunDir(root).metrics) if "source" not in r]
    return records[-1] if records else None


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
            overrides = [*fixed, *cell.overrides, *own, f"run.seed={seed}", f"run.name={root.name}/{cell.slug}/seed-{seed}"]
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
                    p = subprocess.Popen(task.command, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=env)
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


# ----------------------------------------------------------------------------------------- aggregation


def mean_se(values: Sequence[float | None]) -> tuple[float, float, int]:
    """(mean, standard error, n) of the finite values; standard error = std (ddof 1) / sqrt(n), NaN for n < 2."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, 0
    mean = math.fsum(xs) / n
    if n < 2:
        return mean, math.nan, n
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    return mean, math.sqrt(var / n), n


def metric_values(record: dict[str, Any]) -> dict[str, float | None]:
    """The numeric metrics of a metrics.jsonl line (no step/ema, booleans, nested dicts; None kept as NaN)."""
    return {k: (math.nan if v is None else float(v)) for k, v in record.items()
            if k not in NOT_METRICS and (v is None or isinstance(v, (int, float)) and not isinstance(v, bool))}


def summary_metrics(names: Sequence[str]) -> list[str]:
    """The metric names worth a column: ``fid`` but not ``fid_low``/``fid_high``/``fid_n`` (their
    interval and count keys, :data:`gankit.metrics.keys.SUFFIXES`: kept in runs.csv, left out of the summary)."""
    from gankit.metrics.keys import SUFFIXES  # here, not at import: the metrics package imports torch

    return [k for k in names if not any(k.endswith(s) and k[: -len(s)] in names for s in SUFFIXES)]


@dataclass
class Summary:
    """Per cell, per metric: the seeds' values (runs not done are left out)."""

    keys: list[str]  # the varied keys (the table's first columns)
    cells: list[Cell]
    metrics: list[str]
    values: dict[str, dict[str, dict[int, float]]]  # cell slug -> metric -> seed -> value

    def stats(self, cell: Cell, metric: str) -> tuple[float, float, int]:
        return mean_se(list(self.values[cell.slug].get(metric, {}).values()))

    def labels(self) -> list[str]:
        short = short_names(self.keys)
        return [", ".join(f"{short[k]}={v}" for k, v in c.params) or c.slug for c in self.cells]


def aggregate(sweep: Sweep) -> Summary:
    values: dict[str, dict[str, dict[int, float]]] = {c.slug: {} for c in sweep.cells}
    names: list[str] = []
    for run in sweep.runs:
        if run.status != "done":
            continue
        for k, v in metric_values(final_metrics(run.root) or {}).items():
            values[run.cell.slug].setdefault(k, {})[run.seed] = v
            if k not in names:
                names.append(k)
    return Summary([a.key for a in sweep.axes], sweep.cells, summary_metrics(names), values)


def _fmt(mean: float, se: float, n: int) -> str:
    if n == 0:
        return DASH
    return f"{mean:.4g} ± {DASH if n < 2 else f'{se:.2g}'}"


def markdown_table(summary: Summary) -> str:
    """One row per cell: the varied values, n, then ``mean ± se`` per metric."""
    keys = summary.keys or ["cell"]
    header = [*keys, "n", *(f"{m} mean ± se" for m in summary.metrics)]
    rows = []
    for cell in summary.cells:
        params = [v for _, v in cell.params] or [cell.slug]
        stats = [summary.stats(cell, m) for m in summary.metrics]
        n = max((s[2] for s in stats), default=0)
        rows.append([*params, str(n), *(_fmt(*s) for s in stats)])
    lines = ["| " + " | ".join(r) + " |" for r in [header, *rows]]
    lines.insert(1, "|" + "|".join("---" for _ in header) + "|")
    return "\n".join(lines)


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None or not math.isfinite(v) else repr(float(v))


def _json_num(v: float) -> float | None:
    return v if math.isfinite(v) else None


def write_summary(sweep: Sweep, summary: Summary) -> dict[str, Path]:
    """summary.md, summary.csv, summary.json and summary.png in the sweep's folder; returns their paths."""
    out = sweep.out
    paths = {ext: out / f"summary.{ext}" for ext in ("md", "csv", "json", "png")}
    seeds = sweep.seeds
    done = sum(r.status == "done" for r in sweep.runs)
    intro = (f"# Sweep {out.name}\n\n{' '.join(sweep.source)}"
             + (f" with {' '.join(sweep.fixed)}" if sweep.fixed else "")
             + f"; seeds {', '.join(map(str, seeds))}; {done} of {len(sweep.runs)} runs done.\n"
             f"Each entry: mean ± standard error over seeds (std with ddof 1 / sqrt(n)); {DASH}: one run.\n\n")
    atomic_write_text(paths["md"], intro + markdown_table(summary) + "\n")

    rows, cells_json = [], []
    for cell in summary.cells:
        entry: dict[str, Any] = {"cell": cell.slug, "params": dict(cell.params), "metrics": {}}
        for m in summary.metrics:
            mean, se, n = summary.stats(cell, m)
            per_seed = summary.values[cell.slug].get(m, {})
            rows.append([*(v for _, v in cell.params), m, _num(mean), _num(se), n,
                         *(_num(per_seed.get(s)) for s in seeds)])
            entry["metrics"][m] = {"mean": _json_num(mean), "se": _json_num(se), "n": n,
                                   "values": {str(s): _json_num(v) for s, v in per_seed.items()}}
        cells_json.append(entry)
    atomic_write_text(paths["csv"], _csv_text([*summary.keys, "metric", "mean", "se", "n", *(f"seed_{s}" for s in seeds)], rows))
    atomic_write_text(paths["json"], json.dumps({
        "sweep": str(out), "source": sweep.source, "fixed": sweep.fixed, "axes": {a.key: list(a.values) for a in sweep.axes},
        "seeds": seeds, "runs": len(sweep.runs), "done": done, "metrics": summary.metrics, "cells": cells_json,
    }, indent=1) + "\n")

    from gankit.viz.sweep import plot_sweep

    per_metric = {m: [(*summary.stats(c, m)[:2], list(summary.values[c.slug].get(m, {}).values())) for c in summary.cells]
                  for m in summary.metrics}
    plot_sweep(summary.labels(), per_metric, paths["png"],
               title=f"{out.name}: mean ± standard error over {len(seeds)} seeds (dots: seeds)")
    return paths


def _previous_wall(out: Path) -> dict[str, float]:
    """Wall seconds per run from an earlier call's runs.csv (a resumed run adds to them)."""
    path = out / "runs.csv"
    if not path.is_file():
        return {}
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return {row["run"]: float(row["wall_s"] or 0) for row in csv.DictReader(f)}
    except (OSError, KeyError, ValueError, csv.Error):
        return {}


def write_runs(sweep: Sweep) -> Path:
    """runs.csv: every run with its status, what this call did, exit code, wall seconds and final metrics."""
    names: list[str] = []
    finals = {}
    for run in sweep.runs:
        finals[run.name] = metric_values(final_metrics(run.root) or {}) if run.root.exists() else {}
        names += [k for k in finals[run.name] if k not in names]
    header = [*(a.key for a in sweep.axes), "seed", "status", "action", "exit", "wall_s", "run", *names]
    rows = [[*(v for _, v in r.cell.params), r.seed, r.status, r.action, "" if r.exit_code is None else r.exit_code,
             f"{r.wall_s:.1f}", r.name, *(_num(finals[r.name].get(k)) for k in names)] for r in sweep.runs]
    path = sweep.out / "runs.csv"
    atomic_write_text(path, _csv_text(header, rows))
    return path


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
