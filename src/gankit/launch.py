"""Where ``gankit sweep`` runs its ``gankit train`` commands when not as local processes: Ray or Slurm.

The sweep stays the same (:mod:`gankit.sweep`: the grid, the run folders, the resume rule, the summaries);
only the pool that runs each (cell, seed) command changes. Each command runs through :func:`run_task` on a
worker, which starts it as a process with the worker's own Python, appends its output to the run's log
and returns the exit code, as the local pool does. So the sweep's folder must be on a file system that
every worker sees (a shared home or scratch disk on a cluster), and gankit must be installed on every
worker (``pip install gankit`` in the same environment as on the machine that starts the sweep).

- ``ray``: each command is a Ray task (``num_cpus`` = the torch threads per run) on an existing cluster
  (``ray.init(address=...)``: ``--address``, else ``$RAY_ADDRESS``) or, given neither, a local instance;
  a Ray session the caller already started (``ray.init`` in a notebook) is used as it is.
- ``slurm``: each command is a job submitted through submitit (``sbatch``); where Slurm is missing,
  submitit's local executor runs the jobs as local processes (what the tests use). ``--slurm-option
  KEY=VALUE`` sets submitit's parameters (``slurm_partition=gpu``, ``timeout_min=120``, ``gpus_per_node=1``,
  ``cluster=local``).

Ctrl-C or SIGTERM cancels every task: the worker sends its ``gankit train`` process SIGTERM (it checkpoints)
and the same ``gankit sweep`` command continues later, as with local processes.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gankit.errors import ConfigError, GankitError, TrainingInterrupted

log = logging.getLogger("gankit")

LAUNCHERS = ("local", "ray", "slurm")
SLURM_TIMEOUT_MIN = 24 * 60  # submitit's own default is 5 minutes: too short for training


def open_log(command: Sequence[str], path: Path) -> Any:
    """The run's log opened for appending, with a line saying when and what starts (shared by every pool)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = path.open("a", encoding="utf-8")
    f.write(f"\n[gankit sweep, {time.strftime('%Y-%m-%d %H:%M:%S')}] {shlex.join(command)}\n")
    f.flush()
    return f


def run_task(command: list[str], log_path: str, env: dict[str, str], grace_s: float = 60.0) -> tuple[int, float]:
    """Run one ``python -m gankit ...`` command on this worker; returns (exit code, wall seconds).

    The command's first word (the Python of the machine that planned the sweep) is replaced by this
    worker's Python; ``env`` is added to the worker's environment. A KeyboardInterrupt (Ray's and
    submitit's cancel) or SIGTERM sends the process SIGTERM, so the trainer checkpoints before it exits.
    """
    command = [sys.executable, *command[1:]]
    start = time.monotonic()
    with open_log(command, Path(log_path)) as f:
        p = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                             env={**os.environ, **env})
        previous = None
        if hasattr(signal, "SIGTERM") and _main_thread():
            previous = signal.signal(signal.SIGTERM, lambda *_: p.terminate())
        try:
            while (code := p.poll()) is None:  # short waits: a cancel raised in this thread is seen at once
                time.sleep(0.1)
        except KeyboardInterrupt:
            p.terminate()
            deadline = time.monotonic() + grace_s
            while (code := p.poll()) is None and time.monotonic() < deadline:
                try:
                    time.sleep(0.1)
                except KeyboardInterrupt:  # a repeated cancel (the driver re-sends it): already stopping
                    pass
            if code is None:
                p.kill()
                code = p.wait()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    return code, time.monotonic() - start


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class Signals:
    """While active, SIGINT and SIGTERM only record the signal (the pool then stops its runs); a second
    one acts as usual (Ctrl-C again: KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        self.signum = signum
        signal.signal(signum, self._previous[signum])

    def __enter__(self) -> Signals:
        if _main_thread():
            self._previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
            for s in self._previous:
                signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise GankitError(f"--launcher {extra} needs the {module} package: pip install 'gankit[{extra}]' "
                          f"({' '.join(str(exc).split())})") from None


class RayPool:
    """Commands as Ray tasks. ``address``: a cluster's (``ray://host:10001``, ``host:6379``, ``auto``)."""

    def __init__(self, address: str | None, cpus: int) -> None:
        self.ray = _require("ray", "ray")
        if not self.ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            self.ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.remote = self.ray.remote(num_cpus=max(1, cpus), max_retries=0)(run_task)

    def submit(self, command: list[str], log_path: Path, env: dict[str, str], grace_s: float) -> Any:
        return self.remote.remote(command, str(log_path), env, grace_s)

    def result(self, handle: Any) -> tuple[int, float] | None:
        """(exit code, wall s) when finished, None while running."""
        ready, _ = self.ray.wait([handle], timeout=0)
        return self.ray.get(handle) if ready else None

    def cancel(self, handle: Any) -> None:
        self.ray.cancel(handle)  # KeyboardInterrupt in run_task: the trainer gets SIGTERM


