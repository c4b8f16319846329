"""Networks in eval mode for a block, and back in their own mode afterwards, also when the block raises.

Sampling, figures and metrics run networks in eval mode (batch norm on running statistics, dropout off)
while training may be under way; a net left in eval mode by an exception would train on after it with
frozen statistics. Every place that flips a net's mode goes through these two.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def eval_mode(*nets: nn.Module) -> Iterator[None]:
    """Within the block ``nets`` are in eval mode; each gets its own training flag back afterwards, whether
    the block ends or raises. Gradients still flow (for D's gradient at a point): :func:`evaluating` stops them."""
    was = [net.training for net in nets]
    try:
        for net in nets:
            net.eval()
        yield
    finally:
        for net, flag in zip(nets, was, strict=True):
            net.train(flag)


@contextlib.contextmanager
def evaluating(*nets: nn.Module) -> Iterator[None]:
    """:func:`eval_mode` and no gradient: within the block no batch-norm statistics or dropout masks move
    and no graph is built."""
    with eval_mode(*nets), torch.no_grad():
        yield
