"""``gankit lab``: the lectures' 1-D and 2-D pictures, live, with the training in the learner's hands.

GAN Lab (Kahng et al., "GAN Lab: Understanding Complex Deep Generative Models using Interactive Visual
Experimentation", IEEE VIS 2018) in gankit's own terms: the page (``static/lab.html``, ``lab.js``, drawing
with ``draw.js``) sets up a toy experiment, drives it and draws it; this module trains it with gankit's
own code. A :class:`LabSession` is a config built by :func:`gankit.config.resolve` from the page's
settings, a recipe from the registry and the :class:`~gankit.train.trainer.Trainer`: playing repeats
``Trainer.iteration`` (what ``gankit train`` repeats), the single steps are ``Trainer.d_update`` and
``Trainer.g_update``. There is no second loop and no second loss.

One worker thread owns the model; every command and every view takes the :class:`Lab`'s lock, so a
view never sees half a step. A view copies the weights into a second recipe under the lock and draws
from the copy outside it (``train.callbacks.toy_snapshot``: points, D on a grid, G's push), so the page
never holds training up for longer than a copy. The view adds what the lectures draw beside it:

- the generator's manifold: a grid of noise space and its image under G (GAN Lab's "generator
  transformation"); in 1-D the map z -> G(z) (Goodfellow et al. 2014, Figure 1);
- for the cross-entropy objectives the optimal discriminator D*(x) = p_data(x) / (p_data(x) + p_G(x))
  (Goodfellow et al. 2014, Proposition 1; Hung-yi Lee, Theory behind GAN), with p_data the data set's
  density (or a KDE of the drawn points) and p_G a KDE of the samples;
- JS (KDE, ``metrics.divergences.kde_divergences``), exact W1 (POT) and, for mixtures, the modes covered
  (``metrics.toy.mode_stats``), at most every ``METRICS_EVERY_S`` seconds, in a thread of their own so
  that a frame never waits for them.

Changes while paused or playing (learning rates, k, the objective, the penalties' weights) are applied
in place (the optimisers' ``param_groups``, the recipe's objective) and written to stats.jsonl as
``{"step": S, "event": "set", "g_optim.lr": ...}``; single steps as ``"event": "d_step"`` / ``"g_step"``
records. "Save as run" writes a normal run folder (config.yaml, stats.jsonl, checkpoint, generator
export, a snapshot) that ``gankit serve``, ``report``, ``eval`` and ``train --resume`` accept.

HTTP: the dashboard's server rules (``serve/server.py``: loopback only, loopback Host headers, paths
checked, a strict Content-Security-Policy) plus, for the POSTs that drive it: JSON bodies only
(``Content-Type: application/json``, which a page of another origin cannot send without a preflight
this server never grants), an ``Origin`` that matches the Host when one is sent, at most ``MAX_BODY``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import math
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import torch

from gankit import api
from gankit import config as config_mod
from gankit.errors import ConfigError, DataError, GankitError
from gankit.evalmode import evaluating
from gankit.fileio import atomic_write_bytes
from gankit.metrics.divergences import gaussian_kde_logpdf, kde_divergences, lcv_bandwidth, wasserstein_points
from gankit.metrics.toy import mode_stats
from gankit.nets.priors import box
from gankit.registry import OBJECTIVES, RECIPES
from gankit.serve.server import STATIC, Handler, Limits, Refused, bind, encode
from gankit.train.callbacks import ToyFigures, toy_view
from gankit.train.checkpoint import save_checkpoint
from gankit.train.rundir import RunDir

log = logging.getLogger("gankit")

TOY_SETS = ("gauss1d", "bimodal1d", "ring8", "grid25", "swissroll", "moons", "parallel-lines")
DRAWN = "points"  # data.name of the points the learner draws (the registered 'points' data set)
MAX_POINTS = 5000
MAX_BODY = 1 << 20  # bytes of a POST body (5,000 drawn points are ~100 KB)
MAX_LR = 10.0
GRID = 40  # D's grid in 2-D is GRID x GRID
MANIFOLD_LINES, MANIFOLD_POINTS = 11, 41  # noise-space grid lines, points along each
METRICS_EVERY_S = 1.0
METRIC_POINTS = 256  # samples behind the bandwidth choice and W1 (EMD's cost grows ~n³; the page must not slow training)
HISTORY_PAGE = 2000  # history records per view
VIEW_SHARE = 0.05  # while playing, views take at most this share of the time (they share the GIL with training)
SAVED_SAMPLE_EVERY = 500  # train.sample_every of a saved run (figures when it is resumed)

# The page's settings are config keys (so a lab link reads like `gankit train` overrides): type, and the
# bounds that keep the lab interactive. Keys in LIVE change a running session; the others start a new one.
SETTINGS: dict[str, tuple[type, Any]] = {
    "data.name": (str, TOY_SETS + (DRAWN,)),
    "data.batch_size": (int, (1, 4096)),
    "generator.noise_dim": (int, (1, 2)),
    "generator.prior": (str, ("normal", "uniform")),
    "generator.width": (int, (1, 512)),
    "generator.depth": (int, (0, 8)),
    "generator.activation": (str, None),
    "discriminator.width": (int, (1, 512)),
    "discriminator.depth": (int, (0, 8)),
    "discriminator.activation": (str, None),
    "discriminator.norm": (str, ("auto", "batch")),
    "discriminator.spectral_norm": (bool, None),
    "discriminator.minibatch": (str, None),
    "model.objective": (str, None),
    "model.pack": (int, (1, 8)),
    "model.unroll": (int, (0, 10)),
    "g_optim.name": (str, None),
    "d_optim.name": (str, None),
    "g_optim.lr": (float, (0.0, MAX_LR)),
    "d_optim.lr": (float, (0.0, MAX_LR)),
    "train.d_steps": (int, (1, 100)),
    "train.steps": (int, (1, 10_000_000)),
    "train.ema": (float, None),
    "reg.clip": (float, None),
    "reg.gradient_penalty": (float, (0.0, 1e4)),
    "reg.r1": (float, (0.0, 1e4)),
    "reg.instance_noise": (float, (0.0, 10.0)),
    "reg.label_smoothing": (float, None),
    "run.seed": (int, (0, 2**31 - 1)),
}
LIVE = ("g_optim.lr", "d_optim.lr", "train.d_steps", "model.objective", "reg.clip", "reg.gradient_penalty",
        "reg.r1", "reg.instance_noise", "reg.label_smoothing")
DEFAULTS: dict[str, Any] = {
    "data.name": "ring8", "data.batch_size": 256, "generator.noise_dim": 2, "generator.prior": "normal",
    "generator.width": 64, "generator.depth": 3, "generator.activation": "relu",
    "discriminator.width": 64, "discriminator.depth": 3, "discriminator.activation": "relu",
    "discriminator.norm": "auto", "discriminator.spectral_norm": False, "discriminator.minibatch": "none",
    "model.objective": "nsgan", "model.pack": 1, "model.unroll": 0, "g_optim.name": "adam", "d_optim.name": "adam",
    "g_optim.lr": 1e-3, "d_optim.lr": 1e-3, "train.d_steps": 1, "train.steps": 5000, "train.ema": 0.0,
    "reg.clip": 0.0, "reg.gradient_penalty": 0.0, "reg.r1": 0.0, "reg.instance_noise": 0.0,
    "reg.label_smoothing": 0.0, "run.seed": 0,
}
# What the lab fixes: interactive training on the CPU, one thread, a stats line every 10 steps, no figures.
FIXED = ["run.device=cpu", "run.threads=1", "run.name=lab", "train.lr_schedule=constant", "train.log_every=10",
         "train.sample_every=0", "train.diagnostics_every=0", "train.progress=false", "train.checkpoint_every=1000",
         "eval.metrics=[auto]"]
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _setting(key: str, value: Any) -> Any:
    """``value`` for setting ``key`` checked for type and bounds; ConfigError naming the key otherwise."""
    kind, bounds = SETTINGS[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {'a number' if kind in (int, float) else 'true or false' if kind is bool else 'a name'}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number")
    if isinstance(bounds, tuple) and kind is str and value not in bounds:
        raise ConfigError(f"{key}: the lab offers {', '.join(bounds)}, not '{value[:40]}'")
    if isinstance(bounds, tuple) and kind in (int, float):
        lo, hi = bounds
        if key.endswith(".lr") and not 0 < value <= hi:
            raise ConfigError(f"{key}={value:g} is not a learning rate the lab trains with: choose one in (0, {hi:g}]")
        if not lo <= value <= hi:
            raise ConfigError(f"{key} must be between {lo:g} and {hi:g} in the lab, got {value:g}")
    return value


def check_settings(settings: Any) -> dict[str, Any]:
    """The page's settings over :data:`DEFAULTS`, each checked; ``points`` (the drawing) kept aside."""
    if not isinstance(settings, dict):
        raise ConfigError("the lab's settings must be a JSON object")
    unknown = sorted(k for k in settings if k not in SETTINGS and k != "points")
    if unknown:
        raise ConfigError(f"unknown lab setting '{unknown[0][:60]}'; the lab sets: {', '.join(SETTINGS)}")
    out = dict(DEFAULTS)
    for key, value in settings.items():
        if key != "points":
            out[key] = _setting(key, value)
    if out["data.name"] == DRAWN:
        out["points"] = check_points(settings.get("points"))
    return out


