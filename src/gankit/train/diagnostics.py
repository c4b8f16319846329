"""Training diagnostics: how the game is going, recorded every N steps, with alarms when it goes wrong.

Every ``every`` generator steps (and at the end) :class:`Diagnostics` appends one line to the run's
``diagnostics.jsonl``:

- **discriminator accuracy** on a fresh batch of real data (:func:`real_batch`: with labels or captions for
  conditional recipes; the trainer's fixed real samples for a streamed image folder, whose stream belongs
  to training) and fresh generator samples, scored by every recipe with a discriminator through one
  interface, :meth:`gankit.models.base.Recipe.discriminator_scores` (the AAE's D judges codes: prior draws
  against codes of the data; see :func:`discriminator_accuracy` for the threshold), and histograms of
  D(x) and D(G(z)) (see
  :func:`score_histograms`): a D that separates the two perfectly leaves the generator of the saturating
  game without gradient (Goodfellow et al., "Generative Adversarial Nets", 2014, Section 3; Arjovsky &
  Bottou, "Towards Principled Methods for Training GANs", 2017, Theorem 2.4);
- the latest **gradient norms** and losses the trainer logged (``trainer.last_record``);
- **mode coverage** on point data with known modes (modes covered and held, % high-quality samples of
  2,500 samples, :func:`mode_coverage` on :func:`gankit.metrics.toy.assign_modes`, the VEEGAN/PacGAN
  rule), or, on any other data (images),
  **sample diversity**: the mean pairwise L2 distance of 256 generated samples from fixed noise divided
  by that of 256 fixed real samples (1 for a generator as varied as the data, 0 for a collapsed one).

:class:`AlarmRules` turns the sequence of records into alarms (``alarms.jsonl``, one ``log.warning`` each):
``modes-dropped``, ``diversity-low``, ``d-wins``, ``gradients-exploded`` and ``diverged``; the thresholds
are documented on the class. Each kind is raised once and not again until its condition has cleared.

D is evaluated as the training generator sees it: the training (not the EMA) generator's samples,
networks in eval mode (no batch-norm statistics or dropout masks move). Coverage and diversity use the
sampling generator (the EMA one when enabled), as the figures and metrics.jsonl do. All noise and data
come from private seeds derived from ``eval.seed`` and the step, so the training RNG never moves and a
resumed run records what an uninterrupted one would.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from gankit.data.base import IndexedImages, LabelledDataset, PointSet
from gankit.data.reference import reference_sample
from gankit.evalmode import eval_mode
from gankit.metrics.toy import assign_modes
from gankit.models.base import discriminator_calls
from gankit.train.callbacks import Callback
from gankit.train.stats import JsonlWriter, read_jsonl

if TYPE_CHECKING:
    from gankit.train.trainer import Trainer

log = logging.getLogger("gankit")

PROB_BINS = 40
"""Histogram bins of D(x) on [0, 1] (probability objectives) or over the observed range (critics)."""

ALARM_KINDS = ("modes-dropped", "diversity-low", "d-wins", "gradients-exploded", "diverged")

_SEED_OFFSET = 5  # eval.seed + 0..4 are taken by the fixed noise, figures, evaluation and the floor
_STEP_STRIDE = 1_000_003  # a prime: the per-step seeds of two recordings never coincide


def default_every(sample_every: int, log_every: int) -> int:
    """The default recording interval: about five recordings per sample interval (10 log intervals
    when sampling is off), at least ``log_every`` and rounded up to a multiple of it, so that the
    gradient norms and losses read from the trainer's last logged record are those of the same step."""
    every = max(sample_every // 5 or 10 * log_every, log_every)
    return -(-every // log_every) * log_every


# ------------------------------------------------------------------------------------ measurements
def discriminator_accuracy(real: Tensor, fake: Tensor, to_prob: Callable[[Tensor], Tensor] | None = None
                           ) -> dict[str, float]:
    """How often D tells a real sample from a generated one.

    With a probability objective (``to_prob`` given, e.g. the sigmoid of the JS family) a sample counts
    as called "real" when D(x) > 1/2. A critic's score has no fixed scale or offset (adding a constant
    changes nothing in WGAN), so its threshold is the midpoint between the mean real and the mean fake
    score of this batch: the best a threshold can do when the two score distributions are symmetric about
    their means. A score exactly at the threshold counts as half right, so a constant D scores 1/2.

    Args:
        real: (N,) raw D scores of real samples.
        fake: (M,) raw D scores of generated samples.
        to_prob: maps raw scores to probabilities, or None for a critic.

    Returns:
        ``{"d_acc": accuracy over all N + M samples, "d_acc_real": on the real ones, "d_acc_fake": on the
        fake ones, "threshold": the threshold used (on probabilities, or on raw critic scores)}``.
    """
    right_real, right_fake, t = (v.double().cpu() for v in discriminator_calls(real, fake, to_prob))
    return {
        "d_acc": float((right_real.sum() + right_fake.sum()) / (len(right_real) + len(right_fake))),
        "d_acc_real": float(right_real.mean()),
        "d_acc_fake": float(right_fake.mean()),
        "threshold": float(t),
    }


def score_histograms(real: np.ndarray, fake: np.ndarray, probability: bool, bins: int = PROB_BINS
                     ) -> dict[str, list[float] | list[int]]:
    """Histograms of D(x) and D(G(z)) on shared bins.

    Args:
        real: (N,) D values of real samples (probabilities, or raw critic scores).
        fake: (M,) D values of generated samples.
        probability: True for probabilities: ``bins`` equal bins on [0, 1]; otherwise ``bins`` equal bins
            from the smallest to the largest finite value of both sets (widened by 1/2 each side when they
            are all equal). Infinite values fall in the end bins; NaN is not counted.

    Returns:
        ``{"hist_edges": (bins + 1,) edges, "hist_real": (bins,) counts, "hist_fake": (bins,) counts}``.
    """
    real, fake = np.asarray(real, dtype=np.float64).ravel(), np.asarray(fake, dtype=np.float64).ravel()
    if probability:
        lo, hi = 0.0, 1.0
    else:
        both = np.concatenate([real, fake])
        both = both[np.isfinite(both)]
        lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 0.0)
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)

    def counts(v: np.ndarray) -> list[int]:
        v = np.clip(v[~np.isnan(v)], lo, hi)
        return np.histogram(v, bins=edges)[0].astype(int).tolist()

    return {"hist_edges": [float(e) for e in edges.round(6)], "hist_real": counts(real), "hist_fake": counts(fake)}


