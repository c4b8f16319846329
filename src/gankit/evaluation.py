"""Scoring generators: ``evaluate`` (a run's exported generator, with the real-vs-real floor, recorded in
metrics.jsonl) and ``evaluate_samples`` (any samples against any reference: ``gankit eval --fake``).
:mod:`gankit.api` re-exports both and :class:`Evaluation`; what each metric computes: docs/protocols.md."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gankit import budget
from gankit import config as config_mod
from gankit.data import build_dataset
from gankit.data.reference import reference_sample
from gankit.errors import CheckpointError, ConfigError, DataError
from gankit.generators import data_shape, load_generator, rejection_sampler
from gankit.metrics.features import extractor_in_use
from gankit.models.base import Recipe
from gankit.registry import RECIPES
from gankit.sampling import eval_samples, has_data_classes, sample_net_with_labels
from gankit.train.build import load_recipe
from gankit.train.callbacks import real_floor
from gankit.train.rundir import find_run
from gankit.train.stats import JsonlWriter

log = logging.getLogger("gankit")


@dataclass
class Evaluation:
    """What ``gankit eval`` measures: the model's metrics and the same metrics on real data.

    Attributes:
        step: training step of the exported generator.
        samples: generated samples scored (and real samples in each reference set).
        ema: whether the exported generator is the EMA one.
        model: metric values of the generator's samples against real data.
        floor: the same metrics with held-out real data in the generator's place (None when skipped or
            when none of them can score real data): what a perfect generator would score with this many samples.
        floor_kind: how the floor's "generated" side was drawn.
        extractor: the image features the metrics used ("" for points), with its description.
        sources: what was scored against what (outside samples: :func:`evaluate_samples`), one line each.
    """

    step: int
    samples: int
    ema: bool
    model: dict[str, float]
    floor: dict[str, float] | None = None
    floor_kind: str = ""
    extractor: str = ""
    sources: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of everything measured (``gankit eval -o result.json``)."""
        return {"samples": self.samples, "step": self.step, "ema": self.ema, "extractor": self.extractor,
                "sources": self.sources or [], "model": self.model, "floor_kind": self.floor_kind,
                "floor": self.floor}


def _metric_net(root: Path, cfg: Any, net: Any) -> Any:
    """What the metrics that score a generator are handed: ``net``, or for a recipe that overrides
    :meth:`Recipe.metric_net` (auto-encoders: their codes for ``code-prior``) what the run's last
    checkpoint makes of it."""
    if RECIPES.get(cfg.model.recipe).metric_net is Recipe.metric_net:
        return net
    try:
        recipe = load_recipe(root)[0]
    except CheckpointError as exc:
        log.warning("no metrics of the encoder (code-prior): %s", exc)
        return net
    return recipe.metric_net(net)


