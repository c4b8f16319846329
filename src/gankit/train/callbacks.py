"""Training callbacks: fixed-noise snapshots and figures, periodic evaluation, end-of-run figures.

Callbacks draw their randomness from private ``torch.Generator`` s or inside ``torch.random.fork_rng``,
so they never move the training RNG: a run with figures and one without train identically, and a
resumed run matches an uninterrupted one bit for bit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gankit.data.base import LabelledDataset, PointSet
from gankit.data.reference import held_out_reference
from gankit.errors import ConfigError
from gankit.evalmode import evaluating
from gankit.fileio import atomic_write_text
from gankit.nets.capabilities import ClassConditional
from gankit.nets.priors import box as prior_box
from gankit.sampling import class_samples, eval_samples, stage_images
from gankit.train.progress import Announcer
from gankit.train.stats import JsonlWriter, read_jsonl

if TYPE_CHECKING:
    from gankit.train.trainer import Trainer

log = logging.getLogger("gankit")


class Callback:
    def on_start(self, trainer: Trainer) -> None:
        pass

    def on_step(self, trainer: Trainer, step: int) -> None:
        pass

    def on_end(self, trainer: Trainer) -> None:
        pass

    def end_note(self, trainer: Trainer) -> str:
        """What ``on_end`` will spend time on, for the run's duration estimate ("" if nothing worth saying)."""
        return ""


MAPPING_PAIRS = 30
"""1-D data from 1-D noise: how many (z, G(z)) pairs a snapshot keeps for the figure's z -> x arrows."""


def toy_view(trainer: Trainer, step: int, grid_n: int = 60) -> dict[str, Any]:
    """What the figures, the dashboard and ``gankit lab`` show for 1-D and 2-D data at ``step``, as arrays.

    Fake points come from fixed noise (the EMA generator when enabled); D(x) is evaluated on a grid over
    the plotting box; arrows are -∇_x of the generator's loss at each fake point (where G moves it).
    ``real``, ``fake``, ``arrows`` are (N, dim) arrays, ``grid`` holds the axes and D ((ny, nx) in 2-D),
    ``density`` p_data on a line (1-D with a known density); :func:`toy_snapshot` makes it JSON. With
    1-D data and 1-D noise, ``mapping`` holds the pairs (z, G(z)) at ``MAPPING_PAIRS`` evenly spaced
    quantiles of the fixed noise (lists): the lecture's arrows from the noise line to the data line.
    """
    recipe, dataset = trainer.recipe, trainer.dataset
    assert isinstance(dataset, PointSet)  # ToyFigures and the lab: 1-D and 2-D points only
    net = trainer.sampling_net()
    device = trainer.device
    with evaluating(net):
        fake = net(trainer.fixed_noise.to(device)).float()
    dim = dataset.dim
    box = dataset.bounds()
    f = fake.cpu().double().numpy()
    lo = np.minimum(box[:, 0], np.quantile(f, 0.01, axis=0))
    hi = np.maximum(box[:, 1], np.quantile(f, 0.99, axis=0))
    span = hi - lo
    lo, hi = lo - 0.02 * span, hi + 0.02 * span
    objective = recipe.objective
    to_prob = objective.to_prob if objective is not None else None
    view: dict[str, Any] = {
        "step": step,
        "dim": dim,
        "dataset": dataset.name,
        "objective": objective.name if objective is not None else "",
        "bounds": np.stack([lo, hi], 1).tolist(),
        "real": trainer.fixed_real.numpy(),
        "fake": f,
        "grid": None,
        "d_label": "D(x)" if to_prob is not None else "critic score (rescaled to [0, 1])",
        "arrows": None,
        "density": None,
        "ema": trainer.ema is not None,
        "mapping": None,
    }
    noise = trainer.fixed_noise
    if dim == 1 and noise.ndim == 2 and noise.shape[1] == 1:
        order = np.argsort(noise[:, 0].cpu().numpy(), kind="stable")
        pick = order[((np.arange(MAPPING_PAIRS) + 0.5) / MAPPING_PAIRS * len(order)).astype(int)]
        prior = trainer.cfg.generator.prior
        view["mapping"] = {"prior": prior, "range": list(prior_box(prior)),  # the noise line: U(0, 1), N(0, 1)'s ±3σ
                           "z": noise[pick, 0].cpu().double().numpy().round(5).tolist(),
                           "x": f[pick, 0].round(5).tolist()}
    if dim == 1:
        xs = np.linspace(lo[0], hi[0], 200)
        pts = torch.as_tensor(xs[:, None], dtype=torch.float32, device=device)
    else:
        xs, ys = np.linspace(lo[0], hi[0], grid_n), np.linspace(lo[1], hi[1], grid_n)
        gx, gy = np.meshgrid(xs, ys)  # (ny, nx)
        pts = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32, device=device)
    scores = recipe.scores(pts)  # None: no D of points to show (Recipe.scores)
    if scores is not None:
        s = scores.float()
        d = (to_prob(s) if to_prob is not None else (s - s.min()) / (s.max() - s.min()).clamp_min(1e-12)).cpu().numpy()
        view["grid"] = {"x": xs, "d": d} if dim == 1 else {"x": xs, "y": ys, "d": d.reshape(grid_n, grid_n)}
    push = recipe.generator_push(fake)  # None: no generator gradient to show (Recipe.generator_push)
    if push is not None:
        view["arrows"] = push.cpu().numpy()
    if dim == 1 and dataset.has_density:
        xs = np.linspace(lo[0], hi[0], 400)
        log_p = dataset.log_prob(xs[:, None])  # not None: has_density
        view["density"] = {"x": xs, "p": np.exp(log_p) if log_p is not None else None}
    return view


