"""One experiment of ``gankit lab``: the trainer a :class:`LabSession` drives, and the pictures drawn from a
copy of its weights (G's manifold, the optimal discriminator D*, the packed arrays the page reads);
see :mod:`gankit.serve.lab`."""

from __future__ import annotations

import base64
import contextlib
import copy
import re
import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from gankit import api
from gankit import config as config_mod
from gankit.data.base import PointSet
from gankit.errors import ConfigError, GankitError
from gankit.evalmode import evaluating
from gankit.fileio import atomic_write_bytes
from gankit.metrics.divergences import gaussian_kde_logpdf, kde_divergences, lcv_bandwidth, wasserstein_points
from gankit.metrics.toy import mode_stats
from gankit.nets.priors import box
from gankit.registry import OBJECTIVES, RECIPES
from gankit.serve.lab_settings import DRAWN, LIVE, build_config, check_settings
from gankit.train.callbacks import ToyFigures, toy_view
from gankit.train.checkpoint import save_checkpoint
from gankit.train.rundir import RunDir

GRID = 40  # D's grid in 2-D is GRID x GRID
MANIFOLD_LINES, MANIFOLD_POINTS = 11, 41  # noise-space grid lines, points along each
# samples behind the bandwidth choice and W1 (EMD's cost grows ~n³; the page must not slow training)
METRIC_POINTS = 256
SAVED_SAMPLE_EVERY = 500  # train.sample_every of a saved run (figures when it is resumed)
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class _Boxed:
    """The data set with its plotting box computed once: ``bounds()`` reseeds torch's RNG, which a view thread
    must never touch while the worker trains."""

    def __init__(self, dataset: Any) -> None:
        self._dataset = dataset
        self._bounds = dataset.bounds()

    def bounds(self) -> np.ndarray:
        return self._bounds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)


class _Copy:
    """What ``toy_snapshot`` reads of a trainer, over a copy of the weights (drawn outside the lock)."""

    def __init__(self, trainer: Any, dataset: _Boxed) -> None:
        with torch.random.fork_rng(devices=[]):  # building nets draws initial weights: not from training's RNG
            self.recipe = RECIPES.get(trainer.cfg.model.recipe)(trainer.cfg, trainer.dataset.shape, trainer.device)
        for net in self.recipe.modules().values():
            net.requires_grad_(True)
        self.dataset = dataset
        self.device = trainer.device
        self.fixed_noise = trainer.fixed_noise
        self.fixed_real = trainer.fixed_real
        self.ema = trainer.ema
        self.cfg = trainer.cfg  # toy_view reads generator.prior (the z -> x mapping of 1-D noise)

    @staticmethod
    def _tensors(*nets: torch.nn.Module) -> list[torch.Tensor]:
        return [t for net in nets for t in (*net.parameters(), *net.buffers())]

    @torch.no_grad()
    def take(self, trainer: Any) -> None:
        """Copy the trainer's sampling generator, D and objective (call under the lab's lock): the same nets
        built from the same config, so their tensors pair up in order (a tenth of ``load_state_dict``'s time)."""
        mine = self._tensors(self.recipe.generator, self.recipe.discriminator)
        theirs = self._tensors(trainer.sampling_net(), trainer.recipe.discriminator)
        for dst, src in zip(mine, theirs, strict=True):
            dst.copy_(src)
        self.recipe.objective = trainer.recipe.objective

    def sampling_net(self) -> torch.nn.Module:
        return self.recipe.generator


def manifold(net: torch.nn.Module, prior: str, noise_dim: int) -> dict[str, Any]:
    """A grid of noise space and its image under G: MANIFOLD_LINES lines each way (one line in 1-D noise),
    each as MANIFOLD_POINTS points z and G(z)."""
    lo, hi = box(prior)
    s = torch.linspace(lo, hi, MANIFOLD_POINTS)
    if noise_dim == 1:
        lines = [s[:, None]]
    else:
        t = torch.linspace(lo, hi, MANIFOLD_LINES)
        lines = [torch.stack([s, torch.full_like(s, v)], 1) for v in t]
        lines += [torch.stack([torch.full_like(s, v), s], 1) for v in t]
    z = torch.cat(lines)
    with evaluating(net):
        x = net(z).float()
    return {"box": [lo, hi], "z": torch.stack(lines).numpy(), "x": x.reshape(len(lines), MANIFOLD_POINTS, -1).numpy()}


def optimal_d(snap: dict[str, Any], log_p_data: Any, fake: np.ndarray, h: float) -> dict[str, Any]:
    """D*(x) = p_data / (p_data + p_G) on the snapshot's grid, p_G a KDE of ``fake`` with bandwidth ``h``
    (½ where both vanish); the grid's axes and box come along, since a later view may have moved its box."""
    grid = snap["grid"]
    if snap["dim"] == 1:
        pts = grid["x"][:, None]
    else:
        gx, gy = np.meshgrid(grid["x"], grid["y"])
        pts = np.stack([gx.ravel(), gy.ravel()], 1)
    lp, lq = np.asarray(log_p_data(pts), dtype=np.float64), gaussian_kde_logpdf(pts, fake, h)
    m = np.maximum(lp, lq)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(np.isfinite(m), 1.0 / (1.0 + np.exp(lq - lp)), 0.5)
    if snap["dim"] == 2:
        d = d.reshape(len(grid["y"]), len(grid["x"]))
    return {**{k: grid[k] for k in ("x", "y") if k in grid}, "bounds": snap["bounds"], "d": d}