def evaluate(run: str | Path, n: int = 0, metrics: list[str] | None = None, floor: bool = True,
             write: bool = True, rejection: int = 0, progress: Callable[[str], None] | None = None,
             extractor: str | None = None) -> Evaluation:
    """Score a run's exported generator and, with ``floor``, real data the same way.

    Args:
        run: run directory or name under runs/.
        n: samples to score (0: the run's ``eval.num_samples``).
        metrics: metric names (default: the run's ``eval.metrics``, or "auto" when that is empty; "auto" =
            all that apply).
        floor: also compute the real-vs-real floor (:func:`held_out_reference` against the same real set).
        write: add the result to the run's metrics.jsonl (the floor under the key "floor"); it replaces an
            earlier ``gankit eval`` record of the same step, sample count, sampler and metrics.
        rejection: > 0: score discriminator-rejection samples instead (that many calibration steps;
            :func:`rejection_sampler`); the acceptance rate is added as ``acceptance``.
        progress: told each step (samples drawn, each metric with its sample count, the floor).
        extractor: image features (a registered name, ``inception:PATH``, ``torchscript:PATH``; None: the
            run's ``eval.extractor``, whose '' means the data set's default).

    Raises:
        ConfigError, DataError, CheckpointError: an unknown metric, no metric that applies (nothing is
            written), missing data, an unfinished run.
    """
    from gankit import metrics as metrics_mod

    rd = find_run(run)
    net, cfg, meta = load_generator(rd.root)
    n = int(n or cfg.eval.num_samples)
    if n <= 0:
        raise ConfigError(f"the number of samples must be > 0, got {n}")
    budget.check_samples(n, data_shape(meta), copies=3,  # fake, real, floor
                         fix="score fewer samples (-n, eval.num_samples)")
    names = list(metrics) if metrics else list(cfg.eval.metrics) or ["auto"]  # a run with none: all that apply
    dataset = build_dataset(cfg.data)
    used = extractor_in_use(dataset, cfg.eval.extractor if extractor is None else extractor)
    scored = None if rejection > 0 else _metric_net(rd.root, cfg, net)  # rejection samples: no needs_net metrics
    if not metrics_mod.resolve(names, dataset, labels=has_data_classes(scored), net=scored):
        raise ConfigError(f"nothing to evaluate for '{rd.root}': {metrics_mod.none_apply(dataset)} "
                          f"(metrics: {', '.join(names)}); nothing was appended to {rd.metrics.name}")
    extra: dict[str, float] = {}
    say = progress or (lambda message: None)
    if rejection > 0:
        say(f"discriminator rejection sampling: calibrating D for {rejection} steps, then {n} accepted samples")
        real = reference_sample(dataset, n, cfg.eval.seed + 3)
        res = rejection_sampler(rd.root, rejection, net=net)(n)
        fake, labels, extra = res.samples.numpy(), None, {"acceptance": res.acceptance}
    else:  # the samples the end-of-training metrics score: the same numbers for the same generator
        say(f"generating {n} samples")
        fake, labels, real = eval_samples(net, dataset, n, cfg.eval.seed)
    result = Evaluation(int(meta.get("step", 0)), n, meta.get("ema") == "true",
                        {**metrics_mod.evaluate(names, fake, real, dataset, labels=labels, progress=progress,
                                                net=scored), **extra},
                        extractor=used)
    if floor:
        floor_values = real_floor(cfg, dataset, names, real, progress)
        if floor_values is not None:  # else no floor (caption-match alone: the generator is scored)
            result.floor_kind = floor_values.pop("kind")
            result.floor = floor_values
    if write:
        record: dict[str, Any] = {"step": result.step, "source": "gankit eval", "samples": n, "ema": result.ema,
                                  **({"sampler": f"rejection ({rejection} calibration steps)"} if rejection else {}),
                                  **({"extractor": used.split(" (")[0]} if used else {}),
                                  **result.model}
        if result.floor is not None:
            record["floor"] = {"kind": result.floor_kind, **result.floor}
        JsonlWriter(rd.metrics).put(record, _eval_key)
    return result


def _is_run(path: Any) -> bool:
    return isinstance(path, (str, Path)) and (Path(path) / "config.yaml").is_file()


