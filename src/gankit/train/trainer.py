"""The generic trainer: the lecture's algorithm, with no knowledge of any GAN variant (docs/architecture.md rule 5).

    for each training iteration (Hung-yi Lee, Theory behind GAN, "Algorithm"):
        repeat k times: recipe.d_step(fresh data batch)    # each step draws its own fresh noise
        once:           recipe.g_step(fresh data batch)    # fresh noise; the data batch is for recipes that need labels
    (recipes without a discriminator, ``recipe.adversarial = False`` (auto-encoders), get no D steps)

Around it: learning-rate schedules, an EMA of the generator, stats.jsonl, a tqdm bar with the live
losses, callbacks (snapshots, figures, metrics), atomic checkpoints of the full state (nets, EMA,
optimisers, RNG states, step, config) every N steps and at the end, a stop with a clear message on a
non-finite loss (the last good checkpoint is kept), and Ctrl-C/SIGTERM handling that checkpoints and exits.

Under torchrun the same loop runs on every rank (train/distributed.py): each draws its share of the batch,
optimiser hooks average the gradients, the ranks agree every step on whether to stop, and only rank 0
logs, runs the callbacks and writes the run directory. ``run.precision=bf16`` runs the recipe's steps
under bfloat16 autocast (weights, optimiser state and D's scores stay float32, so the losses are computed
in float32); ``run.compile`` compiles the recipe's networks with torch.compile.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from safetensors.torch import save as safetensors_save
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from gankit import config as config_mod
from gankit.data.base import Dataset, LabelledDataset
from gankit.errors import ConfigError, NonFiniteLossError, TrainingInterrupted
from gankit.fileio import atomic_write_bytes
from gankit.train import distributed
from gankit.train.callbacks import Callback
from gankit.train.checkpoint import (
    CHECKSUM,
    EXPORT_VERSION,
    export_digest,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from gankit.train.progress import TrainingProgress, duration, headline
from gankit.train.rundir import RunDir
from gankit.train.stats import JsonlWriter

if TYPE_CHECKING:
    from gankit.models.base import Recipe

log = logging.getLogger("gankit")


def lr_factor(schedule: str, step: int, total: int, final: float) -> float:
    """Multiplier of the base learning rate at generator step ``step`` of ``total`` (0-based)."""
    t = min(max(step / max(total, 1), 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 1.0 - (1.0 - final) * t
    if schedule == "cosine":
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"unknown lr schedule '{schedule}'")


def d_steps_at(schedule: str, step: int, k: int) -> int:
    """Discriminator steps before generator step ``step`` (0-based).

    "wgan" is the reference WGAN code's warm-up (Arjovsky et al. 2017): 100 critic steps for the first
    25 generator steps and for every 500th, ``k`` otherwise, so the critic stays near its optimum.
    """
    if schedule == "wgan" and (step < 25 or step % 500 == 0):
        return 100
    return k


def ema_decay(decay: float, updates: int) -> float:
    """The EMA decay after ``updates`` averaging steps with warm-up: min(decay, (1 + t) / (10 + t)).

    TensorFlow's ExponentialMovingAverage rule: early on the average follows the net closely, so it is
    not dragged back to the random initialisation for ~1/(1 - decay) steps (3,000 steps at 0.999).
    """
    return min(decay, (1.0 + updates) / (10.0 + updates))


def ema_warmup_fn(decay: float) -> Callable[..., None]:
    """An AveragedModel ``multi_avg_fn``: exponential averaging with :func:`ema_decay`'s warm-up."""

    @torch.no_grad()
    def update(ema_params: list[Tensor], params: list[Tensor], num_averaged: Tensor | int) -> None:
        d = ema_decay(decay, int(num_averaged))
        if torch.is_floating_point(ema_params[0]):
            torch._foreach_lerp_(ema_params, params, 1.0 - d)
        else:  # integer buffers (batch norm's counter): follow the net
            for e, p in zip(ema_params, params, strict=True):
                e.copy_(p)

    return update


@contextlib.contextmanager
def _all_stats_after(recipe: Recipe) -> Iterator[None]:
    """However training ends, later direct step calls get every statistic again (Recipe.stats_wanted)."""
    try:
        yield
    finally:
        recipe.stats_wanted = True


