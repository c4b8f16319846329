"""Progress for the person waiting: how long a run will take, how far it is, what an evaluation is doing.

- :class:`TrainingProgress`: once the first steps have been timed, one line with the expected duration of
  the whole run at the measured speed and how to cut it (``train.time_limit``, ``train.steps``); and, when
  no progress bar shows (stderr is a file, a pipe: a job, ``nohup``, CI, a sweep's log), one line every
  ``train.progress_every_s`` seconds: ``step 1200/5000 (24%) 3.1 steps/s eta 20m d_loss 0.693 g_loss 1.2``.
- :class:`Announcer`: the steps of an evaluation (samples drawn, each metric with its sample count, the
  real-vs-real floor) as lines, so a 30 s to 2 min evaluation is never silent; :meth:`Announcer.done`
  says how long it took.

Both write through an ``emit`` function (the trainer's ``log.info``), and read time from ``clock`` so that
tests can drive them with a fake one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

ESTIMATE_AFTER_S = 5.0
"""Seconds of training (after the first step, which pays for warm-up) timed before the estimate."""
LONG_S = 60.0
"""A run expected to take less than this is not announced: it is over before the line would help."""
HEADLINE = ("d_loss", "g_loss", "d_real", "d_fake")
"""The logged statistics shown beside the progress (the bar's postfix and the lines)."""


def duration(seconds: float) -> str:
    """A short human duration: '45s', '2m05s', '1h20m'."""
    s = max(int(round(seconds)), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def headline(record: dict[str, float]) -> dict[str, str]:
    """The :data:`HEADLINE` statistics present in a stats record, formatted."""
    return {n: f"{record[n]:.3f}" for n in HEADLINE if n in record}


class TrainingProgress:
    """The duration estimate and the periodic progress lines of one training session.

    Args:
        total: the last step (``train.steps``).
        start: the step this session starts from (0, or the checkpoint's step when resuming).
        emit: where lines go.
        lines: write a line every ``every_s`` seconds (when no progress bar shows).
        every_s: seconds between lines (0: none).
        time_limit_min: ``train.time_limit`` (0: none), named in the estimate when it will stop the run.
        final_eval: what follows the last step ("the final evaluation of 10000 samples (eval.num_samples)").
        eval_every: ``train.eval_every`` (0: none): the evaluations still on the way are counted in the estimate.
        clock: seconds, monotonic.
    """

    def __init__(self, total: int, start: int, emit: Callable[[str], None], lines: bool, every_s: float,
                 time_limit_min: float = 0.0, final_eval: str = "", eval_every: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.emit, self.lines, self.every_s, self.eval_every = total, emit, lines, every_s, eval_every
        self.time_limit_min, self.final_eval, self.clock = time_limit_min, final_eval, clock
        self.first: tuple[int, float] | None = None  # (step, time) after the first step: speed is timed from here
        self.last_line = (start, clock())
        self.started = self.last_line[1]
        self.estimated = False

    def update(self, step: int, record: dict[str, float]) -> None:
        """After each step: the estimate once the speed is known, a line when ``every_s`` has passed."""
        now = self.clock()
        if self.first is None:
            self.first = (step, now)
            return
        s0, t0 = self.first
        if not self.estimated and now - t0 >= ESTIMATE_AFTER_S and step > s0:
            self.estimated = True
            self._estimate((step - s0) / (now - t0), step, now)
        s1, t1 = self.last_line
        if self.lines and self.every_s and now - t1 >= self.every_s and step > s1:
            rate = (step - s1) / (now - t1)
            stats = " ".join(f"{k} {v}" for k, v in headline(record).items())
            self.emit(f"step {step}/{self.total} ({100 * step // self.total}%) {rate:.3g} steps/s "
                      f"eta {duration((self.total - step) / rate)}" + (f" {stats}" if stats else ""))
            self.last_line = (step, now)

    def _estimate(self, rate: float, step: int, now: float) -> None:
        left = (self.total - step) / rate
        if left < LONG_S:
            return
        then = f", then {self.final_eval}" if self.final_eval else ""
        # the periodic evaluations still to come: multiples of eval_every after this step, the last step's excepted
        # (the final evaluation is that one); the steps' speed does not include them
        k = (self.total - 1) // self.eval_every - step // self.eval_every if self.eval_every else 0
        on_the_way = f" plus {k} evaluation{'s' * (k > 1)} on the way (train.eval_every)" if k > 0 else ""
        line = (f"{self.total:,} steps at {rate:.3g} steps/s take about {duration(now - self.started + left)} here "
                f"({duration(left)} left){on_the_way}{then}; ")
        limit_s = 60.0 * self.time_limit_min
        if limit_s and limit_s < now - self.started + left:  # the limit counts from the session's start
            stop = step + int(rate * max(limit_s - (now - self.started), 0.0))
            line += (f"train.time_limit={self.time_limit_min:g} stops it after {self.time_limit_min:g} min near step "
                     f"{min(self.total, stop):,} (--resume continues); ")
        self.emit(line + "to cut it: train.time_limit=MINUTES (a clean stop, --resume continues) or "
                  "train.steps=N")


class Announcer:
    """Lines ``"<what>: <message>"`` for the steps of a long computation, and how long it took.

    Call it with each step's message; it can be passed as the ``progress`` of
    :func:`gankit.metrics.evaluate`.
    """

    def __init__(self, what: str, emit: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.emit, self.clock = what, emit, clock
        self.start = clock()

    def __call__(self, message: str) -> None:
        self.emit(f"{self.what}: {message}")

    def done(self) -> None:
        self.emit(f"{self.what}: done in {duration(self.clock() - self.start)}")