def check_points(points: Any) -> list[list[float]]:
    """Drawn points: 2 to MAX_POINTS rows of 1 or 2 finite numbers each; DataError with one sentence otherwise."""
    if not isinstance(points, list) or len(points) < 2:
        raise DataError("the drawing has fewer than 2 points: click or drag on the canvas to draw the data first")
    if len(points) > MAX_POINTS:
        raise DataError(f"the drawing has {len(points)} points; the lab takes at most {MAX_POINTS}")
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("drawn points must be lists of 1 or 2 numbers, all of the same length") from None
    if arr.ndim != 2 or arr.shape[1] not in (1, 2):
        raise DataError("drawn points must be lists of 1 or 2 numbers, all of the same length")
    if not np.isfinite(arr).all():
        raise DataError("drawn points must be finite numbers")
    if np.ptp(arr, axis=0).max() == 0:
        raise DataError("the drawn points are all at one place: draw at least two different points")
    return arr.round(5).tolist()


def build_config(settings: dict[str, Any], workdir: Path) -> Any:
    """The run config of checked ``settings``: ``config.resolve`` over the lab's fixed keys (points -> a file)."""
    overrides = [*FIXED, f"run.out_dir={json.dumps(str(workdir.parent))}"]
    for key, value in settings.items():
        if key in SETTINGS:
            overrides.append(f"{key}={json.dumps(value)}")
    if settings["data.name"] == DRAWN:
        path = workdir / "points.npy"
        buf = _npy(np.asarray(settings["points"], dtype=np.float64))
        atomic_write_bytes(path, buf)
        overrides.append(f"data.path={json.dumps(str(path))}")
    cfg = config_mod.resolve("ring8", overrides=overrides)
    objective = OBJECTIVES.get(cfg.model.objective)
    if (cfg.reg.gradient_penalty > 0 or cfg.reg.r1 > 0) and cfg.discriminator.norm == "batch":
        raise ConfigError("the gradient penalty and R1 need a discriminator without batch norm (batch norm mixes "
                          "the samples, so the penalised gradient is not D's; Gulrajani et al. 2017): "
                          "set discriminator.norm=auto")
    if cfg.reg.label_smoothing > 0 and objective.d_loss_targets is None:
        raise ConfigError(f"reg.label_smoothing needs a cross-entropy objective (mmgan, nsgan), not '{cfg.model.objective}'")
    return cfg


