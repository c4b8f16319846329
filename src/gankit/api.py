"""The library's front door: train, resume, load a generator, sample. The CLI is a thin layer on this.

    >>> from gankit import api, config
    >>> cfg = config.resolve("ring8", overrides=["train.steps=200"])
    >>> run = api.train(cfg)                   # runs/ring8/ with stats, checkpoints, figures
    >>> x = api.sample(run.root, 1000)         # (1000, 2) numpy array
"""

from __future__ import annotations

import copy
import errno
import io
import json
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit import budget
from gankit import config as config_mod
from gankit.config import RESUMABLE, changed_keys, non_resumable  # noqa: F401  (re-exported: public api)
from gankit.data import build_dataset
from gankit.data.base import IndexedImages
from gankit.data.reference import held_out_reference, held_out_split, reference_sample  # noqa: F401  (re-exported)
from gankit.errors import CheckpointError, ConfigError
from gankit.evaluation import Evaluation, evaluate, evaluate_samples  # noqa: F401  (re-exported)
from gankit.fileio import remove_stale_temporaries
from gankit.generators import check_text, data_shape, load_generator, rejection_sampler  # noqa: F401  (re-exported)
from gankit.nets.capabilities import ClassConditional, Staged, Translating
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
from gankit.train.build import (  # noqa: F401  (re-exported)
    build_generator,
    build_trainer,
    fits,
    load_recipe,
    select_device,
)
from gankit.train.callbacks import Callback
from gankit.train.checkpoint import load_training_checkpoint, restore
from gankit.train.rundir import RunDir, find_run
from gankit.train.stats import last_logged, truncate_after

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
        trainer = build_trainer(cfg, run, callbacks, resuming=True)  # nothing fitted that the checkpoint holds
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
    check_text(net, cfg, run, text)
    return sample_net_with_labels(net, n, seed, labels, text=text)[0]


def load_translator(run: str | Path) -> tuple[Any, Any]:
    """The exported generator of an image-to-image run (pix2pix) and its config, or a ConfigError."""
    net, cfg, _ = load_generator(run)
    if not isinstance(net, Translating):
        raise ConfigError(f"'{run}' is a '{cfg.model.recipe}' run; translating images needs an image-to-image run "
                          "(model.recipe=pix2pix, e.g. preset pix2pix-shapes)")
    return net, cfg


def is_translator(run: str | Path) -> bool:
    """Whether a run's exported generator translates images (pix2pix); False for other runs."""
    net, _, _ = load_generator(run)
    return isinstance(net, Translating)


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


CSV_BYTES = 14  # the most a number takes in a .csv of samples ("-1.23457e-05," with fmt %.6g)


def sample_to_file(run: str | Path, n: int, out: Path, seed: int = 0, text: str | None = None,
                   labels: Any = None) -> tuple[int, ...]:
    """Write :func:`sample`'s ``n`` samples to ``out`` (.npy or .csv) chunk by chunk, in bounded memory.

    The .npy gets its header, then each chunk's bytes appended (neither memory nor address space grows
    with ``n``, as they would with one memory map of the whole file); the .csv gets each chunk's rows.
    Either is written to a temporary file and renamed over ``out`` at the end (atomic). The disk's free space
    is checked first. Returns the array's shape, (n, *data_shape).

    Raises:
        WriteError: the file would not fit on its disk (checked before writing), or a write failed.
    """
    from gankit.fileio import atomic_path, write_error

    if n <= 0:
        raise ConfigError(f"the number of samples must be > 0, got {n}")
    net, cfg, meta = load_generator(run)
    check_text(net, cfg, run, text)
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
    classes = int(net.num_classes) if isinstance(net, ClassConditional) else 0
    budget.check_samples(max(per_class, 0) * min(classes, MAX_GRID_CLASSES), data_shape(meta))
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
    staged = isinstance(net, Staged)  # (not narrowing ``net``: it stays the module that sample_noise belongs to)
    if not staged:
        raise ConfigError(f"the generator of '{run}' (generator.name={cfg.generator.name}) makes no stages; "
                          "--stages needs a multi-stage generator such as lapgan or stackgan")
    check_text(net, cfg, run, text)
    caption = {} if text is None else {"text": text}
    one = net.sample_noise(1, generator=torch.Generator(device="cpu").manual_seed(seed), **caption)
    count = len(stage_images(net, one))  # stage images per row, each at most the data's size (LAPGAN: 3 per level)
    budget.check_samples(rows, data_shape(meta), copies=count + 1)  # + the latent
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return stage_images(net, net.sample_noise(rows, generator=gen, **caption))


def training_reference(dataset: Any, limit: int = 60_000, seed: int = 0, drawn: int = 10_000) -> torch.Tensor:
    """The training data to search for neighbours: every stored image of an in-memory set (up to
    ``limit``; a streamed folder: up to ``drawn`` of its files, decoded), otherwise ``drawn`` samples drawn
    under ``seed`` (generated sets such as Stacked MNIST, point clouds)."""
    if isinstance(dataset, IndexedImages):
        n = len(dataset)
        limit = min(limit, drawn) if dataset.streamed else limit  # decoding costs: cap it
        if n <= limit:
            return dataset.images(None)
        return dataset.images(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit])
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