def packed(value: Any) -> Any:
    """``value`` with every array as ``{"shape": [...], "f32": base64 of its float32 bytes}`` (little-endian):
    a tenth of the bytes of nested JSON lists and no per-number Python work (``lab.js`` unpacks them)."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value, dtype="<f4")
        return {"shape": list(data.shape), "f32": base64.b64encode(data.tobytes()).decode("ascii")}
    if isinstance(value, dict):
        return {k: packed(v) for k, v in value.items()}
    return value


class LabSession:
    """One experiment: checked settings, the config, the trainer, the history of records shown as curves."""

    def __init__(self, settings: Any, workdir: Path) -> None:
        self.settings = check_settings(settings)
        workdir.mkdir(parents=True, exist_ok=True)
        self.run = RunDir(workdir)
        self.cfg = build_config(self.settings, workdir)
        for path in (self.run.stats, self.run.config):
            path.unlink(missing_ok=True)
        self.trainer = api.build_trainer(self.cfg, self.run, callbacks=[])
        config_mod.save(self.cfg, self.run.config)
        self.dataset = _Boxed(self.trainer.dataset)
        self.copy = _Copy(self.trainer, self.dataset)
        self.history: list[dict[str, Any]] = []
        self.error = ""
        self._log_p_data = self._density()
        self.metrics: dict[str, Any] = {}  # the last metrics and D*, with the step they were computed at
        self.metrics_at = (-1, -1, 0.0)  # (step, d_updates, time)

    def _density(self) -> Any:
        """log p_data: the data set's own, else a KDE of a fixed data sample (drawn points, moons, ...)."""
        ds = cast(PointSet, self.trainer.dataset)  # the lab trains toy point sets only
        if ds.has_density:
            return ds.log_prob
        real = self.trainer.fixed_real.double().numpy()
        h = lcv_bandwidth(real, scale=float(np.sqrt(np.mean(np.var(real, axis=0)))) or None)
        return lambda x: gaussian_kde_logpdf(np.asarray(x, dtype=np.float64), real, h)

    @property
    def cross_entropy(self) -> bool:
        objective = self.trainer.recipe.objective
        return objective is not None and objective.d_loss_targets is not None

    def _note(self, record: dict[str, Any]) -> None:
        self.trainer.stats.write(record)
        self.history.append(record)

    # ------------------------------------------------------------------ training (under the lab's lock)
    def iterate(self) -> None:
        """One training iteration, exactly as ``gankit train`` makes it (k D updates, one G update)."""
        record = self.trainer.iteration()
        if record is not None:
            self.history.append({"step": self.trainer.step, **record})

    def single(self, which: str) -> dict[str, Any]:
        """One D update (``"d"``) or one G update (``"g"``) alone, noted in stats.jsonl."""
        t = self.trainer
        t.recipe.stats_wanted = True
        stats = t.d_update() if which == "d" else t.g_update()
        t._check_finite(stats)
        record = {"step": t.step, "event": f"{which}_step", "d_updates": t.d_updates,
                  **{k: float(v) for k, v in stats.items()}}
        self._note(record)
        return record

    def set(self, changes: Any) -> dict[str, Any]:
        """Apply LIVE changes in place (optimisers' param_groups, the recipe's objective, the reg section)."""
        if not isinstance(changes, dict) or not changes:
            raise ConfigError("give the settings to change as a JSON object")
        bad = [k for k in changes if k not in LIVE]
        if bad:
            raise ConfigError(f"'{bad[0][:60]}' cannot change while training (these can: {', '.join(LIVE)}); "
                              "set it up anew instead")
        trial = check_settings({**{k: v for k, v in self.settings.items()}, **changes})
        candidate = copy.deepcopy(self.cfg)
        for key in changes:
            section, name = key.split(".")
            setattr(getattr(candidate, section), name, trial[key])
        config_mod.validate(candidate)
        if candidate.reg.label_smoothing > 0 and OBJECTIVES.get(candidate.model.objective).d_loss_targets is None:
            raise ConfigError(f"reg.label_smoothing needs a cross-entropy objective (mmgan, nsgan), "
                              f"not '{candidate.model.objective}'")
        if (candidate.reg.gradient_penalty > 0 or candidate.reg.r1 > 0) and candidate.discriminator.norm == "batch":
            raise ConfigError("the gradient penalty and R1 need a discriminator without batch norm: set it up anew "
                              "with discriminator.norm=auto")
        t = self.trainer
        for key in changes:
            section, name = key.split(".")
            value = trial[key]
            setattr(getattr(self.cfg, section), name, value)  # the recipe reads cfg.reg and the trainer cfg.train
            if name == "lr":
                for group in t.recipe.optimizers[section[0]].param_groups:
                    group["initial_lr"] = value
                    group["lr"] = value  # the lab's schedule is constant
            elif key == "model.objective":
                t.recipe.objective = OBJECTIVES.get(value)
            self.settings[key] = value
        config_mod.save(self.cfg, self.run.config)
        record = {"step": t.step, "event": "set", "d_updates": t.d_updates, **{k: trial[k] for k in changes}}
        self._note(record)
        return record

    # ------------------------------------------------------------------ view
    def take(self) -> dict[str, Any]:
        """Copy the weights for a view and what it shows of the session (under the lab's lock)."""
        self.copy.take(self.trainer)
        return {"id": self.run.root.name, "step": self.trainer.step, "d_updates": self.trainer.d_updates,
                "error": self.error, "settings": self.settings, "dim": self.trainer.dataset.dim,
                "cross_entropy": self.cross_entropy, "history_len": len(self.history)}

    def picture(self, state: dict[str, Any]) -> dict[str, Any]:
        """The snapshot and the manifold drawn from the copy (outside the lock), with the latest metrics and D*."""
        snap = toy_view(self.copy, state["step"], grid_n=GRID)  # type: ignore[arg-type]  # _Copy: what it reads
        snap["manifold"] = manifold(self.copy.sampling_net(), self.cfg.generator.prior, self.cfg.generator.noise_dim)
        snap["dstar"] = self.metrics.get("dstar") if state["cross_entropy"] else None
        snap["metrics"] = self.metrics.get("record")
        return snap

    def measure(self, state: dict[str, Any], snap: dict[str, Any]) -> dict[str, Any]:
        """JS (KDE), exact W1, the modes covered and D* for the samples of ``snap`` (the metrics thread)."""
        fake = snap["fake"]
        m: dict[str, Any] = {"step": state["step"], "event": "metrics", "d_updates": state["d_updates"]}
        if not np.isfinite(fake).all():
            return m
        real = self.trainer.fixed_real.double().numpy()
        with contextlib.suppress(GankitError, ValueError, np.linalg.LinAlgError):
            h = lcv_bandwidth(fake, scale=float(np.sqrt(np.mean(np.var(real, axis=0)))) or None,
                              max_points=METRIC_POINTS)
            m["js"] = kde_divergences(fake, real, self._log_p_data, bandwidth=h)["js"]
            if state["cross_entropy"] and snap["grid"] is not None:
                self.metrics["dstar"] = optimal_d(snap, self._log_p_data, fake, h)
        with contextlib.suppress(GankitError, ValueError):
            m["w1"] = wasserstein_points(fake, real, max_points=METRIC_POINTS)
        ds = cast(PointSet, self.trainer.dataset)
        if ds.modes is not None and ds.mode_std is not None:
            m["modes"] = mode_stats(fake, ds.modes, ds.mode_std)["modes"]
            m["modes_total"] = len(ds.modes)
        self.metrics["record"] = m
        return m

    # ------------------------------------------------------------------ save as run
    def save_as_run(self, runs_dir: Path, name: Any) -> RunDir:
        """A normal run folder ``runs_dir/name`` of the session now (call under the lab's lock)."""
        if not isinstance(name, str) or not _RUN_NAME.fullmatch(name):
            raise ConfigError("a run name is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
        target = RunDir(runs_dir / name)
        if target.root.exists():
            raise ConfigError(f"there is already a run '{name}' in {runs_dir}: pick another name")
        t = self.trainer
        cfg = copy.deepcopy(self.cfg)
        cfg.run.out_dir, cfg.run.name = str(runs_dir), name
        cfg.train.steps = max(cfg.train.steps, t.step)
        cfg.train.sample_every = SAVED_SAMPLE_EVERY
        target.root.mkdir(parents=True)
        try:
            if cfg.data.name == DRAWN:  # the drawing travels with the run
                points = target.root / "points.npy"
                shutil.copyfile(cfg.data.path, points)
                cfg.data.path = str(points.resolve())
            config_mod.save(cfg, target.config)
            if self.run.stats.exists():
                atomic_write_bytes(target.stats, self.run.stats.read_bytes())
            state = t.state_dict()
            state["config"] = config_mod.to_dict(cfg)
            save_checkpoint(target.checkpoint, state)
            run, lab_cfg = t.run, t.cfg
            t.run, t.cfg = target, cfg  # export and the snapshot figure read the run folder and the config
            try:
                t.export_generator()
                ToyFigures(0)._write(t, t.step)
            finally:
                t.run, t.cfg = run, lab_cfg
        except BaseException:
            shutil.rmtree(target.root, ignore_errors=True)  # never half a run
            raise
        self._note({"step": t.step, "event": "saved", "d_updates": t.d_updates, "run": name})
        return target

