"""TensorBoard event files mirroring a run's own files (optional: ``pip install 'gankit[tensorboard]'``).

The run directory stays the only record (docs/architecture.md: the run directory is what downstream code
reads); TensorBoard gets a copy. :class:`Mirror` follows ``stats.jsonl``, ``metrics.jsonl`` and the sample
grids ``samples/step-N.png`` from byte offsets (:func:`~gankit.train.stats.read_page`) and writes what is
new as events in ``RUN/tensorboard/``. The same mirror serves both uses, so their scalars are the files':

- live, ``train.tensorboard=true``: :class:`TensorBoardCallback` syncs after every logged step, and
- afterwards, ``gankit export tensorboard RUN``: :func:`export` replays a finished (or running) run.

Tags: ``stats/KEY`` for each number of a stats.jsonl line (losses, D's accuracy, learning rates, time),
``metrics/KEY`` for metrics.jsonl, ``floor/KEY`` for its real-vs-real column, and the image ``samples``.
Each start (a new run, a resume, an export) rewrites the event files from the logs: a resumed run's logs
drop the lines after its checkpoint, and so does its TensorBoard copy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gankit.errors import GankitError
from gankit.train.callbacks import Callback
from gankit.train.rundir import RunDir
from gankit.train.stats import read_page

if TYPE_CHECKING:
    from gankit.train.trainer import Trainer

log = logging.getLogger("gankit")

FOLDER = "tensorboard"
EVENTS = "events.out.tfevents.*"


def summary_writer(logdir: Path | None = None) -> Any:
    """torch's TensorBoard writer (None: only check it imports), or a one-line error (exit 1) saying how to
    install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch raises ImportError when the tensorboard package is missing
        raise GankitError(f"TensorBoard logging needs the tensorboard package: pip install 'gankit[tensorboard]' "
                          f"({' '.join(str(exc).split())})") from None
    return None if logdir is None else SummaryWriter(log_dir=str(logdir))


def numbers(record: dict[str, Any]) -> dict[str, float]:
    """The scalars of a log record: its int and float values except ``step`` (bools and text left out)."""
    return {k: float(v) for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


class Mirror:
    """Writes what is new in a run's logs and sample grids as TensorBoard events, each :meth:`sync`.

    Args:
        run: the run directory to follow.
        logdir: where the event files go (default ``RUN/tensorboard``); its old event files are removed
            first, so the events always equal the logs as they are now.
    """

    def __init__(self, run: RunDir, logdir: Path | None = None) -> None:
        self.run = run
        self.logdir = Path(logdir) if logdir is not None else run.root / FOLDER
        if self.logdir.is_dir():
            for old in self.logdir.glob(EVENTS):  # only TensorBoard's own files: nothing else is deleted
                old.unlink()
        self.writer = summary_writer(self.logdir)
        self._pages: dict[str, dict[str, Any]] = {}
        self._frames: set[int] = set()

    def _new_records(self, path: Path) -> list[dict[str, Any]]:
        state = self._pages.setdefault(path.name, {"offset": 0, "ino": None, "skip": False})
        rows = []
        while True:
            page = read_page(path, state["offset"], state["ino"], state["skip"])
            state.update(offset=page["offset"], ino=page["ino"], skip=page["skip"])
            rows += page["rows"]
            if not page["more"]:
                return rows

    def sync(self) -> int:
        """Write the records and frames added since the last call; returns how many events were written."""
        n = 0
        for record in self._new_records(self.run.stats):
            for key, value in numbers(record).items():
                self.writer.add_scalar(f"stats/{key}", value, record["step"])
                n += 1
        for record in self._new_records(self.run.metrics):
            floor = record.get("floor")
            groups = [("metrics", record)] + ([("floor", floor)] if isinstance(floor, dict) else [])
            for tag, values in groups:
                for key, value in numbers(values).items():
                    self.writer.add_scalar(f"{tag}/{key}", value, record["step"])
                    n += 1
        for step, path in self.run.sample_frames():
            if step not in self._frames:
                self.writer.add_image("samples", _read_png(path), step, dataformats="HWC")
                self._frames.add(step)
                n += 1
        self.writer.flush()
        return n

    def close(self) -> None:
        self.writer.close()


def _read_png(path: Path) -> Any:
    """(H, W, 3) uint8 pixels of a PNG (figures are saved RGBA)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def export(run: RunDir, logdir: Path | None = None) -> tuple[Path, int]:
    """Replay a run's stats, metrics and sample grids into fresh event files; returns (folder, events)."""
    if not run.stats.is_file() and not run.metrics.is_file():
        raise GankitError(f"'{run.root}' has no stats.jsonl or metrics.jsonl to export")
    mirror = Mirror(run, logdir)
    try:
        return mirror.logdir, mirror.sync()
    finally:
        mirror.close()


class TensorBoardCallback(Callback):
    """``train.tensorboard=true``: mirror the run into ``RUN/tensorboard`` after every logged step and at
    the end (run it after the callbacks that write frames and metrics, so a step's files are complete)."""

    def __init__(self, every: int) -> None:
        summary_writer()  # a missing package fails before training starts
        self.every = max(1, every)
        self.mirror: Mirror | None = None

    def on_start(self, trainer: Trainer) -> None:
        self.mirror = Mirror(trainer.run)
        self.mirror.sync()  # a resumed run: its kept history

    def on_step(self, trainer: Trainer, step: int) -> None:
        if self.mirror is not None and step % self.every == 0:
            self.mirror.sync()

    def on_end(self, trainer: Trainer) -> None:
        if self.mirror is not None:
            self.mirror.sync()
            self.mirror.close()
            self.mirror = None