def toy_snapshot(trainer: Trainer, step: int, grid_n: int = 60) -> dict[str, Any]:
    """:func:`toy_view` as JSON-serialisable lists (5 decimals; 6 for the arrows and p_data): snapshots/step-N.json."""
    view = toy_view(trainer, step, grid_n)
    lists = lambda a, digits=5: a.round(digits).tolist()  # noqa: E731
    snap = {**view, "real": lists(view["real"]), "fake": lists(view["fake"])}
    if view["grid"] is not None:
        snap["grid"] = {k: lists(v) for k, v in view["grid"].items()}
    if view["arrows"] is not None:
        snap["arrows"] = lists(view["arrows"], 6)
    if view["density"] is not None:
        snap["density"] = {"x": lists(view["density"]["x"]), "p": lists(view["density"]["p"], 6)}
    return snap


class _Frames(Callback):
    """Every ``every`` steps (and at the lecture's steps 100, 1000, 2000, 5000, ...) a frame in samples/;
    at the end: montage.png and montage.gif across training, and curves.png from stats.jsonl."""

    def __init__(self, every: int) -> None:
        self.every = every

    def _write(self, trainer: Trainer, step: int) -> None:
        raise NotImplementedError

    def on_step(self, trainer: Trainer, step: int) -> None:
        from gankit.viz import LECTURE_STEPS

        # the lecture shows training at steps 100, 1000, 2000, 5000, ...: always keep those frames
        if (self.every and step % self.every == 0) or step in LECTURE_STEPS:
            self._write(trainer, step)

    def on_end(self, trainer: Trainer) -> None:
        from gankit.viz import make_montage, pick_steps, plot_stats

        run = trainer.run
        if not run.sample_path(trainer.step).exists():
            self._write(trainer, trainer.step)
        frames = run.sample_frames()
        if frames:
            chosen = set(pick_steps([s for s, _ in frames]))
            make_montage([f for f in frames if f[0] in chosen], run.montage_png, run.montage_gif, gif_frames=frames)
        stats = read_jsonl(run.stats)
        if stats:
            plot_stats(stats, run.curves, title=f"{trainer.cfg.run.name}: training curves")


