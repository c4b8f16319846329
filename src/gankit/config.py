"""Typed configuration: dataclasses with defaults, YAML presets shipped in the package, dotted overrides.

A run's config is resolved in three layers, each validated as strictly as the last:
``defaults (the dataclasses) <- preset YAML <- "section.key=value" overrides``. Unknown keys, wrong
types, out-of-range values and unknown registry names raise :class:`ConfigError` with one sentence that
names the key and the allowed values, before any work is done (docs/architecture.md rule 7). The resolved config is
saved in the run directory as ``config.yaml``; loading it back gives an equal object.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import reprlib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import ConfigError
from gankit.yamlio import MAX_BYTES, LimitError, read_yaml

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "silu", "gelu", "softplus")
PRIORS = ("normal", "uniform", "mixture", "swissroll")  # the last two: 2-D (gankit.nets.priors)
OPTIMIZERS = ("adam", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "linear", "cosine")
D_STEP_SCHEDULES = ("constant", "wgan")
DEVICES = ("auto", "cpu", "cuda")
NORMS = ("auto", "batch", "layer", "none", "conditional")  # conditional: stackgan's G only
MINIBATCH = ("none", "std", "discrimination")
REG_SCHEDULES = ("constant", "linear")
CONDITIONS = ("concat", "projection", "acgan", "projection-acgan")  # the last: stackgan only


def _choices(values: tuple[str, ...] | Callable[[], list[str]]) -> dict[str, Any]:
    """Field metadata: the value must be one of ``values`` (a tuple or a function giving the names)."""
    return {"choices": values}


def _registry_names(kind: str) -> Callable[[], list[str]]:
    def names() -> list[str]:
        from gankit import registry

        return registry.ALL[kind].names()

    return names


@dataclass
class RunConfig:
    """Where the run goes and how it is seeded."""

    name: str = ""  # directory name under out_dir; empty: the preset's name
    out_dir: str = "runs"
    seed: int = 0
    device: str = field(default="auto", metadata=_choices(DEVICES))  # auto: CUDA when available
    threads: int = 0  # torch intra-op threads on CPU; 0 keeps torch's default
    channels_last: bool = False  # image nets and batches in NHWC memory order (11 % faster DCGAN steps on CPU)
    precision: str = field(default="fp32", metadata=_choices(("fp32", "bf16")))  # bf16: autocast around the steps
    compile: bool = False  # torch.compile the recipe's networks (not with reg.gradient_penalty, reg.r1, model.unroll)
    # under torchrun: independent = each rank draws its own data and noise; shard = each keeps its slice of
    # the global batch drawn from one shared stream (repeats the single-process run; train/distributed.py)
    distributed_data: str = field(default="independent", metadata=_choices(("independent", "shard")))
    # memory bound (GB) for the estimate a run, a sample or an evaluation is checked against before it
    # allocates (gankit/budget.py); 0: what the machine (container, ulimit -v, CUDA device) has free now
    max_memory_gb: float = 0.0


@dataclass
class DataConfig:
    """The training data (a name from the dataset registry) and how it is batched."""

    name: str = field(default="ring8", metadata=_choices(_registry_names("datasets")))
    batch_size: int = 256
    path: str = ""  # 'points': a .npy or .csv file of shape (N, D); 'folder': the image folder
    theta: float = 0.0  # 'parallel-lines': horizontal offset of the data line from x = 0
    image_size: int = 0  # side of square images; 0: the set's own (digits 8, MNIST 28, CIFAR-10 32, folder 64)
    channels: int = 0  # 1 grey or 3 RGB; 0: the set's own
    labels: bool = False  # 'folder': top-level sub-folders are the classes (sorted names -> 0..K-1)
    split: str = field(default="train", metadata=_choices(("train", "test")))  # built-in image sets
    download: bool = False  # fetch a missing mnist / fashion-mnist / cifar10 into the cache first
    workers: int = 2  # DataLoader processes decoding a streamed image folder (0: the main process)
    memory_mb: int = 1024  # folders whose decoded pixels fit in this many MiB are held in memory
    max_pixels: int = 64_000_000  # image folders: larger images (width x height) are skipped with a warning
    max_dim: int = 1024  # 'points': most columns a point file may have (a transposed file has millions)


@dataclass
class GeneratorConfig:
    """Generator network G(z) and its noise prior p(z)."""

    name: str = field(default="mlp", metadata=_choices(_registry_names("networks")))
    noise_dim: int = 2
    prior: str = field(default="normal", metadata=_choices(PRIORS))  # N(0, I), U(0, 1)^d, 2-D: mixture of 10 Gaussians, swiss roll
    width: int = 256
    depth: int = 3  # hidden layers
    activation: str = field(default="relu", metadata=_choices(ACTIVATIONS))
    batch_norm: bool = False  # mlp only
    norm: str = field(default="auto", metadata=_choices(NORMS))  # dcgan: auto = the paper's batch norm
    levels: int = 0  # lapgan: Laplacian pyramid levels (0: halve while the side is even and > 8)
    dropout: float = 0.0  # cgan: dropout kept on at sampling time as G's noise source (noise_dim may then be 0)


@dataclass
class DiscriminatorConfig:
    """Discriminator (or critic) network D(x); it returns a raw score, never a sigmoid (rule 1)."""

    name: str = field(default="mlp", metadata=_choices(_registry_names("networks")))
    width: int = 256
    depth: int = 3
    activation: str = field(default="leaky_relu", metadata=_choices(ACTIVATIONS))
    dropout: float = 0.0
    norm: str = field(default="auto", metadata=_choices(NORMS))  # dcgan: auto = batch norm; WGAN-GP critics: layer or none; mlp: batch or none (auto)
    spectral_norm: bool = False  # divide every weight by its largest singular value (Miyato et al. 2018)
    minibatch: str = field(default="none", metadata=_choices(MINIBATCH))  # std: Karras 2018; discrimination: Salimans 2016
    minibatch_kernels: int = 32  # minibatch discrimination: closeness features appended (B in Salimans et al.)


@dataclass
class ModelConfig:
    """The recipe (training procedure) and the objective (loss pair) it uses."""

    recipe: str = field(default="gan", metadata=_choices(_registry_names("recipes")))
    objective: str = field(default="nsgan", metadata=_choices(_registry_names("objectives")))
    pack: int = 1  # PacGAN: D judges this many samples at once (all real or all generated)
    unroll: int = 0  # unrolled GAN: G's loss looks through this many differentiable D steps (0: off)
    text_encoder: str = ""  # stackgan: pretrained text encoder (.safetensors); empty: the shipped shapes-captions one
    kl_weight: float = 1.0  # stackgan: λ on the conditioning-augmentation KL term in G's loss
    augment: bool = True  # stackgan: conditioning augmentation (c = μ + σ ε, its KL); false: c = μ(φ), no KL
    prior_labels: bool = False  # aae: class k's codes are matched to component k of generator.prior (mixture, swissroll)
    condition: str = field(default="concat", metadata=_choices(CONDITIONS))  # cgan, stackgan: how D sees class/text
    matching_aware: bool = False  # cgan: real images with wrong classes are extra negatives (Reed et al. 2016)
    class_weight: float = 1.0  # condition=acgan: weight of the class cross-entropy (stackgan: text read-back)
    num_classes: int = 0  # cgan: classes; 0: the data set's own (the resolved count is saved with the run)
    l1_weight: float = 100.0  # pix2pix: λ on the L1 distance to the target in G's loss (Isola et al.: 100)
    adv_weight: float = 1.0  # pix2pix: weight of the adversarial term in G's loss; 0: L1 regression alone, no D
    source_channels: int = 0  # pix2pix: channels of the input images; 0: the data set's own (resolved, saved)


@dataclass
class RegConfig:
    """Regularisers the recipe adds to the discriminator's step (docs/architecture.md rule 3); 0 disables each."""

    clip: float = 0.0  # WGAN weight clipping: every D parameter clamped to [-clip, clip] after each step
    gradient_penalty: float = 0.0  # WGAN-GP weight λ on (‖∇D(x̂)‖ - 1)² at random interpolates x̂
    r1: float = 0.0  # R1 weight γ: γ/2 · E‖∇D(x)‖² on real data
    instance_noise: float = 0.0  # std of Gaussian noise added to every input of D (real and fake)
    label_smoothing: float = 0.0  # one-sided: D's target for real data is 1 - label_smoothing (mmgan, nsgan)
    label_flip: float = 0.0  # probability that a sample's label is swapped in D's loss (mmgan, nsgan)
    schedule: str = field(default="constant", metadata=_choices(REG_SCHEDULES))  # linear: noise, smoothing, flips fade to 0