class SlurmPool:
    """Commands as Slurm jobs through submitit (its local executor where there is no Slurm)."""

    def __init__(self, folder: Path, cpus: int, options: dict[str, str]) -> None:
        submitit = _require("submitit", "slurm")
        options = dict(options)
        cluster = options.pop("cluster", None)
        self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        params: dict[str, Any] = {"timeout_min": SLURM_TIMEOUT_MIN, "cpus_per_task": max(1, cpus)}
        params.update({k: _number(v) for k, v in options.items()})
        try:
            self.executor.update_parameters(**params)
        except (ValueError, TypeError, NameError) as exc:  # submitit names the unknown parameter first
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"--slurm-option: {first}") from None

    def submit(self, command: list[str], log_path: Path, env: dict[str, str], grace_s: float) -> Any:
        return self.executor.submit(run_task, command, str(log_path), env, grace_s)

    def result(self, handle: Any) -> tuple[int, float] | None:
        return handle.result() if handle.done() else None

    def cancel(self, handle: Any) -> None:
        handle.cancel(check=False)


def _number(value: str) -> Any:
    """A ``--slurm-option`` value: an int or float where it reads as one (timeout_min=120), else the text."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse_options(items: Sequence[str]) -> dict[str, str]:
    """``["slurm_partition=gpu", "timeout_min=120"]`` -> a dict; a malformed item is a ConfigError."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--slurm-option '{item}' is not KEY=VALUE (e.g. slurm_partition=gpu)")
        out[key.strip()] = value.strip()
    return out


def check_launcher(launcher: str, address: str | None = None, options: Sequence[str] = ()) -> None:
    """Refuse a launcher's options given to another launcher (before anything runs or is written)."""
    if launcher not in LAUNCHERS:
        raise ConfigError(f"unknown launcher '{launcher}'; choose one of: {', '.join(LAUNCHERS)}")
    if address and launcher != "ray":
        raise ConfigError("--address is the Ray cluster's: use it with --launcher ray")
    if options and launcher != "slurm":
        raise ConfigError("--slurm-option sets submitit's parameters: use it with --launcher slurm")
    parse_options(options)
    if launcher != "local":  # a missing package: one line before anything runs or is written
        _require({"ray": "ray", "slurm": "submitit"}[launcher], launcher)


def make_pool(launcher: str, *, out: Path, threads: int, address: str | None = None,
              options: Sequence[str] = ()) -> RayPool | SlurmPool:
    """The pool of a remote launcher (``ray`` or ``slurm``)."""
    check_launcher(launcher, address, options)
    if launcher == "ray":
        return RayPool(address, threads)
    return SlurmPool(out / "submitit", threads, parse_options(options))


def _ended(pool: RayPool | SlurmPool, handle: Any) -> bool:
    try:
        return pool.result(handle) is not None
    except Exception:  # cancelled (Ray's TaskCancelledError, submitit's UncompletedJobError) or lost: over
        return True


def _cancel_and_wait(pool: RayPool | SlurmPool, handles: list[Any], timeout_s: float, poll_s: float) -> None:
    """Cancel every handle and wait (at most ``timeout_s``) until each task has ended, so that a trainer has
    checkpointed and stopped when Ctrl-C returns. The cancel is sent again every 2 s while a task runs: Ray can
    lose a cancel that reaches a task as it starts, and the task then runs on with its process."""
    deadline = time.monotonic() + timeout_s
    live, resend = list(handles), 0.0
    while live and time.monotonic() < deadline:
        if time.monotonic() >= resend:
            for handle in live:
                pool.cancel(handle)
            resend = time.monotonic() + 2.0
        time.sleep(poll_s)
        live = [h for h in live if not _ended(pool, h)]


def run_remote(pool: RayPool | SlurmPool, tasks: Sequence[Any], jobs: int, env: dict[str, str],
               grace_s: float = 60.0, on_done: Callable[[Any], None] | None = None, poll_s: float = 0.2) -> None:
    """Run every task's command through ``pool``, at most ``jobs`` at once (0: all; the scheduler decides).

    Each task (:class:`gankit.sweep.Task`) gets ``exit_code`` and ``wall_s``; ``on_done(task)`` as it ends.

    Raises:
        TrainingInterrupted: SIGINT or SIGTERM; every submitted task was cancelled and waited for (at most
            ``grace_s`` + 10 s: its trainer checkpoints).
    """
    pending = list(tasks)
    running: dict[int, tuple[Any, Any]] = {}
    with Signals() as signals:
        while (pending or running) and signals.signum is None:
            while pending and (not jobs or len(running) < jobs):
                task = pending.pop(0)
                running[id(task)] = (task, pool.submit(task.command, task.log, env, grace_s))
            time.sleep(poll_s)
            for key, (task, handle) in list(running.items()):
                try:
                    result = pool.result(handle)
                except Exception as exc:  # the task died outside run_task (node lost, job killed, out of time)
                    with task.log.open("a", encoding="utf-8") as f:
                        f.write(f"[gankit sweep] the {type(pool).__name__} task failed: {exc}\n")
                    result = (1, 0.0)
                if result is not None:
                    del running[key]
                    task.exit_code, task.wall_s = result
                    if on_done is not None:
                        on_done(task)
        if signals.signum is not None:
            _cancel_and_wait(pool, [handle for _task, handle in running.values()], grace_s + 10.0, poll_s)
            name = signal.Signals(signals.signum).name
            raise TrainingInterrupted(f"{name}: cancelled {len(running)} submitted runs (they checkpoint) and "
                                      f"{len(pending)} not submitted; run the same command again to continue",
                                      signals.signum)