class ToyFigures(_Frames):
    """1-D/2-D point data: snapshots/step-N.json and samples/step-N.png (GAN Lab's picture)."""

    def _write(self, trainer: Trainer, step: int) -> None:
        from gankit.viz import plot_snapshot

        run = trainer.run
        snap = toy_snapshot(trainer, step)
        atomic_write_text(run.snapshot_path(step), json.dumps(snap))
        title = (f"{trainer.cfg.run.name} · {trainer.cfg.model.objective} · step {step}"
                 + (" · EMA G" if snap["ema"] else ""))
        plot_snapshot(snap, run.sample_path(step), title=title)


class ImageGrids(_Frames):
    """Image data: an 8x8 grid of samples from fixed noise in samples/step-N.png."""

    def _write(self, trainer: Trainer, step: int) -> None:
        from gankit.viz import save_image_grid

        net = trainer.sampling_net()
        with evaluating(net):
            x = net(trainer.fixed_noise[:64].to(trainer.device)).float().cpu().numpy()
        save_image_grid(x, trainer.run.sample_path(step))


class StageFigure(Callback):
    """Generators with ``stages(z)`` (LAPGAN, StackGAN): stages.png at the end, each sampling stage of 8
    fixed-noise samples."""

    rows = 8

    def on_end(self, trainer: Trainer) -> None:
        from gankit.viz.stages import plot_stages

        stages = stage_images(trainer.sampling_net(), trainer.fixed_noise[: self.rows].to(trainer.device))
        plot_stages(stages, trainer.run.root / "stages.png",
                    title=f"{trainer.cfg.run.name}: coarse-to-fine sampling, step {trainer.step}")


class ClassGrid(Callback):
    """Conditional generators on image data: classes.png at the end, one row of samples per class."""

    def __init__(self, per_class: int = 10, seed: int = 0) -> None:
        self.per_class = per_class
        self.seed = seed

    def on_end(self, trainer: Trainer) -> None:
        from gankit.viz.images import save_class_grid

        net = trainer.sampling_net()
        if not isinstance(net, ClassConditional) or not net.num_classes:  # e.g. pix2pix: pairs, not classes
            return
        x = class_samples(net, self.per_class, self.seed)  # (K, per_class, C, H, W)
        dataset = trainer.dataset
        save_class_grid(x, trainer.run.classes_png, dataset.class_names if isinstance(dataset, LabelledDataset) else ())