class Trainer:
    """Runs a recipe on a data set and writes the run directory.

    Args:
        cfg: the resolved Config.
        recipe: a :class:`gankit.models.base.Recipe` (the trainer uses only its contract).
        dataset: a :class:`gankit.data.base.Dataset`; a :class:`~gankit.data.base.LabelledDataset` for
            recipes that set ``uses_labels``.
        run: the run directory.
        callbacks: called after every step and at the end.
        device: where batches go.
    """

    def __init__(
        self, cfg: Any, recipe: Recipe, dataset: Dataset, run: RunDir, callbacks: list[Callback] | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.cfg = cfg
        self.recipe = recipe
        self.dataset = dataset
        self.run = run
        self.callbacks = list(callbacks or [])
        self.device = torch.device(device)
        self.step = 0
        self.dist = distributed.context()
        self.batch_size = distributed.per_rank_batch(cfg.data.batch_size, self.dist.world_size, recipe.pack)
        if recipe.uses_labels and not isinstance(dataset, LabelledDataset):
            raise ConfigError(f"model.recipe={cfg.model.recipe} trains on labelled batches, and data set "
                              f"'{dataset.name}' has no labels")
        if self.dist.enabled:
            distributed.broadcast_modules(recipe.modules().values(), self.dist)  # one set of initial weights
            distributed.sync_gradients(recipe.optimizers.values(), self.dist)
            if not self.dist.is_main:  # callbacks write the run directory: rank 0's job
                self.callbacks = []
        self.ema: AveragedModel | None = None
        if cfg.train.ema > 0:
            avg = ema_warmup_fn(cfg.train.ema) if cfg.train.ema_warmup else get_ema_multi_avg_fn(cfg.train.ema)
            self.ema = AveragedModel(recipe.generator, multi_avg_fn=avg, use_buffers=True)
        for opt in recipe.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
        # Fixed noise and real points for figures: private RNGs, identical across resumes.
        gen = torch.Generator(device="cpu").manual_seed(cfg.eval.seed)
        self.fixed_noise = recipe.generator.sample_noise(512, generator=gen)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.eval.seed + 1)
            self.fixed_real = dataset.sample(512).cpu()
        if self.dist.enabled:  # after the fixed noise and the EMA copy: they stay the single-process ones
            if cfg.run.distributed_data == "shard":
                distributed.shard_noise(recipe.generator, self.dist)
            else:
                self._seed_sampling(self.step)
        self._autocast = cfg.run.precision == "bf16"
        if self._autocast and "discriminator" in recipe.modules():  # scores, hence losses, in float32
            recipe.modules()["discriminator"].register_forward_hook(lambda m, args, out: out.float())
        if cfg.run.compile:  # config validation refuses it with the double-backward remedies
            for net in recipe.modules().values():
                net.compile()  # in place: state_dict keys (checkpoints, export) are unchanged
        self.d_updates = 0  # discriminator updates made by this process (not checkpointed; gankit lab shows it)
        self.started = time.time()  # the "time" field of stats.jsonl counts from here (fit() resets it)
        self._stop: signal.Signals | None = None
        self._finish = False  # request_finish(): end after this step as if train.steps were reached
        self.stats = JsonlWriter(run.stats)
        self.last_record: dict[str, float] = {}
        self.clock: Callable[[], float] = time.monotonic  # of the progress lines and estimate (tests: a fake)

    # ------------------------------------------------------------------ state
    def _seed_sampling(self, step: int) -> None:
        """``independent`` mode: this rank's data and noise stream, distinct per (seed, rank, step)."""
        seed = distributed.sampling_seed(self.cfg.run.seed, self.dist.rank, step)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)

    def sampling_net(self) -> nn.Module:
        """The generator to sample from: the EMA copy when enabled."""
        return self.ema.module if self.ema is not None else self.recipe.generator

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "recipe": self.recipe.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": rng_state(),
            "config": config_mod.to_dict(self.cfg),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.recipe.load_state_dict(state["recipe"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise ValueError("the checkpoint has no EMA state but train.ema > 0")
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])
        ranks = state.get("rng_ranks")
        if self.dist.enabled and ranks is not None and len(ranks) == self.dist.world_size:
            set_rng_state(ranks[self.dist.rank])  # the same world size: every rank continues its own stream
        else:
            set_rng_state(state["rng"])
            if self.dist.enabled and self.cfg.run.distributed_data == "independent":
                self._seed_sampling(self.step)  # another world size: fresh per-rank streams (not bit-exact)

    def save(self) -> None:
        """checkpoints/last.pt; under torchrun every rank calls it, rank 0 writes, with every rank's RNG."""
        state = self.state_dict()
        if self.dist.enabled:
            state["rng_ranks"] = distributed.gather_objects(state["rng"], self.dist)
        if self.dist.is_main:
            save_checkpoint(self.run.checkpoint, state)
        distributed.barrier(self.dist)

    def resume_from(self, path: Any = None) -> None:
        self.load_state_dict(load_checkpoint(path or self.run.checkpoint, map_location=self.device))

    def export_generator(self) -> None:
        """generator.safetensors: the sampling generator's weights, with what is needed to rebuild it."""
        net = self.sampling_net()
        tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        meta = {
            "format": "gankit-generator",
            "config": json.dumps(config_mod.to_dict(self.cfg)),
            "data_shape": json.dumps(list(self.dataset.shape)),
            "step": str(self.step),
            "ema": str(self.ema is not None).lower(),
            "version": EXPORT_VERSION,
        }
        meta[CHECKSUM] = export_digest(tensors, meta)  # api.load_generator verifies it
        atomic_write_bytes(self.run.generator, safetensors_save(tensors, metadata=meta))

    def _command(self) -> str:
        """How to run this training command again: under torchrun with the same number of processes."""
        if self.dist.enabled:
            return f"torchrun --nproc_per_node {self.dist.world_size} -m gankit train"
        return "gankit train"

    def request_finish(self) -> None:
        """End training after the current step, with the usual checkpoint, export and end-of-run
        callbacks (a callback calls this, e.g. at a wall-time budget); ``--resume`` continues it."""
        self._finish = True

    # ------------------------------------------------------------------ loop
    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM finish the current step, write a checkpoint, then stop."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self._stop = signal.Signals(signum)
            signal.signal(signum, previous[signal.Signals(signum)])  # a second press stops at once

        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, handler)
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _set_lr(self) -> dict[str, float]:
        t = self.cfg.train
        factor = lr_factor(t.lr_schedule, self.step, t.steps, t.lr_final)
        lrs = {}
        for name, opt in self.recipe.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor
            lrs[f"lr_{name}"] = opt.param_groups[0]["lr"]
        return lrs

    def _check_finite(self, stats: dict[str, torch.Tensor]) -> None:
        losses = [v for k, v in stats.items() if k.endswith(("loss", "penalty"))]
        bad = bool(losses) and not bool(torch.isfinite(torch.stack([v.float().reshape(()) for v in losses])).all())
        if self.dist.enabled:  # one rank's NaN stops every rank at the same step
            bad = distributed.agree_max([float(bad)], self.dist, self.device)[0] > 0
        if bad:
            shown = ", ".join(f"{k} = {float(v):g}" for k, v in stats.items() if k.endswith(("loss", "penalty")))
            kept = (f"the last good checkpoint ({self.run.checkpoint}) is kept" if self.run.checkpoint.exists()
                    else "no checkpoint was written")
            raise NonFiniteLossError(
                f"non-finite loss at step {self.step} ({shown}); training stopped and {kept}; "
                "try a lower learning rate"
            )

    def _autocast_context(self) -> Any:
        return (torch.autocast(self.device.type, dtype=torch.bfloat16) if self._autocast
                else contextlib.nullcontext())

    def _batch(self) -> Any:
        """A fresh batch of this rank's share; conditional recipes train on (images, labels) pairs."""
        labelled = cast(LabelledDataset, self.dataset)  # for uses_labels recipes: checked in __init__
        draw = labelled.sample_with_labels if self.recipe.uses_labels else self.dataset.sample
        ctx = self.dist
        if ctx.enabled and self.cfg.run.distributed_data == "shard":
            return distributed.shard(draw(self.batch_size * ctx.world_size, self.device), ctx)
        return draw(self.batch_size, self.device)

    def d_update(self) -> dict[str, Tensor]:
        """One discriminator update on a fresh data batch (the body of the lecture's "repeat k times")."""
        with self._autocast_context():
            stats = self.recipe.d_step(self._batch())
        self.d_updates += 1
        return stats

    def g_update(self) -> dict[str, Tensor]:
        """One generator update on a fresh batch, then the EMA; the generator step counter advances."""
        with self._autocast_context():
            stats = self.recipe.g_step(self._batch())
        if self.ema is not None:
            self.ema.update_parameters(self.recipe.generator)
        self.step += 1
        return stats

    def iteration(self) -> dict[str, float] | None:
        """One training iteration: learning rates, k D updates, one G update, the check for a non-finite
        loss, the stats.jsonl line when due and the callbacks. Returns the logged record (None: not logged).

        ``fit`` repeats it; ``gankit lab`` calls it (and :meth:`d_update` / :meth:`g_update` alone for its
        single steps), so the lab and ``gankit train`` share one loop.
        """
        cfg, recipe, ctx = self.cfg, self.recipe, self.dist
        total = cfg.train.steps
        lrs = self._set_lr()
        recipe.progress = min(self.step / total, 1.0)  # annealed remedies (reg.schedule) follow the generator step
        d_stats: dict[str, Tensor] = {}
        n_d = d_steps_at(cfg.train.d_steps_schedule, self.step, cfg.train.d_steps) if recipe.adversarial else 0
        # the recipe may skip its monitoring statistics on steps that are not logged
        recipe.stats_wanted = (self.step + 1) % cfg.train.log_every == 0 or self.step + 1 == total
        for _ in range(n_d):
            d_stats = self.d_update()
        g_stats = self.g_update()
        stats = {**d_stats, **g_stats}
        self._check_finite(stats)
        record = None
        if self.step % cfg.train.log_every == 0 or self.step == total:
            if ctx.enabled:
                stats = distributed.mean_stats(stats, ctx)
            record = {k_: float(v) for k_, v in stats.items()}
            self.last_record = record
            if ctx.is_main:
                self.stats.write({"step": self.step, "time": round(time.time() - self.started, 3), **record, **lrs})
        for cb in self.callbacks:
            cb.on_step(self, self.step)
        return record

    def fit(self) -> dict[str, float]:
        """Train until ``train.steps`` generator steps; returns the last logged stats."""
        cfg, recipe = self.cfg, self.recipe
        total = cfg.train.steps
        self.started = start_time = time.time()
        ctx = self.dist
        bar = tqdm(
            total=total, initial=self.step, desc=cfg.run.name, dynamic_ncols=True,
            disable=None if cfg.train.progress and ctx.is_main else True, unit="step",
        )
        progress = None
        if cfg.train.progress and ctx.is_main:  # no bar (stderr is not a terminal): a line every progress_every_s
            notes = [n for n in (cb.end_note(self) for cb in self.callbacks) if n]
            progress = TrainingProgress(total, self.step, log.info, lines=bool(bar.disable),
                                        every_s=cfg.train.progress_every_s, time_limit_min=cfg.train.time_limit,
                                        final_eval=" and ".join(notes), eval_every=cfg.train.eval_every,
                                        clock=self.clock)
        with self._signals(), bar, _all_stats_after(recipe):
            for cb in self.callbacks:
                cb.on_start(self)
            limit_s = 60.0 * cfg.train.time_limit
            while self.step < total and not self._finish:
                record = self.iteration()
                if record is not None:
                    bar.set_postfix(headline(record), refresh=False)
                bar.update(1)
                if progress is not None:
                    progress.update(self.step, self.last_record)
                if limit_s and time.time() - start_time >= limit_s and self.step < total:
                    log.info("train.time_limit of %g min reached at step %d of %d; continue with: "
                             "%s --resume %s", cfg.train.time_limit, self.step, total, self._command(), self.run.root)
                    self._finish = True
                if ctx.enabled:  # a signal, a callback's request_finish or a time limit on any rank stops all
                    signum, finish = distributed.agree_max([float(self._stop or 0), float(self._finish)], ctx,
                                                           self.device)
                    if signum and self._stop is None:
                        self._stop = signal.Signals(int(signum))
                    self._finish = finish > 0
                if self.step % cfg.train.checkpoint_every == 0:
                    self.save()
                if self._stop is not None:
                    self.save()
                    raise TrainingInterrupted(
                        f"{self._stop.name} at step {self.step}: checkpoint written to {self.run.checkpoint}; "
                        f"continue with: {self._command()} --resume {self.run.root}",
                        int(self._stop),
                    )
        if self.step % cfg.train.checkpoint_every != 0:
            self.save()
        if ctx.is_main:
            self.export_generator()
        if progress is not None and self.callbacks:
            log.info("step %d reached in %s; now the end-of-run figures and evaluation", self.step,
                     duration(time.time() - start_time))
        for cb in self.callbacks:
            cb.on_end(self)
        return self.last_record
