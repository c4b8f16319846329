"""The library's front door: train, resume, load a generator, sample. The CLI is a thin layer on this.

    >>> from gankit import api, config
    >>> cfg = config.resolve("ring8", overrides=["train.steps=200"])
    >>> run = api.train(cfg)                   # runs/ring8/ with stats, checkpoints, figures
    >>> x = api.sample(run.root, 1000)         # (1000, 2) numpy array
"""

from __future__ import annotations

import copy
import errno
import inspect
import io
import json
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open

from gankit import budget
from gankit import config as config_mod
from gankit.config import RESUMABLE, changed_keys, non_resumable  # noqa: F401  (re-exported: public api)
from gankit.data import build_dataset
from gankit.data.reference import held_out_reference, held_out_split, reference_sample  # noqa: F401  (re-exported)
from gankit.errors import CheckpointError, ConfigError, DataError
from gankit.fileio import remove_stale_temporaries
from gankit.metrics.features import extractor_in_use
from gankit.sampling import (  # noqa: F401  (re-exported)
    MAX_GRID_CLASSES,
    class_samples,
    eval_samples,
    has_data_classes,
    iter_samples,
    sample_net,
    sample_net_with_labels,
    stage_images,
)
from gankit.train import distributed
from gankit.train.build import build_generator, build_trainer, fits, load_recipe, select_device  # noqa: F401  (re-exported)
from gankit.train.callbacks import Callback, real_floor
from gankit.train.checkpoint import load_training_checkpoint, restore, verify_export
from gankit.train.rundir import RunDir, find_run
from gankit.train.stats import JsonlWriter, last_logged, truncate_after
from gankit.yamlio import json_int

log = logging.getLogger("gankit")

def run_dir_for(cfg: Any) -> RunDir:
    return RunDir(Path(cfg.run.out_dir) / cfg.run.name)


def train(cfg: Any, overwrite: bool = False, callbacks: list[Callback] | None = None) -> RunDir:
    """Train a new run; the run directory must not exist unless ``overwrite``.

    Under torchrun (``WORLD_SIZE`` > 1) this joins the process group; every rank trains, rank 0 writes.
    """
    run = run_dir_for(cfg)
    with distributed.session(select_device(cfg.run.device)) as ctx:
        if run.root.exists() and not run.root.is_dir():
            raise ConfigError(f"run directory '{run.root}' is a file; pick another run.name or run.out_dir")
        if run.root.exists() and any(run.root.iterdir()) and not overwrite:
            raise ConfigError(
                f"run directory '{run.root}' already exists; continue it with 'gankit train --resume {run.root}', "
                "replace it with --overwrite, or pick another run.name"
            )
        if overwrite:
            run.check_removable()  # only a gankit run (its marker) or an empty folder is ever replaced
        trainer = build_trainer(cfg, run, callbacks)  # fails on bad data before anything is written
        distributed.barrier(ctx)  # every rank has looked at the run directory before rank 0 replaces it
        if ctx.is_main:
            if overwrite:
                run.remove()
            run.root.mkdir(parents=True, exist_ok=True)
            run.mark()
            config_mod.save(cfg, run.config)
        distributed.barrier(ctx)
        trainer.fit()
    return run


def check_checkpoint_matches(run: RunDir, saved: Any) -> dict[str, Any]:
    """The checkpoint must belong to the run: its config may differ from config.yaml only in RESUMABLE keys.

    Returns:
        config.yaml as a dict.

    Raises:
        ConfigError: config.yaml is not a valid config.
        CheckpointError: checkpoints/last.pt was written by another run (copied in from elsewhere).
    """
    current = config_mod.to_dict(config_mod.load(run.config))
    bad = [k for k in non_resumable(current, config_mod.to_dict(saved)) if k != "preset"]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise CheckpointError(f"checkpoint '{run.checkpoint}' belongs to another run: its config differs from "
                              f"'{run.config}' in {shown}")
    return current