@dataclass
class OptimConfig:
    """One optimiser; the generator and the discriminator each have their own."""

    name: str = field(default="adam", metadata=_choices(OPTIMIZERS))
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam's (beta1, beta2)
    weight_decay: float = 0.0


@dataclass
class TrainConfig:
    """The lecture's algorithm: ``d_steps`` discriminator steps, then one generator step, ``steps`` times."""

    steps: int = 5000  # generator steps
    d_steps: int = 1  # k in the lecture's algorithm
    d_steps_schedule: str = field(default="constant", metadata=_choices(D_STEP_SCHEDULES))  # wgan: 100 D steps for the first 25 G steps and every 500th
    lr_schedule: str = field(default="constant", metadata=_choices(LR_SCHEDULES))
    lr_final: float = 0.0  # learning-rate factor reached at the last step by 'linear' and 'cosine'
    ema: float = 0.0  # decay of an exponential moving average of G's weights; 0 disables it
    ema_warmup: bool = False  # decay min(ema, (1 + t) / (10 + t)) after t updates: forget the init fast
    log_every: int = 50  # stats.jsonl line and progress-bar update
    sample_every: int = 500  # fixed-noise samples, snapshots and figures; 0 disables them
    checkpoint_every: int = 1000  # checkpoints/last.pt; always written at the end too
    eval_every: int = 0  # metrics.jsonl during training; 0: only at the end
    diagnostics_every: int = -1  # diagnostics.jsonl and alarms (train/diagnostics.py); -1: auto, 0: off
    progress: bool = True  # tqdm bar on stderr, a duration estimate, evaluation steps; false: quiet
    progress_every_s: float = 30.0  # when stderr is not a terminal (a job, nohup, CI): a progress line this often (0: none)
    time_limit: float = 0.0  # minutes of training per session; then checkpoint, export and stop (0: none)
    tensorboard: bool = False  # also mirror stats, metrics and sample grids into RUN/tensorboard (gankit[tensorboard])