def _npy(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


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
        ds = self.trainer.dataset
        if ds.has_density:
            return ds.log_prob
        real = self.trainer.fixed_real.double().numpy()
        h = lcv_bandwidth(real, scale=float(np.sqrt(np.mean(np.var(real, axis=0)))) or None)
        return lambda x: gaussian_kde_logpdf(np.asarray(x, dtype=np.float64), real, h)

    @property
    def cross_entropy(self) -> bool:
        return self.trainer.recipe.objective.d_loss_targets is not None

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
        return {"id": self.run.root.name, "step": self.trainer.step, "d_updates": self.trainer.d_updates, "error": self.error,
                "settings": self.settings, "dim": self.trainer.dataset.dim, "cross_entropy": self.cross_entropy,
                "history_len": len(self.history)}

    def picture(self, state: dict[str, Any]) -> dict[str, Any]:
        """The snapshot and the manifold drawn from the copy (outside the lock), with the latest metrics and D*."""
        snap = toy_view(self.copy, state["step"], grid_n=GRID)
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
        ds = self.trainer.dataset
        if getattr(ds, "modes", None) is not None and getattr(ds, "mode_std", None) is not None:
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


class Lab:
    """The server side of the page: one session, the worker thread that plays it, commands and views."""

    def __init__(self, runs_dir: str | Path, workdir: str | Path | None = None) -> None:
        self.runs_dir = Path(runs_dir).resolve()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="gankit-lab-"))
        self.lock = threading.Condition()
        self.session: LabSession | None = None
        self.playing = False
        self.delay = 0.0  # slow motion: seconds between iterations
        self.closed = False
        self._waiting = 0  # views and commands queued for the lock: the worker lets them in
        self._rate = (0, time.perf_counter(), 0.0)  # (step, time, steps/s while playing)
        self._view_lock = threading.Lock()
        self._view_start, self._view_cost = 0.0, 0.0
        self._job: tuple[LabSession, dict[str, Any], dict[str, Any]] | None = None
        self._job_ready = threading.Event()
        threading.Thread(target=self._measure, name="gankit-lab-metrics", daemon=True).start()
        self._generation = 0
        self.thread = threading.Thread(target=self._work, name="gankit-lab", daemon=True)
        self.thread.start()

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """The lock, taken fairly: the worker yields it between iterations when someone waits."""
        self._waiting += 1
        with self.lock:
            self._waiting -= 1
            yield

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        self._job_ready.set()
        self.thread.join(5)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.closed and not (self.playing and self.session is not None):
                    self.lock.wait()
                if self.closed:
                    return
                s = self.session
                try:
                    s.iterate()
                except GankitError as exc:  # a non-finite loss: paused, the message in the page
                    self.playing, s.error = False, str(exc)
                except Exception as exc:  # noqa: BLE001 (a bug must pause the lab, never kill its thread)
                    log.warning("gankit lab: training failed: %s: %s", type(exc).__name__, exc)
                    self.playing, s.error = False, f"training stopped: {type(exc).__name__}: {str(exc)[:200]}"
                step = s.trainer.step
            n0, t0, rate = self._rate
            now = time.perf_counter()
            if now - t0 >= 0.5:
                self._rate = (step, now, (step - n0) / (now - t0) if step >= n0 else 0.0)
            if self.delay:
                time.sleep(self.delay)
            elif self._waiting:
                time.sleep(0.0002)  # let the waiting view or command take the lock

    # ------------------------------------------------------------------ commands
    def setup(self, settings: Any) -> dict[str, Any]:
        """A new session (the old one is kept when the settings are refused)."""
        with self._turn():
            was = self.playing
            self.playing = False
            try:
                self._generation += 1
                session = LabSession(settings, self.workdir / f"session-{self._generation}")
            except BaseException:
                self.playing = was
                raise
            old, self.session = self.session, session
        if old is not None:
            shutil.rmtree(old.run.root, ignore_errors=True)
        return {"ok": True, "settings": session.settings}

    def _session(self) -> LabSession:
        if self.session is None:
            raise ConfigError("no experiment is set up yet")
        return self.session

    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        cmd = body.get("cmd")
        if cmd == "reset":
            return self.setup(self._session().settings)
        with self._turn():
            s = self._session()
            if cmd == "play":
                s.error = ""
                self.playing = True
                self._rate = (s.trainer.step, time.perf_counter(), self._rate[2])
                self.lock.notify_all()
            elif cmd == "pause":
                self.playing = False
            elif cmd in ("step-d", "step-g"):
                self.playing = False
                s.error = ""
                try:
                    return {"ok": True, "record": s.single(cmd[-1])}
                except GankitError as exc:
                    s.error = str(exc)
                    raise
            elif cmd == "step":
                self.playing = False
                s.error = ""
                try:
                    s.iterate()
                except GankitError as exc:
                    s.error = str(exc)
                    raise
            elif cmd == "speed":
                delay = body.get("delay")
                if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= 5:
                    raise ConfigError("slow motion takes a delay between 0 and 5 seconds per step")
                self.delay = float(delay)
            elif cmd == "set":
                return {"ok": True, "record": s.set(body.get("changes"))}
            elif cmd == "save":
                run = s.save_as_run(self.runs_dir, body.get("name"))
                return {"ok": True, "run": str(run.root)}
            else:
                raise ConfigError("unknown lab command; use one of: play, pause, step, step-d, step-g, reset, "
                                  "speed, set, save")
            return {"ok": True}

    def state(self, since: int = 0) -> dict[str, Any]:
        """What the page draws: the session's counters and settings, the picture, the history after ``since``."""
        with self._view_lock:  # one view at a time draws from the copy of the weights
            if self.playing:  # tiny nets train at Python speed: every ms a view holds the GIL is a ms lost
                time.sleep(max(0.0, self._view_start + self._view_cost / VIEW_SHARE - time.perf_counter()))
            start = self._view_start = time.perf_counter()  # wall time: on a busy machine the views slow down first
            with self._turn():
                s = self.session
                if s is None:
                    return {"session": None}
                state = s.take()
                state.update(playing=self.playing, delay=self.delay)
                since = min(since, len(s.history))
                history = s.history[since:since + HISTORY_PAGE]
            picture = s.picture(state)
            snap = packed(picture)  # the packing holds the GIL too: part of the view's cost
            self._view_cost = 0.8 * self._view_cost + 0.2 * (time.perf_counter() - start)
        now = time.perf_counter()
        if (state["step"], state["d_updates"]) != s.metrics_at[:2] and now - s.metrics_at[2] >= METRICS_EVERY_S:
            s.metrics_at = (state["step"], state["d_updates"], now)
            self._job = (s, state, picture)  # the metrics thread measures the newest view it finds
            self._job_ready.set()
        state["steps_per_s"] = round(self._rate[2], 1) if self.playing else 0.0
        return {"session": state, "snap": snap, "history": history, "next": since + len(history)}

    def _measure(self) -> None:
        """The metrics thread: JS, W1, modes and D* of the newest view, off the page's path."""
        while True:
            self._job_ready.wait()
            self._job_ready.clear()
            if self.closed:
                return
            s, state, snap = self._job
            try:
                record = s.measure(state, snap)
            except Exception as exc:  # noqa: BLE001 (a failed estimate costs one curve point)
                log.warning("gankit lab: metrics failed: %s: %s", type(exc).__name__, exc)
                continue
            with self._turn():
                s.history.append(record)