def evaluate_samples(fake: Any, real: Any = None, data: str | None = None, data_options: list[str] | tuple = (),
                     metrics: list[str] | None = None, extractor: str | None = None, n: int = 0, floor: bool = True,
                     value_range: str | None = None, size: int | None = None, seed: int | None = None,
                     progress: Callable[[str], None] | None = None) -> Evaluation:
    """Score any samples against any reference, with the real-vs-real floor (``gankit eval --fake``).

    Args:
        fake: a run folder (its generator draws ``n`` samples under ``eval.seed + 2``, as :func:`evaluate`),
            an ``.npy``/``.npz`` file or a folder of PNG/JPEG images (:func:`gankit.data.samples.load_samples`),
            or an array/tensor: points (N, D) or images (N, C, H, W), (N, H, W, C), (N, H, W).
        real: the reference, any of the same but a run; None: ``data``, or the run's own data set.
        data: a data set name (``gankit list datasets``) as the reference, with ``data_options``
            ("path=DIR", "image_size=16": the data section's keys).
        metrics: metric names (default "auto": all that apply).
        extractor: image features (registered name, ``inception:PATH[:SHA256]``, ``torchscript:PATH``);
            None: the data set's default (outside references: the random embedding, keys ``rand_*``).
        n: samples to score (0: all the fake samples; a run: its ``eval.num_samples``).
        floor: also score real data in the samples' place. With ``data``: as :func:`evaluate` does (held-out
            split or a second independent sample). With ``real``: the real samples are split at random into
            two halves, one the reference and the other the floor's "generated" side; the fake samples are
            then cut to the half's size so every column has the same N (FID's bias depends on N).
        value_range: the range of array values ("-1,1", "0,1", "0,255"; None: detected).
        size: resize images to ``size`` x ``size`` (None: never resized; shapes must then match).
        seed: evaluation seed (reference draws under seed + 3, the floor under seed + 4; default 1234 or the run's).
        progress: told each step.

    Returns:
        An :class:`Evaluation` whose ``sources`` say what was read and how.

    Raises:
        ConfigError: an unknown metric, data set or extractor. DataError: unreadable samples, an ambiguous
        range, mismatched shapes, too few samples for a named metric.
    """
    from gankit import metrics as metrics_mod
    from gankit.data.samples import OutsideSet, Samples, as_samples, load_samples

    if real is not None and data:
        raise ConfigError("give the reference either as real samples (--real) or as a data set (--data), not both")
    if _is_run(real):
        raise ConfigError(f"the reference '{real}' is a run folder; give real samples (a file or an image folder) "
                          "or --data NAME")
    if n < 0:
        raise ConfigError(f"the number of samples must be >= 0, got {n}")
    if real is None and not data and not _is_run(fake):
        raise ConfigError("outside samples need a reference: --real PATH (an .npy/.npz file or an image folder) "
                          "or --data NAME (a data set)")
    say = progress or (lambda message: None)
    if _is_run(fake) and real is None and not data:  # a run against its own data: exactly `gankit eval RUN`
        result = evaluate(fake, n, metrics, floor, write=False, progress=progress, extractor=extractor)
        result.sources = [f"run '{find_run(fake).root}': {result.samples} generated samples", "its own data set"]
        return result
    names = list(metrics) if metrics else ["auto"]
    cfg = None
    if data:
        base = config_mod.resolve(None, overrides=[f"data.name={data}", *(f"data.{o}" for o in data_options)]
                                  + ([f"eval.seed={seed}"] if seed is not None else []))
        cfg = base
    step, ema = 0, False
    if _is_run(fake):
        net, run_cfg, meta = load_generator(fake)
        step, ema = int(meta.get("step", 0)), meta.get("ema") == "true"
        seed = run_cfg.eval.seed if seed is None else seed
        count = int(n or run_cfg.eval.num_samples)
        say(f"generating {count} samples")
        x, _ = sample_net_with_labels(net, count, seed=seed + 2)
        kind = "image" if x.ndim == 4 else "points"
        f = Samples(x.astype(np.float32 if kind == "image" else np.float64), kind,
                    f"run '{find_run(fake).root}' (step {step})", "-1,1" if kind == "image" else "", False)
        cfg = cfg or (run_cfg if real is None else None)
    seed = config_mod.EvalConfig().seed if seed is None else seed
    dataset = build_dataset(cfg.data) if cfg is not None else None
    channels = dataset.shape[0] if dataset is not None and dataset.kind == "image" else None
    if not _is_run(fake):
        say(f"reading {fake if isinstance(fake, (str, Path)) else 'the samples'}")
        f = load_samples(fake, value_range, size, channels, what="fake samples") if isinstance(fake, (str, Path)) \
            else as_samples(fake, value_range, size, channels, what="fake samples")
    if n and n > len(f.x):
        raise DataError(f"-n {n} asks for more samples than the {len(f.x)} fake samples given")
    fx = f.x[:n] if n else f.x
    sources = [f.describe()]
    if cfg is not None and dataset is not None:  # a data set as the reference
        want = tuple(dataset.shape) if dataset.kind == "image" else (dataset.dim,)
        if f.kind != dataset.kind or f.shape != want:
            square = f.kind == "image" == dataset.kind and want[1] == want[2]
            fix = f"; resize them with --size {want[-1]}" if square else ""
            raise DataError(f"the fake samples are {f.kind} of shape {'x'.join(map(str, f.shape))} but data set "
                            f"'{cfg.data.name}' has {dataset.kind} of shape {'x'.join(map(str, want))}{fix}")
        used = extractor_in_use(dataset, extractor or cfg.eval.extractor)
        say(f"drawing {len(fx)} reference samples from '{cfg.data.name}'")
        ref = reference_sample(dataset, len(fx), cfg.eval.seed + 3)
        sources.append(f"data set '{cfg.data.name}': {len(fx)} samples drawn under eval.seed + 3 = {cfg.eval.seed + 3}")
        result = Evaluation(step, len(fx), ema, metrics_mod.evaluate(names, fx, ref, dataset, progress=progress),
                            extractor=used, sources=sources)
        floor_values = real_floor(cfg, dataset, names, ref, progress) if floor else None
        if floor_values is not None:  # None: no metric asked for has a floor
            result.floor_kind = floor_values.pop("kind")
            result.floor = floor_values
        return result
    say(f"reading {real if isinstance(real, (str, Path)) else 'the real samples'}")
    channels = f.shape[0] if f.kind == "image" else None
    r = load_samples(real, value_range, size, channels, what="real samples") if isinstance(real, (str, Path)) \
        else as_samples(real, value_range, size, channels, what="real samples")
    if r.kind != f.kind or r.shape != f.shape:
        raise DataError(f"the fake samples are {f.kind} of shape {'x'.join(map(str, f.shape))} but the real ones "
                        f"{r.kind} of shape {'x'.join(map(str, r.shape))}" + ("; resize both with --size S"
                                                                           if f.kind == "image" == r.kind else ""))
    sources.append(r.describe())
    dataset = OutsideSet(f.kind, f.shape)
    used = extractor_in_use(dataset, extractor or "")
    perm = np.random.default_rng(seed + 3).permutation(len(r.x))
    m = len(fx)
    if floor:
        m = min(m, len(r.x) // 2)
        if m < 1:
            raise DataError(f"the real-vs-real floor needs at least 2 real samples, got {len(r.x)}; add real "
                            "samples or pass --no-floor")
        if m < len(fx):
            sources.append(f"scored on the first {m} fake samples: the floor needs a second disjoint set of {m} "
                           "real ones, and only then is every column at the same N")
        fx = fx[:m]
    real_x = r.x[perm[:m]] if floor else r.x
    result = Evaluation(step, len(fx), ema, metrics_mod.evaluate(names, fx, real_x, dataset, progress=progress),
                        extractor=used, sources=sources)
    if floor:
        plain = [k for k in names if k == "auto" or not metrics_mod.needs_labels(k)]
        say("real-vs-real floor: two disjoint random halves of the real samples")
        result.floor = metrics_mod.evaluate(plain, r.x[perm[m:2 * m]], real_x, dataset, progress=progress)
        result.floor_kind = "two disjoint random halves of the real samples"
    return result


def _eval_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """A repeated ``gankit eval`` replaces its earlier record when it measured the same thing (step, sample
    count, sampler, metric names: with fixed seeds, the same numbers); other options add a record."""
    meta = {"step", "source", "samples", "ema", "sampler", "floor", "extractor"}
    return (record.get("step"), record.get("source"), record.get("samples"), record.get("sampler"),
            record.get("extractor"), tuple(sorted(k for k in record if k not in meta)))
