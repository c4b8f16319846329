"""Drawing from a generator net: seeded samples, classes, per-class grids, and the samples metrics score.

Every function here samples through :func:`generate`, the one sampler, so ``gankit sample``, ``gankit
eval``, ``Recipe.sample``, the end-of-training metrics and the figures draw the same samples for the same
seed. A leaf: it imports only torch, numpy, data.reference and the base modules, so the recipes
(models.base re-exports ``generate``), the training callbacks and the api all call it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from gankit import budget
from gankit.data.reference import reference_sample
from gankit.errors import ConfigError
from gankit.evalmode import eval_mode, evaluating
from gankit.nets.capabilities import Conditioned

if TYPE_CHECKING:
    from gankit.nets.capabilities import GeneratorNet, Staged

MAX_GRID_CLASSES = 20  # rows of a per-class figure (Stacked MNIST has 1,000 classes: the first 20)


def has_data_classes(net: Any) -> bool:
    """Whether a generator's latent classes are the data set's classes, which conditional metrics read: a
    conditional generator (``labels_of``) unless it says ``data_classes = False`` (selfcond's own clusters)."""
    return isinstance(net, Conditioned) and bool(getattr(net, "data_classes", True))


def latent_labels(net: nn.Module, z: Tensor) -> Tensor | None:
    """The data classes a conditional generator's latents ``z`` ask for (``net.labels_of``); None otherwise."""
    return cast(Conditioned, net).labels_of(z) if has_data_classes(net) else None


GENERATE_BATCH = 4096  # latents per forward pass of :func:`generate`


@torch.no_grad()
def generate(net: nn.Module, n: int, generator: torch.Generator | None = None, batch_size: int = GENERATE_BATCH,
             labels: Tensor | None = None, text: Any = None) -> tuple[Tensor, Tensor | None]:
    """``n`` samples of ``net`` (in eval mode, on its device) and the (n,) classes they were drawn for
    (None for an unconditional G): ``net(net.sample_noise(m, generator=...))`` in batches of ``batch_size``.

    Every sampler that must give the same numbers calls this one (end-of-training metrics and ``gankit
    eval`` above all): a conditional ``sample_noise`` draws noise, then classes, per call, so the same seed
    with another batch size pairs other noise with other classes.

    Args:
        labels: (n,) classes to draw for (conditional generators), or None.
        text: a caption for every sample, or n captions (text-to-image generators), or None.
    """
    device = next(net.parameters()).device
    out, classes = [], []
    with eval_mode(net):
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            extra: dict[str, Any] = {}
            if labels is not None:
                extra["labels"] = labels[start:start + m]
            if text is not None:
                extra["text"] = text if isinstance(text, str) else text[start:start + m]
            z = cast("GeneratorNet", net).sample_noise(m, device=device, generator=generator, **extra)
            out.append(net(z))
            classes.append(latent_labels(net, z))
    labelled = [c for c in classes if c is not None]  # all or none: a conditional net's classes
    return torch.cat(out), torch.cat(labelled) if labelled else None


def sample_net(net: torch.nn.Module, n: int, seed: int = 0, text: str | None = None) -> np.ndarray:
    """``n`` samples from a generator net (``sample_noise`` + forward) under ``seed``, as numpy;
    ``text``: a caption every sample is drawn for (text-to-image generators)."""
    return sample_net_with_labels(net, n, seed, text=text)[0]


def sample_net_with_labels(net: torch.nn.Module, n: int, seed: int = 0, labels: Any = None,
                           text: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`sample_net` and the (n,) classes of a conditional generator's samples (None otherwise).

    ``labels`` (one class, or n of them) asks a conditional generator for those classes.
    """
    out, classes = [], []
    for x, c in iter_samples(net, n, seed, labels, text):
        out.append(x)
        if c is not None:  # all or none: a conditional net's classes
            classes.append(c)
    return torch.cat(out).cpu().numpy(), torch.cat(classes).cpu().numpy() if classes else None


def iter_samples(net: torch.nn.Module, n: int, seed: int = 0, labels: Any = None, text: str | None = None,
                 chunk: int = budget.SAMPLE_CHUNK) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """:func:`sample_net_with_labels` ``chunk`` samples at a time: (samples, classes or None) per chunk.

    Each chunk is :func:`generate` on one RNG stream; ``chunk`` is a multiple of its
    batch size, so the chunks joined are exactly the samples drawn at once (and the end-of-training metrics'
    samples for the same seed)."""
    if chunk % GENERATE_BATCH:
        raise ValueError(f"chunk ({chunk}) must be a multiple of {GENERATE_BATCH} to draw the same samples")

    if labels is not None and not hasattr(net, "labels_of"):
        raise ConfigError("this run's generator is not conditional: it takes no class labels")
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.ndim and len(labels) != n:
            raise ConfigError(f"give one class or {n} of them, got {len(labels)}")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        part = None
        if labels is not None:
            part = torch.as_tensor(labels[start:start + m] if labels.ndim else np.full(m, labels))
        yield generate(net, m, gen, labels=part, text=text)


def class_samples(net: torch.nn.Module, per_class: int = 8, seed: int = 0, max_classes: int = MAX_GRID_CLASSES
                  ) -> np.ndarray:
    """``per_class`` samples of each class of a conditional generator: (K, per_class, *data_shape).

    K is the generator's class count, at most ``max_classes`` (the first ones). Reproducible under ``seed``.
    """
    k = int(getattr(net, "num_classes", 0) or 0)
    if not hasattr(net, "labels_of") or k < 1:
        raise ConfigError("per-class samples need a conditional generator (e.g. model.recipe=cgan)")
    if per_class < 1:
        raise ConfigError(f"samples per class must be >= 1, got {per_class}")
    k = min(k, max_classes)
    labels = np.repeat(np.arange(k), per_class)
    with evaluating(net):
        x, _ = sample_net_with_labels(net, len(labels), seed, labels=labels)
    return x.reshape(k, per_class, *x.shape[1:])


def eval_samples(net: torch.nn.Module, dataset: Any, n: int,
                 seed: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """What metrics score, at the end of training and in ``gankit eval`` alike: (``n`` samples of ``net``
    drawn under ``seed`` + 2, the classes a conditional ``net`` drew them for or None, ``n`` real samples
    drawn under ``seed`` + 3). One function, so both give the same numbers for the same generator."""
    fake, labels = generate(net, n, torch.Generator(device="cpu").manual_seed(seed + 2))
    return fake, labels, reference_sample(dataset, n, seed + 3)


def stage_images(net: torch.nn.Module, latent: torch.Tensor) -> list[tuple[str, np.ndarray]]:
    """A multi-stage generator's ``stages(latent)`` (named batches, first to last) in eval mode, as numpy."""
    with evaluating(net):
        stages = cast("Staged", net).stages(latent)
    return [(name, x.float().cpu().numpy()) for name, x in stages]
