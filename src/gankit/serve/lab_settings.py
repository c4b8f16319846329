"""The settings of ``gankit lab``'s page: which config keys it sets and within which bounds, the checks on
what the page sends, the run config they make, and the menus the page offers (see :mod:`gankit.serve.lab`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from gankit import config as config_mod
from gankit.errors import ConfigError, DataError
from gankit.fileio import atomic_write_bytes
from gankit.registry import OBJECTIVES

TOY_SETS = ("gauss1d", "bimodal1d", "ring8", "grid25", "swissroll", "moons", "parallel-lines")
DRAWN = "points"  # data.name of the points the learner draws (the registered 'points' data set)
MAX_POINTS = 5000
MAX_LR = 10.0

# The page's settings are config keys (so a lab link reads like `gankit train` overrides): type, and the
# bounds that keep the lab interactive. Keys in LIVE change a running session; the others start a new one.
SETTINGS: dict[str, tuple[type[Any], Any]] = {
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


def _setting(key: str, value: Any) -> Any:
    """``value`` for setting ``key`` checked for type and bounds; ConfigError naming the key otherwise."""
    kind, bounds = SETTINGS[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        what = "a number" if kind in (int, float) else "true or false" if kind is bool else "a name"
        raise ConfigError(f"{key} must be {what}")
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
        raise ConfigError("reg.label_smoothing needs a cross-entropy objective (mmgan, nsgan), "
                          f"not '{cfg.model.objective}'")
    return cfg


def _npy(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def choices() -> dict[str, Any]:
    """What the page's menus offer (registry-driven where gankit has a registry)."""
    objectives = [{"name": n, "description": OBJECTIVES.describe(n),
                   "cross_entropy": OBJECTIVES.get(n).d_loss_targets is not None,
                   "critic": OBJECTIVES.get(n).to_prob is None} for n in OBJECTIVES.names()]
    return {"datasets": list(TOY_SETS), "drawn": DRAWN, "objectives": objectives,
            "activations": list(config_mod.ACTIVATIONS), "optimizers": list(config_mod.OPTIMIZERS),
            "priors": ["normal", "uniform"], "minibatch": list(config_mod.MINIBATCH), "live": list(LIVE),
            "defaults": DEFAULTS, "max_points": MAX_POINTS, "max_lr": MAX_LR}