HELD_SHARE = 0.25
"""A mode is *held* when it has at least this fraction of its fair share (1/M) of the HQ samples ..."""
HELD_MIN = 10
"""... and at least this many HQ samples: a mode covered by a stray sample or two flickers in and out."""


def mode_coverage(fake: np.ndarray, means: np.ndarray, std: float) -> dict[str, float]:
    """Mode coverage of generated point samples, as metrics.jsonl counts it and as the alarm counts it.

    Args:
        fake: (N, dim) generated samples.
        means: (M, dim) mixture means.
        std: per-mode standard deviation.

    Returns:
        ``{"modes": modes covered (the VEEGAN/PacGAN rule of :func:`gankit.metrics.toy.mode_stats`: at
        least one high-quality sample), "modes_held": modes with at least ``max(HELD_MIN, HELD_SHARE *
        n_hq / M)`` HQ samples, "modes_total": M, "hq": % high-quality samples}``.
    """
    nearest, hq = assign_modes(fake, means, std)
    m = len(means)
    counts = np.bincount(nearest[hq], minlength=m)  # (M,) HQ samples per mode
    n_hq = int(counts.sum())
    return {
        "modes": float(np.count_nonzero(counts)),
        "modes_held": float(np.count_nonzero(counts >= max(HELD_MIN, HELD_SHARE * n_hq / m))),
        "modes_total": m,
        "hq": 100.0 * n_hq / len(hq) if len(hq) else 0.0,
    }


def mean_pairwise_distance(x: Tensor) -> float:
    """Mean Euclidean distance between all pairs of samples ``x`` (N, ...) (0 for fewer than two)."""
    flat = x.detach().reshape(len(x), -1).double().cpu()
    return float(torch.pdist(flat).mean()) if len(flat) > 1 else 0.0