@dataclass
class EvalConfig:
    """Metrics computed during and after training (names from the metric registry, or 'auto')."""

    metrics: list[str] = field(default_factory=lambda: ["auto"])
    num_samples: int = 2500  # generator samples scored (docs/protocols.md uses 2,500 for toy data)
    floor: bool = True  # the end-of-training evaluation also scores held-out real data: the real-vs-real floor
    seed: int = 1234  # evaluation noise has its own RNG so it never perturbs training
    extractor: str = ""  # image features: '' = the data set's default, a registered name (gankit list extractors), inception:PATH[:SHA256] or torchscript:PATH[:SHA256]
    rejection: int = 0  # discriminator rejection sampling at the end: D calibrated this many steps, drs_* metrics (0: off)
    rejection_gamma: float = 0.0  # DRS acceptance shift γ: 0 is exact rejection sampling, > 0 accepts more
    rejection_lr: float = 1.0e-4  # Adam step size of the DRS calibration (1e-3 tilts grid25's modes: BENCHMARKS.md)
    rejection_quantile: float = 1.0  # DRS bound M: 1 = the largest logit seen (exact); q < 1 = that quantile of the burn-in logits (higher acceptance, ratio capped at e^M)


@dataclass
class Config:
    """A whole run."""

    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    reg: RegConfig = field(default_factory=RegConfig)
    g_optim: OptimConfig = field(default_factory=OptimConfig)
    d_optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    preset: str = ""  # the preset this config started from (informational)