# ---------------------------------------------------------------------------------------------- HTTP
def choices() -> dict[str, Any]:
    """What the page's menus offer (registry-driven where gankit has a registry)."""
    objectives = [{"name": n, "description": OBJECTIVES.describe(n),
                   "cross_entropy": OBJECTIVES.get(n).d_loss_targets is not None,
                   "critic": OBJECTIVES.get(n).to_prob is None} for n in OBJECTIVES.names()]
    return {"datasets": list(TOY_SETS), "drawn": DRAWN, "objectives": objectives,
            "activations": list(config_mod.ACTIVATIONS), "optimizers": list(config_mod.OPTIMIZERS),
            "priors": ["normal", "uniform"], "minibatch": list(config_mod.MINIBATCH), "live": list(LIVE),
            "defaults": DEFAULTS, "max_points": MAX_POINTS, "max_lr": MAX_LR}


class LabHandler(Handler):
    """GET: the page, its assets, ``/api/lab/choices`` and ``/api/lab/state?since=N``; POST (JSON):
    ``/api/lab/setup`` (settings) and ``/api/lab/command`` ({"cmd": ...})."""

    lab: Lab  # set on the subclass make_lab_server builds
    limits = Limits()

    def _route(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if path in ("/", "/lab.html"):
            self._path(STATIC / "lab.html", "text/html; charset=utf-8")
        elif path.startswith("/static/"):
            self._static(path)
        elif path == "/api/lab/choices":
            self._json(choices())
        elif path == "/api/lab/state":
            since = query.get("since", "0")
            if not since.isdigit():
                raise Refused(HTTPStatus.BAD_REQUEST, "query parameter 'since' must be a whole number >= 0")
            self._json(self.lab.state(int(since)))
        else:
            raise Refused(HTTPStatus.NOT_FOUND, f"no page '{path}'")

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self._answer(self._post)

    def _post(self) -> None:
        if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the lab takes JSON (Content-Type: application/json)")
        origin = self.headers.get("Origin")
        if origin and urlsplit(origin).netloc != self.headers.get("Host", ""):
            raise Refused(HTTPStatus.FORBIDDEN, "a page of another origin may not drive the lab")
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a lab request is at most {MAX_BODY >> 10} KiB")
        try:
            body = json.loads(self.rfile.read(int(length)) or b"{}")
        except (ValueError, RecursionError):
            raise Refused(HTTPStatus.BAD_REQUEST, "the request is not valid JSON") from None
        if not isinstance(body, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, "the request must be a JSON object")
        path = urlsplit(self.path).path
        try:
            if path == "/api/lab/setup":
                answer = self.lab.setup(body.get("settings", {}))
            elif path == "/api/lab/command":
                answer = self.lab.command(body)
            else:
                raise Refused(HTTPStatus.NOT_FOUND, f"no action '{path[:60]}'")
        except GankitError as exc:  # the page shows the message; the server and the session live on
            self._send(HTTPStatus.BAD_REQUEST, encode({"error": str(exc)}), "application/json")
            return
        self._json(answer)


def make_lab_server(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 8060,
                    settings: dict[str, Any] | None = None, workdir: str | Path | None = None) -> Any:
    """A lab server (not started: call ``serve_forever``; ``server.lab.close()`` at the end); port 0 picks one.

    ``runs_dir`` is where "save as run" writes (created when missing); the session starts from ``settings``
    (the defaults when None).
    """
    runs = Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    lab = Lab(runs, workdir)
    try:
        lab.setup(settings or {})
        server = bind(type("LabHandler", (LabHandler,), {"lab": lab}), host, port)
    except BaseException:
        lab.close()
        raise
    server.lab = lab  # type: ignore[attr-defined]
    return server
