"""What a generator network provides, and the optional capabilities that callers check once with ``isinstance``.

Every generator maps ``sample_noise(n)`` (its prior; the condition too, for conditional nets) to samples
``(n, *data_shape)``: :class:`GeneratorNet`. Some do more, and say so by what they define (runtime-checkable
protocols, so an ``isinstance`` replaces attribute probes):

- :class:`Conditioned`: the latent carries a condition, ``labels_of(z)`` reads it (class-conditional and
  image-to-image nets);
- :class:`ClassConditional`: a :class:`Conditioned` net of ``num_classes`` classes (per-class grids, ``--label``);
- :class:`Staged`: ``stages(z)``, the named images of multi-stage sampling, the last one the sample (LAPGAN,
  StackGAN: the stages figure and ``gankit sample --stages``);
- :class:`Translating`: an image-to-image net (pix2pix) whose inputs have ``source_shape`` (C, S, S).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class GeneratorNet(Protocol):
    """A generator: ``net(net.sample_noise(n))`` draws n samples."""

    def sample_noise(self, n: int, device: torch.device | str | None = None,
                     generator: torch.Generator | None = None, **condition: Any) -> Tensor:
        """(n, latent_dim) latents; conditional families take their condition by keyword (labels, text, inputs)."""
        ...

    def __call__(self, z: Tensor) -> Tensor: ...


@runtime_checkable
class Conditioned(Protocol):
    """A generator whose latent carries its condition: ``labels_of(z)`` (n,) reads it back."""

    def labels_of(self, z: Tensor) -> Tensor: ...


@runtime_checkable
class ClassConditional(Protocol):
    """A :class:`Conditioned` generator of ``num_classes`` classes."""

    num_classes: int

    def labels_of(self, z: Tensor) -> Tensor: ...


@runtime_checkable
class Staged(Protocol):
    """A multi-stage generator: ``stages(z)`` = [(name, (B, C, s, s)), ...], coarse to fine, the last the sample."""

    def stages(self, z: Tensor) -> list[tuple[str, Tensor]]: ...


@runtime_checkable
class Translating(Protocol):
    """An image-to-image generator: it translates input images of ``source_shape`` (C, S, S)."""

    source_shape: tuple[int, ...]