def _dotted(d: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        d = d[part]
    return d


def _take_edits(run: RunDir, saved: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``saved`` (the checkpoint's config) with the RESUMABLE values of config.yaml where they differ (a hand
    edit, or the overrides of a resume killed before its first checkpoint), said in one log line."""
    edited = [k for k in changed_keys(saved, current) if k != "preset" and k not in non_resumable(saved, current)]
    if not edited:
        return saved
    out = copy.deepcopy(saved)
    for key in edited:
        *path, last = key.split(".")
        target = out
        for part in path:
            target = target[part]
        target[last] = copy.deepcopy(_dotted(current, key))
    shown = ", ".join(f"{k} {_dotted(saved, k)!r} -> {_dotted(current, k)!r}" for k in edited[:5])
    log.warning("%s differs from the checkpoint in %s%s: resuming with config.yaml's values (KEY=VALUE overrides "
                "win over both)", run.config, shown, f" and {len(edited) - 5} more" if len(edited) > 5 else "")
    return out


def resume(name: str | Path, overrides: list[str] | None = None, callbacks: list[Callback] | None = None) -> RunDir:
    """Continue a run from checkpoints/last.pt; ``overrides`` may only touch RESUMABLE keys.

    RESUMABLE keys edited by hand in config.yaml since the checkpoint are honoured (and said in one log
    line); ``overrides`` win over them.
    """
    run = find_run(name)
    if not run.checkpoint.exists():
        raise CheckpointError(f"'{run.root}' has no checkpoint yet (it stopped before its first one, "
                              f"{run.checkpoint.relative_to(run.root)}); start it again with --overwrite")
    state = load_training_checkpoint(run.checkpoint)
    saved = config_mod.from_dict(state["config"])
    current = check_checkpoint_matches(run, saved)
    base = _take_edits(run, config_mod.to_dict(saved), current)
    cfg = config_mod.from_dict(config_mod.apply_overrides(base, overrides or []))
    bad = non_resumable(config_mod.to_dict(saved), config_mod.to_dict(cfg))
    if bad:
        raise ConfigError(
            f"cannot change {', '.join(bad)} when resuming (allowed: {', '.join(RESUMABLE)}); start a new run instead"
        )
    with distributed.session(select_device(cfg.run.device)) as ctx:
        trainer = build_trainer(cfg, run, callbacks)
        restore(trainer, state, run.checkpoint)  # every rank loads the checkpoint
        if ctx.is_main:
            remove_stale_temporaries(run.root)  # left by writes that a kill -9 interrupted
            run.mark()  # a run made before the marker existed gets it
            for path in (run.stats, run.metrics, run.diagnostics, run.alarms):
                truncate_after(path, trainer.step)  # drop lines a crashed run wrote after its last checkpoint
            trainer.last_record = last_logged(run.stats)  # what end-of-run records repeat (diagnostics' losses)
            config_mod.save(cfg, run.config)
            log.info("resuming %s at step %d of %d", run.root, trainer.step, cfg.train.steps)
        distributed.barrier(ctx)
        trainer.fit()
    return run


def load_generator(run: str | Path) -> tuple[torch.nn.Module, Any, dict[str, str]]:
    """Rebuild the exported generator of a run: (net in eval mode, config, safetensors metadata)."""
    rd = find_run(run)
    path = rd.generator
    if not path.is_file():
        raise CheckpointError(f"'{path}' does not exist: the run has not finished (resume it, or train longer)")
    def unreadable(exc: Exception) -> CheckpointError:
        return CheckpointError(f"'{path}' is not a readable safetensors file ({str(exc).splitlines()[0]})")

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise unreadable(exc) from None
    if meta.get("format") != "gankit-generator":
        raise CheckpointError(f"'{path}' is not a gankit generator export")

    def refuse(exc: Exception) -> CheckpointError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CheckpointError(f"'{path}' does not hold a generator its metadata can rebuild ({first[:300]})")

    try:
        cfg = config_mod.from_dict(json.loads(meta["config"], parse_int=json_int))
        shape = tuple(int(d) for d in json.loads(meta["data_shape"], parse_int=json_int))
        if not 1 <= len(shape) <= 3 or min(shape) < 1:
            raise ValueError(f"data_shape {shape} is not the shape of points or images")
        fp = budget.footprint(budget.on_meta(lambda: {"generator": build_generator(cfg, shape)}), shape, forward=False)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:  # ConfigError is a ValueError
        raise refuse(exc) from None
    budget.check_generator(fp, f"the generator of '{path}'")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise unreadable(exc) from None
    verify_export(path, tensors, meta)
    try:
        net = build_generator(cfg, shape)
        net.load_state_dict(tensors)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise refuse(exc) from None
    net.eval()
    budget.check_generator(budget.footprint({"generator": net}, shape), f"sampling from '{path}'")
    return net, cfg, meta


def data_shape(meta: dict[str, str]) -> tuple[int, ...]:
    """The data shape recorded in a generator export's metadata (checked by :func:`load_generator`)."""
    return tuple(int(d) for d in json.loads(meta["data_shape"]))


def _check_text(net: torch.nn.Module, cfg: Any, run: str | Path, text: str | None) -> None:
    if text is not None and "text" not in inspect.signature(net.sample_noise).parameters:
        raise ConfigError(f"--text needs a text-to-image run (e.g. preset stackgan-shapes); "
                          f"'{run}' has a '{cfg.generator.name}' generator")


def sample(run: str | Path, n: int, seed: int = 0, rejection: int = 0, text: str | None = None,
           labels: Any = None, loaded: tuple[torch.nn.Module, Any, dict[str, str]] | None = None) -> np.ndarray:
    """``n`` samples from a run's exported generator, (n, *data_shape), reproducible under ``seed``.

    ``rejection`` > 0: discriminator rejection sampling after that many calibration steps of the run's
    discriminator against the exported generator (:func:`rejection_sampler`). ``text``: a caption every
    sample is drawn for (text-to-image generators such as stackgan). ``labels`` (one class or n of them)
    asks a conditional generator for those classes. ``loaded``: :func:`load_generator`'s result for
    ``run`` when the caller has it already.
    """
    if n <= 0:
        raise ConfigError(f"the number of samples must be > 0, got {n}")
    if rejection > 0 and (text is not None or labels is not None):
        raise ConfigError("--rejection cannot be combined with --text or --label")
    net, cfg, meta = loaded or load_generator(run)
    budget.check_samples(n, data_shape(meta), copies=2 if rejection > 0 else 1)  # rejection: kept + proposed
    if rejection > 0:
        log.info("rejection sampling: calibrating the discriminator for %d steps, then %d accepted samples",
                 rejection, n)
        return rejection_sampler(run, rejection, seed=seed, net=net)(n).samples.numpy()
    _check_text(net, cfg, run, text)
    return sample_net_with_labels(net, n, seed, labels, text=text)[0]


def load_translator(run: str | Path) -> tuple[torch.nn.Module, Any]:
    """The exported generator of an image-to-image run (pix2pix) and its config, or a ConfigError."""
    net, cfg, _ = load_generator(run)
    if not hasattr(net, "source_shape"):
        raise ConfigError(f"'{run}' is a '{cfg.model.recipe}' run; translating images needs an image-to-image run "
                          "(model.recipe=pix2pix, e.g. preset pix2pix-shapes)")
    return net, cfg


def is_translator(run: str | Path) -> bool:
    """Whether a run's exported generator translates images (pix2pix); False for other runs."""
    net, _, _ = load_generator(run)
    return hasattr(net, "source_shape")


def translate(run: str | Path, inputs: list[str | Path], out: str | Path, seed: int = 0) -> list[Path]:
    """Translate images (files, folders, .npy arrays) with a pix2pix run; write them to ``out`` (a .npy, a
    .png for one input, or a folder of PNGs, see gankit.translate). Returns the paths written."""
    from gankit.translate import read_inputs, run_translator, write_outputs

    net, _ = load_translator(run)
    c, s, _ = net.source_shape
    batch = read_inputs(list(inputs), c, s)
    return write_outputs(out, run_translator(net, batch.images, seed), batch.names)


def translation_triples(run: str | Path, rows: int = 8, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """(name, (rows, C, S, S)) input, output and target of a pix2pix run's first ``rows`` held-out pairs."""
    from gankit.models.pix2pix import triples

    if rows < 1:
        raise ConfigError(f"rows must be >= 1, got {rows}")
    net, cfg = load_translator(run)
    return triples(net, build_dataset(cfg.data), rows, seed)


def rejection_sampler(run: str | Path, steps: int, seed: int = 0, gamma: float | None = None,
                      net: torch.nn.Module | None = None) -> Any:
    """``draw(n) -> RejectionResult``: discriminator rejection sampling (:mod:`gankit.rejection`) from a run.

    The checkpoint's discriminator is calibrated for ``steps`` steps against the exported (EMA) generator
    (the checkpoint itself is not changed); ``gamma`` defaults to the run's ``eval.rejection_gamma``;
    ``net``: that generator when the caller has already loaded it.
    """
    from gankit.rejection import check_applies, config_sampler

    if steps < 0:
        raise ConfigError(f"rejection calibration steps must be >= 0, got {steps}")
    recipe, cfg, dataset = load_recipe(run)
    check_applies(recipe)
    if net is None:
        net = load_generator(run)[0]
    if gamma is not None:
        cfg.eval.rejection_gamma = gamma
    return config_sampler(recipe, dataset, net, cfg, steps, seed)


CSV_BYTES = 14  # the most a number takes in a .csv of samples ("-1.23457e-05," with fmt %.6g)


def sample_to_file(run: str | Path, n: int, out: Path, seed: int = 0, text: str | None = None,
                   labels: Any = None) -> tuple[int, ...]:
    """Write :func:`sample`'s ``n`` samples to ``out`` (.npy or .csv) chunk by chunk, in bounded memory.

    The .npy gets its header, then each chunk's bytes appended (neither memory nor address space grows
    with ``n``, as they would with one memory map of the whole file); the .csv gets each chunk's rows.
    Either is written to a temporary file and renamed over ``out`` at the end (atomic). The disk's free space is checked first. Returns the
    array's shape, (n, *data_shape).

    Raises:
        WriteError: the file would not fit on its disk (checked before writing), or a write failed.
    """
    from gankit.fileio import atomic_path, write_error

    if n <= 0:
        raise ConfigError(f"the number of samples must be > 0, got {n}")
    net, cfg, meta = load_generator(run)
    _check_text(net, cfg, run, text)
    shape = (n, *data_shape(meta))
    numbers = math.prod(shape)
    csv = out.suffix.lower() == ".csv"
    need = numbers * (CSV_BYTES if csv else 4) + 4096
    folder = out.resolve().parent
    while not folder.exists():  # atomic_path creates the missing folders: the disk is the nearest parent's
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if need > free:
        raise write_error(out, OSError(errno.ENOSPC, f"{n:,} samples would need about {budget.gb(need)} on disk "
                                                     f"and {budget.gb(free)} are free there; draw fewer (-n) or "
                                                     f"write elsewhere"))
    with atomic_path(out) as tmp:
        if csv:
            with io.open(tmp, "w", encoding="utf-8") as f:
                for x, _ in iter_samples(net, n, seed, labels, text):
                    np.savetxt(f, x.reshape(len(x), -1).cpu().numpy(), delimiter=",", fmt="%.6g")
        else:
            with io.open(tmp, "wb") as f:
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                          "shape": shape}
                np.lib.format.write_array_header_1_0(f, header)
                for x, _ in iter_samples(net, n, seed, labels, text):
                    f.write(np.ascontiguousarray(x.cpu().numpy(), dtype=np.float32).tobytes())
    return shape


def per_class(run: str | Path, per_class: int = 8, seed: int = 0) -> np.ndarray:
    """:func:`class_samples` of a run's exported conditional generator."""
    net, _, meta = load_generator(run)
    budget.check_samples(max(per_class, 0) * min(int(getattr(net, "num_classes", 0) or 0), MAX_GRID_CLASSES),
                         data_shape(meta))
    return class_samples(net, per_class, seed)


def stages(run: str | Path, rows: int = 8, seed: int = 0, text: str | None = None) -> list[tuple[str, np.ndarray]]:
    """The sampling stages of a run's multi-stage generator (LAPGAN: coarse image, then per level the
    upsampled image, the generated band and their sum; StackGAN: stage I's and stage II's images) for
    ``rows`` samples under ``seed``, as named (rows, C, s, s) arrays; ``text``: the caption of every row
    (text-to-image generators).

    Raises:
        ConfigError: the run's generator has no stages, or ``rows`` < 1.
    """
    if rows < 1:
        raise ConfigError(f"rows must be >= 1, got {rows}")
    net, cfg, meta = load_generator(run)
    if not hasattr(net, "stages"):
        raise ConfigError(f"the generator of '{run}' (generator.name={cfg.generator.name}) makes no stages; "
                          "--stages needs a multi-stage generator such as lapgan or stackgan")
    _check_text(net, cfg, run, text)
    budget.check_samples(rows, data_shape(meta), copies=3 * int(getattr(net, "levels", 2)))  # image, band, sum per level
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return stage_images(net, net.sample_noise(rows, generator=gen, **({} if text is None else {"text": text})))


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
    budget.check_samples(n, data_shape(meta), copies=3, fix="score fewer samples (-n, eval.num_samples)")  # fake, real, floor
    names = list(metrics) if metrics else list(cfg.eval.metrics) or ["auto"]  # a run with none: all that apply
    dataset = build_dataset(cfg.data)
    used = extractor_in_use(dataset, cfg.eval.extractor if extractor is None else extractor)
    scored = None if rejection > 0 else net  # rejection samples are not the generator's: no needs_net metrics
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
    if dataset is not None:
        want = tuple(dataset.shape) if dataset.kind == "image" else (dataset.dim,)
        if f.kind != dataset.kind or f.shape != want:
            fix = f"; resize them with --size {want[-1]}" if f.kind == "image" == dataset.kind and want[1] == want[2] else ""
            raise DataError(f"the fake samples are {f.kind} of shape {'x'.join(map(str, f.shape))} but data set "
                            f"'{cfg.data.name}' has {dataset.kind} of shape {'x'.join(map(str, want))}{fix}")
        used = extractor_in_use(dataset, extractor or (cfg.eval.extractor if cfg is not None else ""))
        say(f"drawing {len(fx)} reference samples from '{cfg.data.name}'")
        ref = reference_sample(dataset, len(fx), cfg.eval.seed + 3)
        sources.append(f"data set '{cfg.data.name}': {len(fx)} samples drawn under eval.seed + 3 = {cfg.eval.seed + 3}")
        result = Evaluation(step, len(fx), ema, metrics_mod.evaluate(names, fx, ref, dataset, progress=progress),
                            extractor=used, sources=sources)
        if floor:
            result.floor = real_floor(cfg, dataset, names, ref, progress)
            result.floor_kind = result.floor.pop("kind")
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
    ref = r.x[perm[:m]] if floor else r.x
    result = Evaluation(step, len(fx), ema, metrics_mod.evaluate(names, fx, ref, dataset, progress=progress),
                        extractor=used, sources=sources)
    if floor:
        plain = [k for k in names if k == "auto" or not metrics_mod.needs_labels(k)]
        say("real-vs-real floor: two disjoint random halves of the real samples")
        result.floor = metrics_mod.evaluate(plain, r.x[perm[m:2 * m]], ref, dataset, progress=progress)
        result.floor_kind = "two disjoint random halves of the real samples"
    return result


def _eval_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """A repeated ``gankit eval`` replaces its earlier record when it measured the same thing (step, sample
    count, sampler, metric names: with fixed seeds, the same numbers); other options add a record."""
    meta = {"step", "source", "samples", "ema", "sampler", "floor", "extractor"}
    return (record.get("step"), record.get("source"), record.get("samples"), record.get("sampler"),
            record.get("extractor"), tuple(sorted(k for k in record if k not in meta)))


def training_reference(dataset: Any, limit: int = 60_000, seed: int = 0, drawn: int = 10_000) -> torch.Tensor:
    """The training data to search for neighbours: every stored image of an in-memory set (up to
    ``limit``; a streamed folder: up to ``drawn`` of its files, decoded), otherwise ``drawn`` samples drawn
    under ``seed`` (generated sets such as Stacked MNIST, point clouds)."""
    if hasattr(dataset, "images") and hasattr(dataset, "__len__"):
        n = len(dataset)
        limit = min(limit, drawn) if getattr(dataset, "streamed", False) else limit  # decoding costs: cap it
        return dataset.images(None if n <= limit else torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit])
    return reference_sample(dataset, min(limit, drawn), seed)


def interpolate(run: str | Path, rows: int = 8, steps: int = 10, mode: str = "spherical", seed: int = 0) -> np.ndarray:
    """G along ``rows`` random noise paths of a run: (rows, steps, *data_shape) (see gankit.explore)."""
    from gankit.explore import interpolations

    net, _, meta = load_generator(run)
    budget.check_samples(max(rows, 0) * max(steps, 0), data_shape(meta), fix="ask for fewer rows (-n) or --steps")
    return interpolations(net, rows, steps, mode, seed)


@dataclass
class NearestNeighbours:
    """Generated samples, their nearest training samples, and the copy check (see gankit.explore)."""

    generated: np.ndarray  # (rows, *shape)
    neighbours: np.ndarray  # (rows, k, *shape)
    distances: np.ndarray  # (rows, k)
    check: Any  # explore.CopyCheck over ``n_check`` samples


def nearest(run: str | Path, rows: int = 8, k: int = 5, n_check: int = 1000, seed: int = 0,
            limit: int = 60_000) -> NearestNeighbours:
    """The ``k`` nearest training samples of ``rows`` generated ones, and the copy check on ``n_check``.

    Held-out images for the copy check come from the test split when the data set has one (and the run
    trained on its training split); otherwise training samples are compared with the rest of the
    training set.
    """
    from gankit.explore import copy_check, nearest_neighbours

    if rows < 1 or n_check < 1:
        raise ConfigError(f"rows and n_check must be >= 1, got {rows} and {n_check}")
    net, cfg, meta = load_generator(run)
    budget.check_samples(max(rows, n_check), data_shape(meta), copies=2 + k, fix="ask for fewer rows (-n) or --k")
    dataset = build_dataset(cfg.data)
    train = training_reference(dataset, limit, seed)
    fake = torch.from_numpy(sample_net(net, max(rows, n_check), seed))
    dist, idx = nearest_neighbours(fake[:rows], train, k)
    held = None
    if held_out_split(cfg) is not None:
        held, _ = held_out_reference(cfg, dataset, n_check)
    check = copy_check(fake[:n_check], train, held)
    return NearestNeighbours(fake[:rows].numpy(), train[torch.from_numpy(idx)].numpy(), dist, check)


def latent_arithmetic(run: str | Path, expression: str, pool: int = 2000, per_group: int = 3,
                      threshold: float = 0.9, neighbours: int = 8, noise: float = 0.25, seed: int = 0) -> Any:
    """Radford et al.'s latent arithmetic on a run's generator, "A - B + C" with groups picked by the shipped
    classifier of its data (shapes attributes or MNIST digits): an :class:`gankit.arithmetic.ArithmeticResult`.

    Raises:
        ConfigError: data without a shipped classifier, a bad expression, a group no sample of the pool shows.
    """
    from gankit.arithmetic import latent_arithmetic as arithmetic
    from gankit.arithmetic import reader_for

    net, cfg, meta = load_generator(run)
    reader = reader_for(cfg.data.name, json.loads(meta["data_shape"]))
    return arithmetic(net, expression, reader, pool, per_group, threshold, neighbours, noise, seed)
