"""The config's schema: one dataclass per section, with defaults, and the allowed values of each choice.

:mod:`gankit.config` resolves and saves configs of these classes; :mod:`gankit.config_validate` turns plain
data into them and checks every value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "silu", "gelu", "softplus")
PRIORS = ("normal", "uniform", "mixture", "swissroll")  # the last two: 2-D (gankit.nets.priors)
OPTIMIZERS = ("adam", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "linear", "cosine")
D_STEP_SCHEDULES = ("constant", "wgan")
DEVICES = ("auto", "cpu", "cuda")
NORMS = ("auto", "batch", "layer", "none", "conditional")  # conditional: stackgan's G only
MINIBATCH = ("none", "std", "discrimination")
REG_SCHEDULES = ("constant", "linear")
CLUSTER_SPACES = ("features", "pixels")  # selfcond: D's features φ(x), or a PCA of the pixels
# aae: no clusters; k-means on a PCA of the training pixels, fitted once; the same, then re-clustered on the encoder's
# last hidden layer every model.recluster_every generator steps
PRIOR_CLUSTERS = ("none", "pixels", "encoder")
CONDITIONS = ("concat", "projection", "acgan", "projection-acgan")  # the last: stackgan only
REFINES = ("redraw", "residual")  # generator.refine: stackgan only


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
    # bf16: autocast around the steps; auto: bf16 where a one-time start-up probe finds it faster (train/precision.py)
    precision: str = field(default="fp32", metadata=_choices(("fp32", "bf16", "auto")))
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
    # shapes-captions: captions per image, besides its 5 full ones, that leave the size, the position or both unsaid
    # (so an unsaid attribute may mean any value); 0: every caption names all four attributes
    open_captions: int = 0
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
    # N(0, I), U(0, 1)^d, 2-D: mixture of 10 Gaussians, swiss roll
    prior: str = field(default="normal", metadata=_choices(PRIORS))
    prior_spread: float = 0.0  # mixture (mlp): each petal's standard deviation across its ray; 0: the paper's 0.05
    width: int = 256
    depth: int = 3  # hidden layers
    activation: str = field(default="relu", metadata=_choices(ACTIVATIONS))
    batch_norm: bool = False  # mlp only
    norm: str = field(default="auto", metadata=_choices(NORMS))  # dcgan: auto = the paper's batch norm
    levels: int = 0  # lapgan: Laplacian pyramid levels (0: halve while the side is even and > 8)
    # lapgan: band generators' convolutions at the level's side (full) or at half of it (half: ~4x cheaper)
    band_net: str = field(default="full", metadata=_choices(("full", "half")))
    # lapgan: the coarsest level's G, fully connected (mlp, the paper's) or a small convnet (conv)
    coarse_net: str = field(default="mlp", metadata=_choices(("mlp", "conv")))
    dropout: float = 0.0  # cgan: dropout kept on at sampling time as G's noise source (noise_dim may then be 0)
    dropout_layers: int = 3  # pix2pix: decoder layers with dropout, innermost first (Isola et al.: 3)
    # stackgan's stage II: redraw (StackGAN's: a new image from the stage-I features) or residual (the
    # up-sampled stage-I image plus a learnt correction, zero at the start)
    refine: str = field(default="redraw", metadata=_choices(REFINES))


@dataclass
class DiscriminatorConfig:
    """Discriminator (or critic) network D(x); it returns a raw score, never a sigmoid (rule 1)."""

    name: str = field(default="mlp", metadata=_choices(_registry_names("networks")))
    width: int = 256
    depth: int = 3
    activation: str = field(default="leaky_relu", metadata=_choices(ACTIVATIONS))
    dropout: float = 0.0
    # dcgan: auto = batch norm; WGAN-GP critics: layer or none; mlp: batch or none (auto)
    norm: str = field(default="auto", metadata=_choices(NORMS))
    spectral_norm: bool = False  # divide every weight by its largest singular value (Miyato et al. 2018)
    # std: Karras 2018; discrimination: Salimans 2016
    minibatch: str = field(default="none", metadata=_choices(MINIBATCH))
    minibatch_kernels: int = 32  # minibatch discrimination: closeness features appended (B in Salimans et al.)
    # lapgan: the coarsest level's D, fully connected (mlp) or convolutional (conv)
    coarse_net: str = field(default="mlp", metadata=_choices(("mlp", "conv")))


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
    consistency_weight: float = 0.0  # stackgan: β on mean |avgpool₂(stage II) − stage I| in G's loss (0: off)
    detach_stages: bool = True  # stackgan: stage II refines a detached stage-I image (false: its losses train stage I)
    # stackgan: which captions the text read-back (condition=acgan) trains on: all, or only those naming every attribute
    readback: str = field(default="all", metadata=_choices(("all", "complete")))
    diversity_weight: float = 0.0  # stackgan: λ on the mode-seeking term (Mao et al. 2019) on stage I (0: off)
    # stackgan: which captions the mode-seeking term spreads: all, or only those leaving an attribute unsaid
    diversity_on: str = field(default="all", metadata=_choices(("all", "open")))
    diversity_pool: int = 1  # stackgan: the mode-seeking distance on images average-pooled by this factor (1: pixels)
    # stackgan: batches of B/m captions with m images each; D's head sees each caption's spread (1: off)
    caption_groups: int = 1
    # stackgan: η on the completion term: a caption with its size (position, both) left out, drawn k times, must give
    # k different completions of it, each judged by D as a real image of its full caption (0: off)
    completion_weight: float = 0.0
    completion_on: str = field(default="size", metadata=_choices(("size", "position", "both")))
    completion_draws: int = 2  # stackgan: k, the draws of each open caption (<= its completions: 2 sizes, 9 cells)
    completion_fraction: float = 0.25  # stackgan: the share of a batch's captions the completion term leaves open
    # stackgan: sample φ̂ ~ p(φ(full caption) | φ(caption)), a mixture density network fitted on the training captions
    # before training (G and D train as without it); every caption is drawn through it (false: off)
    caption_prior: bool = False
    caption_prior_components: int = 24  # stackgan: K, the prior's Gaussian components (18 completions at most)
    caption_prior_steps: int = 4000  # stackgan: Adam steps fitting the prior (on embeddings: about a minute)
    # stackgan: which captions are drawn through the prior: all, or only those leaving an attribute unsaid (the
    # grammar's parse; a caption naming every attribute keeps its own φ)
    caption_prior_on: str = field(default="all", metadata=_choices(("all", "open")))
    # aae: class k's codes are matched to component k of generator.prior (mixture, swissroll)
    prior_labels: bool = False
    # aae: cluster k's codes are matched to component k (as prior_labels does with classes): k-means with one cluster
    # per component on the pixels' principal components, fitted before training (encoder: then re-clustered on the
    # encoder's last hidden layer every model.recluster_every generator steps); unsupervised
    prior_clusters: str = field(default="none", metadata=_choices(PRIOR_CLUSTERS))
    code_noise: float = 0.0  # aae: s of the posterior N(E(x), s² I) whose draws are decoded and judged; 0: E(x)
    reg_lr: float = 0.0  # aae: the encoder's learning rate in the regularisation phase (fooling D); 0: g_optim.lr
    reg_betas: list[float] = field(default_factory=list)  # aae: that phase's Adam betas; empty: g_optim.betas
    reg_warmup: float = 0.0  # aae: share of train.steps before the regularisation phase starts (D trains throughout)
    # aae: that phase's optimiser (g_optim: g_optim.name); sgd (momentum: its beta1) steps in proportion to D's gradient
    reg_optim: str = field(default="g_optim", metadata=_choices(("g_optim",) + OPTIMIZERS))
    # aae: the encoder's posterior q(z|x): point (z = E(x), + model.code_noise) or gaussian (N(μ(x), diag e^σ(x)),
    # both learned; codes are reparameterised draws, as the VAE's)
    posterior: str = field(default="point", metadata=_choices(("point", "gaussian")))
    entropy_weight: float = 0.0  # aae, posterior=gaussian: w in the reconstruction loss's − w Σ_i σ_i (1: the VAE's)
    condition: str = field(default="concat", metadata=_choices(CONDITIONS))  # cgan, stackgan: how D sees class/text
    matching_aware: bool = False  # cgan: real images with wrong classes are extra negatives (Reed et al. 2016)
    class_weight: float = 1.0  # condition=acgan: weight of the class cross-entropy (stackgan: text read-back)
    # cgan: classes, 0: the data set's own (the resolved count is saved with the run); selfcond: clusters, 0: 20
    num_classes: int = 0
    # selfcond: D steps between k-means re-clusterings of D's features; aae with prior_clusters=encoder: generator steps
    # between re-clusterings of the encoder's features
    recluster_every: int = 500
    # selfcond: what k-means clusters: D's features, or the pixels' principal components (fixed at the first clustering)
    cluster_on: str = field(default="features", metadata=_choices(CLUSTER_SPACES))
    l1_weight: float = 100.0  # pix2pix: λ on the L1 distance to the target in G's loss (Isola et al.: 100)
    adv_weight: float = 1.0  # pix2pix: weight of the adversarial term in G's loss; 0: L1 regression alone, no D
    source_channels: int = 0  # pix2pix: channels of the input images; 0: the data set's own (resolved, saved)
    coarse_steps: int = 1  # lapgan: (D, G) updates of the coarsest level per step; > 1 adds its own updates
    # lapgan: share of each batch's band-level inputs taken from the coarser level's G (chained, detached) not the data
    chain_fraction: float = 0.0


@dataclass
class RegConfig:
    """Regularisers the recipe adds to the discriminator's step (docs/architecture.md rule 3); 0 disables each."""

    clip: float = 0.0  # WGAN weight clipping: every D parameter clamped to [-clip, clip] after each step
    gradient_penalty: float = 0.0  # WGAN-GP weight λ on (‖∇D(x̂)‖ - 1)² at random interpolates x̂
    r1: float = 0.0  # R1 weight γ: γ/2 · E‖∇D(x)‖² on real data
    instance_noise: float = 0.0  # std of Gaussian noise added to every input of D (real and fake)
    # reg.schedule=linear: the std the noise fades to at the last step, not 0 (<= reg.instance_noise)
    instance_noise_floor: float = 0.0
    label_smoothing: float = 0.0  # one-sided: D's target for real data is 1 - label_smoothing (mmgan, nsgan)
    label_flip: float = 0.0  # probability that a sample's label is swapped in D's loss (mmgan, nsgan)
    # linear: noise, smoothing, flips fade to 0
    schedule: str = field(default="constant", metadata=_choices(REG_SCHEDULES))


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
    # wgan: 100 D steps for the first 25 G steps and every 500th
    d_steps_schedule: str = field(default="constant", metadata=_choices(D_STEP_SCHEDULES))
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
    # when stderr is not a terminal (a job, nohup, CI): a progress line this often (0: none)
    progress_every_s: float = 30.0
    time_limit: float = 0.0  # minutes of training per session; then checkpoint, export and stop (0: none)
    tensorboard: bool = False  # also mirror stats, metrics and sample grids into RUN/tensorboard (gankit[tensorboard])


@dataclass
class EvalConfig:
    """Metrics computed during and after training (names from the metric registry, or 'auto')."""

    metrics: list[str] = field(default_factory=lambda: ["auto"])
    num_samples: int = 2500  # generator samples scored (docs/protocols.md uses 2,500 for toy data)
    floor: bool = True  # the end-of-training evaluation also scores held-out real data: the real-vs-real floor
    seed: int = 1234  # evaluation noise has its own RNG so it never perturbs training
    # image features: '' = the data set's default, a registered name (gankit list extractors),
    # inception:PATH[:SHA256] or torchscript:PATH[:SHA256]
    extractor: str = ""
    # discriminator rejection sampling at the end: D calibrated this many steps, drs_* metrics (0: off)
    rejection: int = 0
    rejection_gamma: float = 0.0  # DRS acceptance shift γ: 0 is exact rejection sampling, > 0 accepts more
    rejection_lr: float = 1.0e-4  # Adam step size of the DRS calibration (1e-3 tilts grid25's modes: BENCHMARKS.md)
    # DRS bound M: 1 = the largest logit seen (exact); q < 1 = that quantile of the burn-in logits (higher
    # acceptance, ratio capped at e^M)
    rejection_quantile: float = 1.0


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
