"""A finished run's exported generator, read back: ``load_generator`` (checksum verified, rebuilt within the
memory budget), its data shape, and discriminator rejection sampling from the run. Below :mod:`gankit.api`
and :mod:`gankit.evaluation`, which re-export and use them."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open

from gankit import budget
from gankit import config as config_mod
from gankit.errors import CheckpointError, ConfigError
from gankit.train.build import build_generator, load_recipe
from gankit.train.checkpoint import verify_export
from gankit.train.rundir import find_run
from gankit.yamlio import json_int


def load_generator(run: str | Path) -> tuple[Any, Any, dict[str, str]]:
    """Rebuild the exported generator of a run: (net in eval mode, config, safetensors metadata).

    The net is an ``nn.Module`` keeping :class:`gankit.nets.capabilities.GeneratorNet` (typed Any: generator
    families share no base class); check its optional capabilities with ``isinstance`` (``Staged``, ...).
    """
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


def check_text(net: Any, cfg: Any, run: str | Path, text: str | None) -> None:
    """Refuse a caption (``--text``) for a generator that draws no text-conditioned samples."""
    if text is not None and "text" not in inspect.signature(net.sample_noise).parameters:
        raise ConfigError(f"--text needs a text-to-image run (e.g. preset stackgan-shapes); "
                          f"'{run}' has a '{cfg.generator.name}' generator")


def rejection_sampler(run: str | Path, steps: int, seed: int = 0, gamma: float | None = None,
                      net: Any = None) -> Any:
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
