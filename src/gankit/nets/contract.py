"""The generator side of the network-family contract, as types (tests/test_contracts.py checks every family).

Code outside a recipe holds a generator as a plain ``nn.Module`` (loaded from a run, copied for EMA); these
protocols name what it may call on one, so the type checker sees ``sample_noise`` and ``stages`` rather than
``nn.Module.__getattr__``'s "a tensor or a module". Use ``typing.cast`` where such a module is used.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor


class GeneratorNet(Protocol):
    """Every registered generator: latents from its own prior; ``forward(z)`` maps them to samples."""

    def sample_noise(self, n: int, device: torch.device | str | None = None,
                     generator: torch.Generator | None = None, **condition: Any) -> Tensor:
        """(n, latent_dim) latents; conditional families take their condition by keyword (labels, text, inputs)."""
        ...

    def __call__(self, z: Tensor) -> Tensor: ...


class StagedNet(Protocol):
    """A multi-stage generator (LAPGAN, StackGAN): the named images of sampling, first to last."""

    def stages(self, z: Tensor) -> list[tuple[str, Tensor]]: ...