# ----------------------------------------------------------------------------------------- conversion


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
            raise ConfigError(f"{key} must be an integer of at most 19 digits, got a {len(value.strip())}-character number")
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
            raise ConfigError(f"unknown key '{full}'; keys allowed in {scope}: {', '.join(fields)}")
        f, tp = fields[key]
        if dataclasses.is_dataclass(tp):
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
        (cfg.data.image_size == 0 or cfg.data.image_size >= 2, "data.image_size must be 0 (the data set's own) or >= 2"),
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
        (cfg.model.class_weight >= 0, "model.class_weight must be >= 0"),
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
        (0.0 <= cfg.reg.label_smoothing < 1.0, "reg.label_smoothing must be in [0, 1) (0 disables it)"),
        (0.0 <= cfg.reg.label_flip <= 0.5, "reg.label_flip must be in [0, 0.5] (0 disables it)"),
        (cfg.model.pack >= 1, "model.pack must be >= 1 (1: no packing)"),
        (cfg.model.pack < 1 or cfg.data.batch_size % cfg.model.pack == 0,
         f"data.batch_size ({cfg.data.batch_size}) must be a multiple of model.pack ({cfg.model.pack})"),
        (cfg.model.unroll >= 0, "model.unroll must be >= 0 (0: off)"),
        (cfg.discriminator.minibatch_kernels > 0, "discriminator.minibatch_kernels must be > 0"),
        (cfg.generator.norm != "conditional" or cfg.generator.name == "stackgan",
         "generator.norm=conditional (batch norm scaled and shifted by the text) is for generator.name=stackgan"),
        (cfg.discriminator.norm != "conditional", "discriminator.norm=conditional is not a discriminator's norm"),
        (cfg.generator.prior not in ("mixture", "swissroll") or cfg.generator.noise_dim == 2,
         f"generator.prior={cfg.generator.prior} is a 2-D prior: set generator.noise_dim=2 (got {cfg.generator.noise_dim})"),
        (not cfg.model.prior_labels or (cfg.model.recipe == "aae" and cfg.generator.prior in ("mixture", "swissroll")),
         "model.prior_labels needs model.recipe=aae and generator.prior=mixture or swissroll (class k -> component k)"),
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


# ------------------------------------------------------------------------------------------- presets


def _preset_dir() -> Any:
    return resources.files("gankit") / "presets"


def preset_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _preset_dir().iterdir() if p.name.endswith(".yaml"))


def preset_description(name: str) -> str:
    """The preset file's first comment line."""
    text = (_preset_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    data = read_yaml(text, where)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a mapping of sections, got {type(data).__name__}")
    return data


def load_preset(name: str) -> dict[str, Any]:
    """The preset's YAML as nested data (not yet validated)."""
    if name not in preset_names():
        raise ConfigError(f"unknown preset '{name}'; choose one of: {', '.join(preset_names())}")
    return _read_yaml((_preset_dir() / f"{name}.yaml").read_text(encoding="utf-8"), f"preset '{name}'")


def load_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file as nested data (not yet validated).

    Raises:
        ConfigError: the file is missing, unreadable, not UTF-8 text or not a YAML mapping.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist")
    try:
        if p.stat().st_size > MAX_BYTES:  # refused before reading: a config is a few KB
            raise ConfigError(f"config file '{p}' is refused: more than {MAX_BYTES >> 20} MiB, too large to be a config")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file '{p}' is not UTF-8 text (byte {exc.start}); is it a YAML file?") from None
    except OSError as exc:
        raise ConfigError(f"config file '{p}' cannot be read: {exc.strerror or exc}") from None
    return _read_yaml(text, f"config file '{p}'")


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.steps=100"`` -> (["train", "steps"], 100). The value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value (e.g. train.steps=1000)")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(p.isidentifier() for p in parts):
        raise ConfigError(f"override key '{key}' must be dotted names like train.steps")
    try:
        value = read_yaml(raw, f"override {key.strip()}") if raw.strip() else ""
    except LimitError:
        raise  # an alias bomb or a megabyte of text: refused, naming the key
    except ConfigError:
        value = raw  # not YAML: a plain string, and the type check decides
    if isinstance(value, (dict, set)) or value is None and raw.strip() not in ("", "null", "~"):
        value = raw
    if value is None:
        value = ""
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    return apply_values(data, [parse_override(text) for text in overrides])