def real_batch(trainer: Trainer, n: int, seed: int) -> Any:
    """``n`` real samples for D's accuracy, as the recipe's steps take them (``(x, labels)`` for
    ``uses_labels`` recipes), on the trainer's device, drawn under ``seed`` without moving the global RNG.

    A streamed image folder's stream belongs to training: its fixed real samples stand in, or, for a
    labelled recipe, ``n`` files decoded by index with their labels (None when some fail to decode).
    """
    dataset, device = trainer.dataset, trainer.device
    streamed = dataset.streamed
    if not trainer.recipe.uses_labels:
        x = trainer.fixed_real[:n] if streamed else reference_sample(dataset, n, seed)
        return x.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if streamed and isinstance(dataset, IndexedImages):
            idx = torch.randperm(len(dataset))[:n]
            if dataset.labels is None:  # the trainer draws labelled batches: a streamed set has them
                return None
            x, y = dataset.images(idx), dataset.labels[idx]
            if len(x) != len(y):
                return None
        else:
            assert isinstance(dataset, LabelledDataset)  # the trainer checked it (uses_labels)
            x, y = dataset.sample_with_labels(n)
    return x.to(device), y.to(device)


# ------------------------------------------------------------------------------------------ alarms
@dataclass
class AlarmRules:
    """Turns diagnostics records, in step order, into alarms ``{"step", "kind", "message"}``.

    Each kind has a condition checked on every record; it is raised when the condition has held for its
    ``*_patience`` consecutive records and is not raised again until the condition has failed once
    (cleared). The conditions:

    - ``modes-dropped`` (point data with known modes): fewer modes *held* (``modes_held``: at least 10
      high-quality samples and 1/4 of a fair share, see :func:`mode_coverage`) than the best seen so far,
      on ``modes_patience`` = 2 records in a row. The protocol's "covered" (one HQ sample is enough) is too
      noisy for an alarm: a mode reached by a stray sample or two flickers in and out, and one record
      below the best is not enough for the same reason. Clears when the best count is reached again.
    - ``diversity-low`` (data without known modes, e.g. images): the diversity ratio fell below
      ``diversity_fall`` = 1/2 of its best so far, or below ``diversity_floor`` = 1/2 of the real data's
      after having reached it; 2 records in a row. Compared with the run's own best because every
      generator starts nearly constant: a low value at step 100 is no fall.
    - ``d-wins`` (probability objectives): D accuracy ≥ ``d_wins_acc`` = 0.99 on ``d_wins_patience`` = 3
      records in a row: D separates real from fake and the saturating generator loss gives no gradient.
      Not for critics: a WGAN critic that separates the sets still gives useful gradients (Arjovsky et al.
      2017), which is its purpose.
    - ``gradients-exploded``: a gradient norm that is not finite, or more than ``grad_factor`` = 100 times
      the median of its previous ``grad_window`` = 20 recorded values (once 3 are known).
    - ``diverged``: a loss that is not finite or whose magnitude exceeds ``loss_limit`` = 1000 (logits of
      that size mean D's outputs have run away). For critics only ``d_loss``: a critic's score has no
      fixed offset, so ``g_loss = -E f(G(z))`` may drift without anything being wrong.
    """

    modes_patience: int = 2
    diversity_fall: float = 0.5
    diversity_floor: float = 0.5
    diversity_patience: int = 2
    d_wins_acc: float = 0.99
    d_wins_patience: int = 3
    grad_factor: float = 100.0
    grad_window: int = 20
    grad_min_history: int = 3
    loss_limit: float = 1e3
    active: set[str] = field(default_factory=set, init=False)
    _streak: dict[str, int] = field(default_factory=dict, init=False)
    _best_modes: float | None = field(default=None, init=False)
    _best_diversity: float | None = field(default=None, init=False)
    _grads: dict[str, deque[float]] = field(default_factory=dict, init=False)

    def _patience(self, kind: str) -> int:
        return {"modes-dropped": self.modes_patience, "diversity-low": self.diversity_patience,
                "d-wins": self.d_wins_patience}.get(kind, 1)

    def update(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Check one record; returns the alarms raised by it (usually none)."""
        raised = []
        for kind, message in self._conditions(record).items():
            if message is None:  # cleared (or not measured: a missing key never keeps an alarm up)
                self._streak[kind] = 0
                self.active.discard(kind)
                continue
            self._streak[kind] = self._streak.get(kind, 0) + 1
            if kind not in self.active and self._streak[kind] >= self._patience(kind):
                self.active.add(kind)
                raised.append({"step": int(record["step"]), "kind": kind, "message": message})
        return raised

    def _conditions(self, r: dict[str, Any]) -> dict[str, str | None]:
        """{kind: a message when its condition holds on this record, else None}."""
        out: dict[str, str | None] = {kind: None for kind in ALARM_KINDS}
        modes = _number(r.get("modes_held", r.get("modes")))
        if modes is not None:
            best = self._best_modes
            if best is not None and modes < best:
                total = r.get("modes_total")
                of = f" of {total:g}" if _is_number(total) else ""
                out["modes-dropped"] = f"modes held fell from {best:g} to {modes:g}{of}"
            self._best_modes = modes if best is None else max(best, modes)
        div = _number(r.get("diversity"))
        if div is not None:
            best = self._best_diversity
            if best is not None and (div < self.diversity_fall * best
                                     or (best >= self.diversity_floor and div < self.diversity_floor)):
                out["diversity-low"] = (f"sample diversity fell to {div:.3g} of the real data's "
                                        f"(best so far {best:.3g})")
            self._best_diversity = div if best is None else max(best, div)
        acc = _number(r.get("d_acc"))
        if acc is not None and r.get("scale") == "probability" and acc >= self.d_wins_acc:
            out["d-wins"] = (f"D accuracy {acc:.3f} on {self.d_wins_patience} recordings in a row: D separates "
                             "real from fake and the generator's gradient may vanish")
        exploded = []
        for key in ("d_grad_norm", "g_grad_norm"):
            value = r.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            history = self._grads.setdefault(key, deque(maxlen=self.grad_window))
            if not math.isfinite(value):
                exploded.append(f"{key} = {value}")
            elif len(history) >= self.grad_min_history and value > self.grad_factor * statistics.median(history):
                exploded.append(f"{key} = {value:.3g}, {value / statistics.median(history):.0f}x its recent median")
            if math.isfinite(value):
                history.append(float(value))
        if exploded:
            out["gradients-exploded"] = "; ".join(exploded)
        loss_keys = ("d_loss", "g_loss") if r.get("scale") != "score" else ("d_loss",)
        bad = [f"{k} = {r[k]:.4g}" for k in loss_keys
               if _is_number(r.get(k)) and not (math.isfinite(r[k]) and abs(r[k]) <= self.loss_limit)]
        if bad:
            out["diverged"] = f"losses ran away ({', '.join(bad)}; limit ±{self.loss_limit:g})"
        return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, null, NaN)."""
    return float(value) if _is_number(value) and math.isfinite(value) else None


# ---------------------------------------------------------------------------------------- callback
class Diagnostics(Callback):
    """diagnostics.jsonl every ``every`` steps and at the end, alarms.jsonl, diagnostics.png at the end.

    Args:
        every: recording interval in generator steps; 0 disables the callback entirely.
        n: real and generated samples for D's accuracy and histograms (each).
        n_modes: generated samples for mode coverage (docs/protocols.md scores 2,500).
        n_diversity: generated and real samples for the diversity ratio.
        bins: histogram bins.
        rules: alarm thresholds (a fresh copy is used on every ``fit``).
        plot: draw diagnostics.png at the end.
    """

    def __init__(self, every: int, n: int = 512, n_modes: int = 2500, n_diversity: int = 256,
                 bins: int = PROB_BINS, rules: AlarmRules | None = None, plot: bool = True) -> None:
        self.every = every
        self.n, self.n_modes, self.n_diversity, self.bins = n, n_modes, n_diversity, bins
        self.template = rules or AlarmRules()
        self.plot = plot
        self.rules = self._fresh_rules()
        self.alarms: list[dict[str, Any]] = []
        self._last_step = -1
        self._real_spread: float | None = None

    def _fresh_rules(self) -> AlarmRules:
        t = self.template
        return replace(t)  # a fresh copy: the template's settings, no state carried over (non-init fields)

    def on_start(self, trainer: Trainer) -> None:
        # A resumed run: replay the kept records so that bests, streaks and raised alarms carry over.
        self.rules = self._fresh_rules()
        self._last_step = -1
        self._real_spread = None
        raised: list[dict[str, Any]] = []
        for record in read_jsonl(trainer.run.diagnostics):
            raised = self.rules.update(record)
            self._last_step = int(record.get("step", -1))
        self.alarms = read_jsonl(trainer.run.alarms)
        have = {(a.get("step"), a.get("kind")) for a in self.alarms}
        for alarm in raised:  # the last record's alarms, when a kill -9 cut them off after the record
            if (alarm["step"], alarm["kind"]) not in have:
                self.alarms.append(alarm)
                JsonlWriter(trainer.run.alarms).write(alarm)
        if self.every and not trainer.run.alarms.exists():  # an empty file: diagnostics ran, nothing raised
            trainer.run.alarms.parent.mkdir(parents=True, exist_ok=True)
            trainer.run.alarms.touch()

    def on_step(self, trainer: Trainer, step: int) -> None:
        if self.every and step % self.every == 0:
            self.record(trainer, step)

    def on_end(self, trainer: Trainer) -> None:
        if not self.every:
            return
        if self._last_step != trainer.step:
            self.record(trainer, trainer.step)
        if self.alarms:
            kinds = sorted({a["kind"] for a in self.alarms})
            log.info("diagnostics: %d alarm(s) (%s), see %s", len(self.alarms), ", ".join(kinds), trainer.run.alarms)
        if self.plot:
            from gankit.viz.diagnostics import plot_diagnostics

            plot_diagnostics(read_jsonl(trainer.run.diagnostics), self.alarms, trainer.run.diagnostics_png,
                             title=f"{trainer.cfg.run.name}: diagnostics")

    def record(self, trainer: Trainer, step: int) -> dict[str, Any]:
        """Measure, append to diagnostics.jsonl, raise alarms; returns the record."""
        record = self.measure(trainer, step)
        JsonlWriter(trainer.run.diagnostics).write(record)
        self._last_step = step
        for alarm in self.rules.update(record):
            self.alarms.append(alarm)
            JsonlWriter(trainer.run.alarms).write(alarm)
            log.warning("step %d: alarm %s: %s", alarm["step"], alarm["kind"], alarm["message"])
        return record

    @torch.no_grad()
    def measure(self, trainer: Trainer, step: int) -> dict[str, Any]:
        """One diagnostics record at ``step`` (JSON-serialisable); moves no RNG but private ones."""
        recipe, dataset, device = trainer.recipe, trainer.dataset, trainer.device
        seed = trainer.cfg.eval.seed + _SEED_OFFSET
        record: dict[str, Any] = {"step": step, "ema": trainer.ema is not None}
        gen = torch.Generator(device="cpu").manual_seed(seed + _STEP_STRIDE * step)
        scores = None
        if recipe.adversarial:  # the one interface every recipe with a D provides
            real = real_batch(trainer, self.n, seed + _STEP_STRIDE * step + 1)
            scores = None if real is None else recipe.discriminator_scores(real, generator=gen)
        if scores is not None:
            s_real, s_fake = (s.float().reshape(-1) for s in scores)
            to_prob = recipe.objective.to_prob if recipe.objective is not None else None
            record["scale"] = "probability" if to_prob is not None else "score"
            record.update(discriminator_accuracy(s_real, s_fake, to_prob))
            v_real = (to_prob(s_real) if to_prob is not None else s_real).double().cpu().numpy()
            v_fake = (to_prob(s_fake) if to_prob is not None else s_fake).double().cpu().numpy()
            record["d_real_mean"], record["d_fake_mean"] = float(v_real.mean()), float(v_fake.mean())
            record.update(score_histograms(v_real, v_fake, to_prob is not None, self.bins))
        for key in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
            if key in trainer.last_record:
                record[key] = trainer.last_record[key]
        net = trainer.sampling_net()
        if isinstance(dataset, PointSet) and dataset.modes is not None and dataset.mode_std is not None:  # mixtures
            gen = torch.Generator(device="cpu").manual_seed(seed)  # the same noise every time: a smooth curve
            fake = recipe.sample(self.n_modes, generator=gen, net=net)
            record.update(mode_coverage(fake.double().cpu().numpy().reshape(len(fake), -1), dataset.modes,
                                        dataset.mode_std))
        else:
            if self._real_spread is None:
                self._real_spread = mean_pairwise_distance(trainer.fixed_real[: self.n_diversity])
            with eval_mode(net):
                fake = net(trainer.fixed_noise[: self.n_diversity].to(device))
            record["diversity"] = mean_pairwise_distance(fake) / max(self._real_spread, 1e-12)
        return record