def real_floor(cfg: Any, dataset: Any, names: list[str], real: torch.Tensor,
               progress: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """The metrics ``names`` with held-out real data (:func:`held_out_reference`) in the generator's place,
    against the same ``real`` set: what a perfect generator would score with this many samples.

    Real data carry no generated-for classes nor a generator: the conditional and generator-scoring
    (caption-match) metrics have no floor. Returns ``{"kind": how the held-out side was drawn, **metric
    values}``, or None when no metric with a floor applies.
    """
    from gankit import metrics as metrics_mod

    plain = [m for m in names if m == "auto" or not (metrics_mod.needs_labels(m) or metrics_mod.needs_net(m))]
    if not metrics_mod.resolve(plain, dataset):
        return None
    other, kind = held_out_reference(cfg, dataset, len(real))
    say = None
    if progress is not None:
        progress(f"real-vs-real floor: {kind}")
        say = lambda message: progress(f"floor {message}")  # noqa: E731
    return {"kind": kind, **metrics_mod.evaluate(plain, other, real, dataset, progress=say)}


def evaluate_run(trainer: Trainer, rejection: bool = False, floor: bool = False,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Metrics of ``cfg.eval.metrics`` on ``eval.num_samples`` samples with the evaluation RNG.

    With ``rejection`` and ``eval.rejection`` > 0, also the same metrics of discriminator-rejection
    samples (:mod:`gankit.rejection`), prefixed ``drs_``, and their acceptance rate ``drs_acceptance``.
    With ``floor``, also the real-vs-real floor (:func:`real_floor`) under the key ``"floor"``.
    ``progress`` is told each step (samples drawn, each metric, the floor).
    """
    from gankit.metrics import evaluate

    cfg = trainer.cfg
    say = progress or (lambda message: None)
    net = trainer.sampling_net()
    say(f"generating {cfg.eval.num_samples} samples (eval.num_samples)")
    fake, labels, real = eval_samples(net, trainer.dataset, cfg.eval.num_samples, cfg.eval.seed)

    def score(x: torch.Tensor, classes: torch.Tensor | None = None, scored: Any = None) -> dict[str, float]:
        return evaluate(cfg.eval.metrics, x.detach().cpu().double().numpy().reshape(len(x), -1),
                        real.double().numpy().reshape(len(real), -1), trainer.dataset,
                        labels=None if classes is None else classes.cpu().numpy(), progress=progress, net=scored)

    values: dict[str, Any] = score(fake, labels, trainer.recipe.metric_net(net))  # auto-encoders: with codes
    if rejection and cfg.eval.rejection > 0:
        from gankit.rejection import config_sampler

        say(f"discriminator rejection sampling: calibrating D for {cfg.eval.rejection} steps (eval.rejection), "
            f"then {cfg.eval.num_samples} accepted samples")
        draw = config_sampler(trainer.recipe, trainer.dataset, trainer.sampling_net(), cfg)
        try:
            res = draw(cfg.eval.num_samples)
        except ConfigError as exc:  # the trained run is fine: say why there are no drs_* numbers, do not fail it
            log.warning("no rejection-sampling metrics: %s", exc)
            values["drs_acceptance"] = 0.0
        else:
            values.update({f"drs_{k}": v for k, v in score(res.samples).items()})
            values["drs_acceptance"] = res.acceptance
    floor_values = real_floor(cfg, trainer.dataset, list(cfg.eval.metrics), real, progress) if floor else None
    if floor_values is not None:
        values["floor"] = floor_values
    return values


def training_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a metrics.jsonl record unique: training's are one per step (they have no "source")."""
    return record.get("step"), record.get("source")


class Evaluator(Callback):
    """metrics.jsonl every ``every`` steps (0: only at the end) and at the end of training."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.last: dict[str, Any] = {}

    def _run(self, trainer: Trainer, step: int, show: bool = True) -> None:
        from gankit.metrics.keys import brief

        cfg = trainer.cfg
        announce = Announcer(f"evaluation at step {step}", log.info) if cfg.train.progress else None
        # DRS and the real-vs-real floor only at the end: they cost as much as the evaluation again
        values = evaluate_run(trainer, rejection=not show, floor=not show and cfg.eval.floor, progress=announce)
        if announce is not None:
            announce.done()
        self.last = values
        # one training record per step: the end of a resumed finished run (or a time limit at an eval step)
        # replaces the earlier one instead of adding a copy
        JsonlWriter(trainer.run.metrics).put({"step": step, "ema": trainer.ema is not None, **values}, training_key)
        if show:  # the final numbers are printed by the caller's summary
            log.info("step %d: %s (all of it in %s)", step, brief(values), trainer.run.metrics.name)

    def on_step(self, trainer: Trainer, step: int) -> None:
        if self.every and step % self.every == 0 and step != trainer.cfg.train.steps:
            self._run(trainer, step)

    def on_end(self, trainer: Trainer) -> None:
        self._run(trainer, trainer.step, show=False)

    def end_note(self, trainer: Trainer) -> str:
        ev = trainer.cfg.eval
        return (f"the final evaluation of {ev.num_samples} samples (eval.num_samples)"
                + (" and its real-vs-real floor (eval.floor)" if ev.floor else ""))