def apply_values(data: dict[str, Any], values: list[tuple[list[str], Any]]) -> dict[str, Any]:
    """A copy of ``data`` with each (key path, value) set, creating sections as needed."""
    out = _merge({}, data)
    for parts, value in values:
        node = out
        for p in parts[:-1]:
            child = node.get(p)
            if not isinstance(child, dict):
                child = {}
                node[p] = child
            node = child
        node[parts[-1]] = value
    return out


def objective_defaults(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply the chosen objective's own config values (registry meta ``config_defaults``, ``section.key`` ->
    value; e.g. each f-GAN row's learning rates) when the objective was chosen by an override over a preset
    or file tuned for another one. Values the overrides set win; a preset or file that names this very
    objective keeps its own values (so a saved config.yaml loads unchanged).
    """
    from gankit.registry import OBJECTIVES

    named = {".".join(parse_override(text)[0]) for text in overrides}
    name = data.get("model", {}).get("objective")
    if not isinstance(name, str) or name not in OBJECTIVES.names():
        return data  # an unknown name is reported by from_dict
    defaults = OBJECTIVES.meta(name).get("config_defaults", {})
    return apply_values(data, [(key.split("."), value) for key, value in defaults.items() if key not in named])


def resolve(
    preset: str | None = None, file: str | Path | None = None, overrides: list[str] | None = None
) -> Config:
    """Defaults <- preset (or file) <- the objective's defaults <- overrides, validated.

    ``preset=None`` and no file: 'ring8'. The objective's defaults apply only when an override chose the
    objective (:func:`objective_defaults`).
    """
    if preset and file:
        raise ConfigError("give either a preset or a config file, not both")
    if file:
        data = load_file(file)
    else:
        preset = preset or "ring8"
        data = load_preset(preset)
        data.setdefault("preset", preset)
    base = data.get("model", {}).get("objective") if isinstance(data.get("model"), dict) else None
    data = apply_overrides(data, overrides or [])
    if isinstance(data.get("model"), dict) and data["model"].get("objective") != base:
        data = objective_defaults(data, overrides or [])
    cfg = from_dict(data)
    if not cfg.run.name:
        cfg.run.name = cfg.preset or (Path(file).stem if file else "run")
        validate(cfg)  # the name now comes from the preset or the file: the same rules as a given run.name
    return cfg


def dump(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def save(cfg: Config, path: str | Path) -> None:
    from gankit.fileio import atomic_write_text

    atomic_write_text(Path(path), dump(cfg))


def load(path: str | Path) -> Config:
    """A saved config (a run's config.yaml); errors name the file."""
    try:
        return from_dict(load_file(path))
    except ConfigError as exc:
        if f"'{path}'" in str(exc):
            raise
        raise ConfigError(f"config file '{path}': {exc}") from None


# ---------------------------------------------------------------------------------------------- resuming

# Sections a resumed run may change: how long and how it is observed, not what is trained.
RESUMABLE = ("train.steps", "train.log_every", "train.sample_every", "train.checkpoint_every",
             "train.eval_every", "train.diagnostics_every", "train.progress", "train.time_limit", "run.device",
             "run.threads", "run.channels_last", "run.compile", "run.distributed_data", "run.max_memory_gb", "eval",
             "train.progress_every_s", "train.tensorboard")


def changed_keys(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two nested config dicts (``gankit sweep`` uses it too)."""
    out = []
    for key in sorted(set(a) | set(b)):
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            out += changed_keys(a[key], b[key], full)
        elif a.get(key) != b.get(key):
            out.append(full)
    return out


def non_resumable(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The config keys that differ between ``a`` and ``b`` and are not RESUMABLE (nor under one)."""
    return [k for k in changed_keys(a, b) if not any(k == r or k.startswith(r + ".") for r in RESUMABLE)]
