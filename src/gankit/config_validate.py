"""Plain data (YAML, overrides) into a typed :class:`~gankit.config_schema.Config`, and the checks on it.

Unknown keys, wrong types, out-of-range values and unknown registry names raise :class:`ConfigError` with
one sentence that names the key and the allowed values (docs/architecture.md rule 7).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import math
import re
import reprlib
import textwrap
import typing
from typing import Any

from gankit.config_schema import Config
from gankit.errors import ConfigError


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls)}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


# Structural limits checked before anything is built (memory is checked later, by gankit.budget): networks
# are built layer by layer in Python, so a depth of 10^7 would take minutes and gigabytes even on the
# meta device. The values are far beyond any run the presets or the papers they follow make.
MAX_DEPTH = 1000  # hidden layers / blocks of one network
MAX_IMAGE_SIDE = 1024  # pixels (the largest GANs of the period, e.g. progressive GANs, train at 1024)
MAX_LEVELS = 10  # Laplacian pyramid levels
NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
INT_LIMIT = 2**63 - 1  # integers beyond int64 reach no tensor or loop: refused rather than overflowing later
MAX_PRIOR_COMPONENTS = 256  # StackGAN's caption prior (18 completions at most on shapes-captions)
MAX_PRIOR_STEPS = 100_000  # its fitting steps (4,000 take about a minute)


_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxtuple, _SHOW.maxdict, _SHOW.maxset = 2, 4, 4, 4, 4
_SHOW.maxstring, _SHOW.maxother = 60, 60


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: hostile input gets a short message, never a wall of text.

    Nested containers are shown to two levels (a value with shared parts is never expanded), and an
    integer too long for Python to print (over 4,300 digits) by its size.
    """
    if isinstance(value, int) and value.bit_length() > 256:
        return f"a {int(value.bit_length() * math.log10(2)) + 1}-digit integer"
    text = _SHOW.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_DIGITS = re.compile(r"[-+]?[0-9][0-9_]*")


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Return ``value`` as type ``tp`` or raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str):  # "a,b" on the command line
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a {_type_name(tp)}, got {_show(value)}")
        return [_coerce(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {_show(value)}")
    if tp is int:
        if isinstance(value, str):  # YAML 1.1 reads "1e3" as a string
            try:
                value = float(value) if float(value).is_integer() else value
            except (ValueError, OverflowError):
                pass
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > INT_LIMIT:
                raise ConfigError(f"{key} must be an integer of at most 19 digits, got {_show(value)}")
            return value
        if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):  # e.g. 4,301 digits, kept as text
            raise ConfigError(f"{key} must be an integer of at most 19 digits, "
                              f"got a {len(value.strip())}-character number")
        raise ConfigError(f"{key} must be an integer, got {_show(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                out = float(value)
            except ValueError:
                raise ConfigError(f"{key} must be a number, got {_show(value)}") from None
        else:
            raise ConfigError(f"{key} must be a number, got {_show(value)}")
        if not math.isfinite(out):
            raise ConfigError(f"{key} must be a finite number, got {_show(value)}")
        return out
    if tp is str:
        if isinstance(value, (datetime.date, datetime.time)):  # YAML reads run.name=2024-05-01 as a date
            value = value.isoformat()
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            if "\x00" in value:
                raise ConfigError(f"{key} must not contain NUL characters, got {_show(value)}")
            return value
        raise ConfigError(f"{key} must be a string, got {_show(value)}")
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in this module


KEY_LIST_MAX = 400  # characters of allowed keys an unknown-key error lists (a section such as model has ~40)


def _allowed_keys(key: str, names: list[str], scope: str) -> str:
    """What an unknown ``key`` of ``scope`` may be: "keys allowed in SCOPE: a, b, c"; a list longer than
    :data:`KEY_LIST_MAX` characters is cut ("... (N keys)") after the close matches ("did you mean ...?"), so the
    error stays one short line."""
    listed = ", ".join(names)
    if len(listed) <= KEY_LIST_MAX:
        return f"keys allowed in {scope}: {listed}"
    close = difflib.get_close_matches(key, names, n=3)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    shown = textwrap.shorten(listed, KEY_LIST_MAX, placeholder=f" ... ({len(names)} keys)")
    return f"{hint}keys allowed in {scope}: {shown}"


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        where = f"section '{prefix}'" if prefix else "the config"
        raise ConfigError(f"{where} must be a mapping of keys to values, got {_show(data)}")
    fields = _fields(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            scope = f"'{prefix}'" if prefix else "the config"
            raise ConfigError(f"unknown key '{full}'; {_allowed_keys(str(key), list(fields), scope)}")
        f, tp = fields[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, full)
        else:
            kwargs[key] = _coerce(full, value, tp)
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a Config from nested plain data (YAML)."""
    cfg = _build(Config, data, "")
    validate(cfg)
    return cfg


def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _check_choices(obj: Any, prefix: str) -> None:
    for name, (f, tp) in _fields(type(obj)).items():
        value = getattr(obj, name)
        key = f"{prefix}.{name}" if prefix else name
        if dataclasses.is_dataclass(tp):
            _check_choices(value, key)
            continue
        choices = f.metadata.get("choices")
        if choices is None:
            continue
        allowed = list(choices() if callable(choices) else choices)
        if value not in allowed:
            raise ConfigError(f"{key}: unknown value '{value}'; choose one of: {', '.join(allowed)}")


def validate(cfg: Config) -> None:
    """Check registry names, enumerations and ranges; raise ConfigError on the first problem."""
    _check_choices(cfg, "")
    checks: list[tuple[bool, str]] = [
        (cfg.data.batch_size > 0, "data.batch_size must be > 0"),
        (cfg.data.image_size == 0 or cfg.data.image_size >= 2,
         "data.image_size must be 0 (the data set's own) or >= 2"),
        (cfg.data.channels in (0, 1, 3), "data.channels must be 0 (the data set's own), 1 or 3"),
        (cfg.data.workers >= 0 and cfg.data.memory_mb >= 0, "data.workers and data.memory_mb must be >= 0"),
        (cfg.data.max_pixels > 0 and cfg.data.max_dim > 0, "data.max_pixels and data.max_dim must be > 0"),
        (cfg.generator.noise_dim > 0 or (cfg.generator.noise_dim == 0 and cfg.generator.dropout > 0),
         "generator.noise_dim must be > 0 (0 only with generator.dropout > 0 as the noise source)"),
        (0.0 <= cfg.generator.dropout < 1.0, "generator.dropout must be in [0, 1)"),
        (cfg.generator.dropout == 0 or cfg.model.recipe in ("cgan", "pix2pix"),
         "generator.dropout (dropout as G's noise source) needs model.recipe=cgan or pix2pix"),
        (cfg.model.l1_weight >= 0 and cfg.model.adv_weight >= 0 and cfg.model.source_channels >= 0,
         "model.l1_weight, model.adv_weight and model.source_channels must be >= 0"),
        (cfg.model.num_classes >= 0, "model.num_classes must be >= 0 (0: the data set's own)"),
        (cfg.model.recluster_every >= 1, "model.recluster_every must be >= 1 D steps"),
        (cfg.model.class_weight >= 0, "model.class_weight must be >= 0"),
        (cfg.model.coarse_steps >= 1, f"model.coarse_steps must be >= 1, got {cfg.model.coarse_steps}"),
        (0.0 <= cfg.model.chain_fraction <= 1.0,
         f"model.chain_fraction must be in [0, 1], got {cfg.model.chain_fraction}"),
        (cfg.generator.width > 0 and cfg.discriminator.width > 0, "network width must be > 0"),
        (cfg.generator.depth >= 0 and cfg.discriminator.depth >= 0, "network depth must be >= 0"),
        (cfg.generator.levels >= 0, "generator.levels must be >= 0 (0: automatic)"),
        (cfg.generator.depth <= MAX_DEPTH and cfg.discriminator.depth <= MAX_DEPTH,
         f"network depth must be at most {MAX_DEPTH} layers (a limit of gankit's: the presets use 2-4), got "
         f"generator.depth={cfg.generator.depth}, discriminator.depth={cfg.discriminator.depth}"),
        (cfg.generator.levels <= MAX_LEVELS,
         f"generator.levels must be at most {MAX_LEVELS} (a {MAX_IMAGE_SIDE}-pixel side halves 9 times), "
         f"got {cfg.generator.levels}"),
        (cfg.data.image_size <= MAX_IMAGE_SIDE,
         f"data.image_size must be at most {MAX_IMAGE_SIDE} pixels (a limit of gankit's), got {cfg.data.image_size}"),
        (cfg.run.max_memory_gb >= 0, "run.max_memory_gb must be >= 0 (0: the memory the machine has free)"),
        (0.0 <= cfg.discriminator.dropout < 1.0, "discriminator.dropout must be in [0, 1)"),
        (cfg.g_optim.lr > 0 and cfg.d_optim.lr > 0, "learning rates (g_optim.lr, d_optim.lr) must be > 0"),
        (len(cfg.g_optim.betas) == 2 and len(cfg.d_optim.betas) == 2, "optimiser betas must be two numbers"),
        (all(0 <= b < 1 for b in cfg.g_optim.betas + cfg.d_optim.betas), "optimiser betas must be in [0, 1)"),
        (cfg.train.steps > 0, "train.steps must be > 0"),
        (cfg.train.d_steps > 0, "train.d_steps must be > 0"),
        (0.0 <= cfg.train.ema < 1.0, "train.ema must be in [0, 1) (0 disables the EMA)"),
        (0.0 <= cfg.train.lr_final <= 1.0, "train.lr_final must be in [0, 1]"),
        (cfg.train.log_every > 0, "train.log_every must be > 0"),
        (cfg.train.checkpoint_every > 0, "train.checkpoint_every must be > 0"),
        (cfg.train.sample_every >= 0, "train.sample_every must be >= 0 (0 disables it)"),
        (cfg.train.eval_every >= 0, "train.eval_every must be >= 0 (0: only at the end)"),
        (cfg.train.diagnostics_every >= -1,
         "train.diagnostics_every must be >= -1 (-1: about 5 per train.sample_every, 0: off)"),
        (cfg.train.time_limit >= 0, "train.time_limit must be >= 0 minutes (0: no limit)"),
        (cfg.train.progress_every_s >= 0, "train.progress_every_s must be >= 0 seconds (0: no progress lines)"),
        (cfg.eval.num_samples > 0, "eval.num_samples must be > 0"),
        (cfg.eval.rejection >= 0, "eval.rejection must be >= 0 calibration steps (0: off)"),
        (cfg.eval.rejection_gamma >= 0, "eval.rejection_gamma must be >= 0"),
        (cfg.eval.rejection_lr > 0, "eval.rejection_lr must be > 0"),
        (0 < cfg.eval.rejection_quantile <= 1, "eval.rejection_quantile must be in (0, 1]"),
        (cfg.run.threads >= 0, "run.threads must be >= 0"),
        (min(cfg.reg.clip, cfg.reg.gradient_penalty, cfg.reg.r1, cfg.reg.instance_noise) >= 0,
         "reg.clip, reg.gradient_penalty, reg.r1 and reg.instance_noise must be >= 0 (0 disables them)"),
        (0 <= cfg.reg.instance_noise_floor <= cfg.reg.instance_noise,
         f"reg.instance_noise_floor must be in [0, reg.instance_noise = {cfg.reg.instance_noise:g}] (the std the "
         f"noise fades to), got {cfg.reg.instance_noise_floor:g}"),
        (cfg.reg.instance_noise_floor == 0 or cfg.reg.schedule == "linear",
         "reg.instance_noise_floor is where reg.schedule=linear ends the noise's fade: set reg.schedule=linear "
         "(with reg.schedule=constant the noise stays at reg.instance_noise)"),
        (0.0 <= cfg.reg.label_smoothing < 1.0, "reg.label_smoothing must be in [0, 1) (0 disables it)"),
        (0.0 <= cfg.reg.label_flip <= 0.5, "reg.label_flip must be in [0, 0.5] (0 disables it)"),
        (cfg.model.pack >= 1, "model.pack must be >= 1 (1: no packing)"),
        (cfg.model.pack < 1 or cfg.data.batch_size % cfg.model.pack == 0,
         f"data.batch_size ({cfg.data.batch_size}) must be a multiple of model.pack ({cfg.model.pack})"),
        (cfg.model.unroll >= 0, "model.unroll must be >= 0 (0: off)"),
        (not cfg.run.compile or (cfg.reg.gradient_penalty == 0 and cfg.reg.r1 == 0 and cfg.model.unroll == 0),
         "run.compile cannot be used with reg.gradient_penalty, reg.r1 or model.unroll: torch.compile does not "
         "support their double backward"),
        (cfg.discriminator.minibatch_kernels > 0, "discriminator.minibatch_kernels must be > 0"),
        (cfg.generator.norm != "conditional" or cfg.generator.name == "stackgan",
         "generator.norm=conditional (batch norm scaled and shifted by the text) is for generator.name=stackgan"),
        (cfg.discriminator.norm != "conditional", "discriminator.norm=conditional is not a discriminator's norm"),
        (cfg.generator.refine == "redraw" or cfg.generator.name == "stackgan",
         f"generator.refine={cfg.generator.refine} (how stage II makes its image) is for generator.name=stackgan"),
        (cfg.model.consistency_weight >= 0, "model.consistency_weight must be >= 0 (0: off)"),
        (cfg.model.diversity_weight >= 0, "model.diversity_weight must be >= 0 (0: off)"),
        (cfg.model.diversity_pool >= 1, "model.diversity_pool must be >= 1 (1: the distance on pixels)"),
        (cfg.model.completion_weight >= 0, f"model.completion_weight must be >= 0 (0: off), "
                                           f"got {cfg.model.completion_weight}"),
        (cfg.model.completion_weight == 0 or cfg.model.recipe == "stackgan",
         "model.completion_weight (open captions drawn as their completions) is for model.recipe=stackgan"),
        (cfg.model.completion_draws >= 2,
         f"model.completion_draws must be >= 2 (draws of an open caption, each matched to another completion), "
         f"got {cfg.model.completion_draws}"),
        (0 < cfg.model.completion_fraction <= 1,
         f"model.completion_fraction must be in (0, 1] (the share of a batch's captions left open), "
         f"got {cfg.model.completion_fraction}"),
        (not cfg.model.caption_prior or cfg.model.recipe == "stackgan",
         "model.caption_prior (captions drawn through a prior over full captions) is for model.recipe=stackgan"),
        (1 <= cfg.model.caption_prior_components <= MAX_PRIOR_COMPONENTS,
         f"model.caption_prior_components must be in [1, {MAX_PRIOR_COMPONENTS}] (the prior's Gaussian components), "
         f"got {cfg.model.caption_prior_components}"),
        (1 <= cfg.model.caption_prior_steps <= MAX_PRIOR_STEPS,
         f"model.caption_prior_steps must be in [1, {MAX_PRIOR_STEPS}] (Adam steps fitting the caption prior), "
         f"got {cfg.model.caption_prior_steps}"),
        (cfg.model.caption_groups >= 1,
         f"model.caption_groups must be >= 1 (images per caption in D's batch; 1: off), "
         f"got {cfg.model.caption_groups}"),
        (cfg.model.caption_groups <= 1 or cfg.model.recipe == "stackgan",
         "model.caption_groups (D sees how one caption's images spread) is for model.recipe=stackgan"),
        (cfg.model.caption_groups <= 1 or (cfg.data.batch_size % cfg.model.caption_groups == 0
                                            and cfg.data.batch_size >= 2 * cfg.model.caption_groups),
         f"data.batch_size ({cfg.data.batch_size}) must be a multiple of model.caption_groups "
         f"({cfg.model.caption_groups}) with at least 2 groups (a mismatched caption comes from another group)"),
        (cfg.generator.prior not in ("mixture", "swissroll") or cfg.generator.noise_dim == 2,
         f"generator.prior={cfg.generator.prior} is a 2-D prior: set generator.noise_dim=2 "
         f"(got {cfg.generator.noise_dim})"),
        (not cfg.model.prior_labels or (cfg.model.recipe == "aae" and cfg.generator.prior in ("mixture", "swissroll")),
         "model.prior_labels needs model.recipe=aae and generator.prior=mixture or swissroll (class k -> component k)"),
        (cfg.model.prior_clusters == "none"
         or (cfg.model.recipe == "aae" and cfg.generator.prior in ("mixture", "swissroll")),
         f"model.prior_clusters={cfg.model.prior_clusters} needs model.recipe=aae and generator.prior=mixture or "
         f"swissroll (cluster k -> component k)"),
        (cfg.model.prior_clusters == "none" or not cfg.model.prior_labels,
         f"model.prior_labels and model.prior_clusters={cfg.model.prior_clusters} both choose each code's component "
         f"(by its label, by its cluster): set one of them"),
        (cfg.model.prior_clusters != "encoder" or cfg.generator.name == "mlp",
         "model.prior_clusters=encoder re-clusters the MLP encoder's last hidden layer: set generator.name=mlp"),
        (cfg.model.code_noise >= 0,
         f"model.code_noise must be >= 0 (0: the deterministic encoder), got {cfg.model.code_noise}"),
        (cfg.model.code_noise == 0 or cfg.model.recipe == "aae",
         "model.code_noise is the adversarial autoencoder's (model.recipe=aae); the VAE learns its posterior's spread"),
        (cfg.model.reg_lr >= 0, f"model.reg_lr must be >= 0 (0: g_optim.lr), got {cfg.model.reg_lr}"),
        (cfg.generator.prior_spread >= 0,
         f"generator.prior_spread must be >= 0 (0: the mixture's own 0.05), got {cfg.generator.prior_spread}"),
        (cfg.generator.prior_spread == 0 or (cfg.generator.prior == "mixture" and cfg.generator.name == "mlp"),
         "generator.prior_spread (the petals' width across) needs generator.prior=mixture and generator.name=mlp"),
        (len(cfg.model.reg_betas) in (0, 2) and all(0 <= b < 1 for b in cfg.model.reg_betas),
         f"model.reg_betas must be two numbers in [0, 1) (or [] for g_optim.betas), got {cfg.model.reg_betas}"),
        (0 <= cfg.model.reg_warmup < 1, f"model.reg_warmup must be in [0, 1) (a share of train.steps), "
                                        f"got {cfg.model.reg_warmup}"),
        (cfg.model.reg_warmup == 0 or cfg.model.recipe == "aae",
         "model.reg_warmup delays the adversarial autoencoder's regularisation phase (model.recipe=aae)"),
        (cfg.model.reg_optim == "g_optim" or cfg.model.recipe == "aae",
         "model.reg_optim is the adversarial autoencoder's regularisation phase's optimiser (model.recipe=aae)"),
        (cfg.model.posterior == "point" or cfg.model.recipe == "aae",
         "model.posterior is the adversarial autoencoder's (model.recipe=aae); the VAE's is always gaussian"),
        (cfg.model.posterior == "point" or cfg.model.code_noise == 0,
         "model.code_noise is the point posterior's fixed spread; model.posterior=gaussian learns its own: "
         "set one of them"),
        (cfg.model.entropy_weight >= 0,
         f"model.entropy_weight must be >= 0 (0: off), got {cfg.model.entropy_weight}"),
        (cfg.model.entropy_weight == 0 or cfg.model.posterior == "gaussian",
         "model.entropy_weight needs model.posterior=gaussian (a learned posterior spread to reward)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    name = cfg.run.name
    if name.startswith("/") or any(part in (".", "..") for part in name.split("/")) or any(ord(c) < 32 for c in name):
        raise ConfigError(  # run.name=.. with --overwrite would delete the folder above run.out_dir
            f"run.name must be a folder name under run.out_dir (sub-folders with '/' allowed; no leading '/', "
            f"'.' or '..' parts, or control characters), got {_show(name)}"
        )
    if any(len(part.encode("utf-8", "surrogatepass")) > NAME_MAX for part in name.split("/")):
        raise ConfigError(f"run.name: each folder name must be at most {NAME_MAX} bytes (the file-system limit), "
                          f"got {_show(name)}")
    from gankit.registry import METRICS

    for name in cfg.eval.metrics:
        if name != "auto" and name not in METRICS:
            raise ConfigError(
                f"eval.metrics: unknown metric '{name}'; choose 'auto' or any of: {', '.join(METRICS.names())}"
            )
