"""From a config to a trainer, and back from a checkpoint to a recipe: what training, resuming and the
theory checks share, below :mod:`gankit.api`.

``build_trainer`` seeds, builds the data set, lets the recipe adjust the config, checks the memory budget
(:func:`fits`), builds the recipe and chooses the default callbacks from the data set's ``kind``;
``load_recipe`` rebuilds a run's recipe from its last checkpoint (without its ``prepare_fresh`` fits: the
checkpoint holds them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit import budget
from gankit import config as config_mod
from gankit.data import build_dataset
from gankit.data.base import check_dataset
from gankit.errors import ConfigError
from gankit.metrics.features import extractor_in_use
from gankit.models.base import Recipe, check_recipe
from gankit.nets.capabilities import Staged
from gankit.registry import RECIPES
from gankit.train import distributed, precision
from gankit.train.callbacks import Callback, ClassGrid, Evaluator, ImageGrids, StageFigure, ToyFigures
from gankit.train.checkpoint import load_checkpoint, restore
from gankit.train.diagnostics import Diagnostics, default_every
from gankit.train.rundir import RunDir, find_run
from gankit.train.trainer import Trainer


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device=cuda but no CUDA device is available; use run.device=cpu or auto")
    return torch.device(name)


def build_trainer(cfg: Any, run: RunDir, callbacks: list[Callback] | None = None, resuming: bool = False) -> Trainer:
    """Seed, build the data set, recipe and trainer for ``cfg`` (nothing is written).

    ``resuming``: a checkpoint is restored over the trainer next (``api.resume``), so the recipe's
    :meth:`~gankit.models.base.Recipe.prepare_fresh` (what the checkpoint holds, e.g. StackGAN's caption prior)
    is not fitted again.

    Under torchrun every rank seeds alike (one set of initial weights) and, on CUDA, takes
    ``cuda:LOCAL_RANK``; the trainer then gives each rank its own data and noise stream.
    """
    device = select_device(cfg.run.device)
    ctx = distributed.context()
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    torch.manual_seed(cfg.run.seed)
    np.random.seed(cfg.run.seed % 2**32)
    dataset = build_dataset(cfg.data)
    check_dataset(dataset, cfg.data.name)
    extractor_in_use(dataset, cfg.eval.extractor)  # an unknown eval.extractor fails now, not at the first evaluation
    recipe_cls = recipe_class(cfg)
    recipe_cls.prepare_config(cfg, dataset)  # e.g. cgan: the class count from the data set, or a clear error
    fits(cfg, dataset.shape, device)  # before any network or batch is allocated
    recipe = recipe_cls(cfg, dataset.shape, device)
    recipe.prepare_data(dataset)  # e.g. the samples the AAE's encoder clusters are re-fitted on
    if not resuming:
        recipe.prepare_fresh(dataset)  # e.g. StackGAN's caption prior, the AAE's k-means; before the EMA copies G
    if callbacks is None:
        callbacks = []
        if dataset.kind == "points" and dataset.dim <= 2 and cfg.train.sample_every:
            callbacks.append(ToyFigures(cfg.train.sample_every))
        elif dataset.kind == "image" and cfg.train.sample_every:
            callbacks.append(ImageGrids(cfg.train.sample_every))
            if isinstance(recipe.generator, Staged):  # multi-stage generators (lapgan, stackgan): stages.png at the end
                callbacks.append(StageFigure())
            if recipe.uses_labels:
                callbacks.append(ClassGrid())
        callbacks.append(Evaluator(cfg.train.eval_every))
        every = cfg.train.diagnostics_every
        if every == -1:
            every = default_every(cfg.train.sample_every, cfg.train.log_every)
        if every:
            callbacks.append(Diagnostics(every))
        callbacks += recipe.callbacks()  # the recipe's own figures (auto-encoders: latent space)
    if cfg.train.tensorboard:  # last: a step's frames and metrics are written when it mirrors them
        from gankit.train.tensorboard import TensorBoardCallback

        callbacks = [*callbacks, TensorBoardCallback(cfg.train.log_every)]
    if cfg.run.precision == "auto":  # measured once per machine and nets (train/precision.py); the run keeps the choice
        draw = dataset.sample_with_labels if recipe.uses_labels else dataset.sample
        choice = precision.choose(cfg, dataset.shape, dataset.kind, device, lambda: precision.step_timer(
            recipe, lambda: draw(cfg.data.batch_size, device), device))
        if ctx.enabled:  # one precision for all ranks
            choice = "bf16" if distributed.agree_max([float(choice == "bf16")], ctx, device)[0] > 0 else "fp32"
        cfg.run.precision = choice
    return Trainer(cfg, recipe, dataset, run, callbacks, device=device)


def recipe_class(cfg: Any) -> type[Recipe]:
    """The recipe class ``model.recipe`` names, checked against the Recipe contract (TypeError: it lacks a step)."""
    cls: type[Recipe] = RECIPES.get(cfg.model.recipe)
    check_recipe(cls, cfg.model.recipe)
    return cls


def fits(cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> budget.Footprint:
    """Check that training ``cfg`` fits in memory (:mod:`gankit.budget`; networks counted on the meta
    device) and return the count. Raises ConfigError, naming the bound and run.max_memory_gb, when not."""
    recipe_cls = recipe_class(cfg)
    nets: dict[str, torch.nn.Module] = {}
    whole = lambda: recipe_cls(cfg, data_shape, "meta").modules()  # noqa: E731
    alone = lambda: {"generator": build_generator(cfg, data_shape)}  # noqa: E731
    for build in (whole, alone):
        try:
            nets = budget.on_meta(build)
            break
        except ConfigError:
            raise  # the real build would say the same
        except Exception:  # a recipe that reads values while building (.item(), CPU data): its generator alone
            continue  # and, failing that, the batches alone are estimated (errs low)
    fp = budget.footprint(nets, data_shape, cfg.model.pack)  # the recipe imports what a meta forward needs
    budget.check_training(cfg, fp, data_shape, device)
    return fp


def build_generator(cfg: Any, data_shape: tuple[int, ...]) -> torch.nn.Module:
    """The generator network of ``cfg`` as its recipe builds it (untrained)."""
    return recipe_class(cfg).build_generator(cfg, data_shape)  # the family's G unless the recipe has its own (cgan)


def load_recipe(run: str | Path) -> tuple[Recipe, Any, Any]:
    """The recipe of a run's last checkpoint, on the CPU, weights loaded: (recipe, config, data set)."""
    rd = find_run(run)
    state = load_checkpoint(rd.checkpoint)
    cfg = config_mod.from_dict(state["config"])
    dataset = build_dataset(cfg.data)
    fits(cfg, dataset.shape)
    recipe = recipe_class(cfg)(cfg, dataset.shape, "cpu")
    restore(recipe, state["recipe"], rd.checkpoint)
    return recipe, cfg, dataset


