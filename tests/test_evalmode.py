"""eval_mode / evaluating: nets in eval mode inside the block, each back in its own mode afterwards, also when
the block raises (a net left in eval mode would train on with frozen batch-norm statistics and no dropout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from gankit.data.captions import seen_combinations
from gankit.evalmode import eval_mode, evaluating
from gankit.metrics.captions import caption_match_rate
from gankit.models.autoencoder import lattice_images
from gankit.models.base import generate
from gankit.serve.lab import manifold


class Broken(nn.Module):
    """A generator whose forward pass fails; it records the mode it was called in."""

    noise_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 2)
        self.seen: list[bool] = []

    def sample_noise(self, n: int, device: Any = None, generator: Any = None, **_: Any) -> torch.Tensor:
        return torch.zeros(n, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.seen.append(self.training)
        raise RuntimeError("forward failed")


def test_eval_mode_restores_each_nets_own_mode_on_exit_and_on_an_exception() -> None:
    a, b = nn.Linear(1, 1), nn.Linear(1, 1).eval()
    with eval_mode(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training
    with pytest.raises(RuntimeError, match="inside"):
        with eval_mode(a, b):
            raise RuntimeError("inside")
    assert a.training and not b.training


def test_eval_mode_keeps_gradients_and_evaluating_stops_them() -> None:
    net = nn.Linear(1, 1)
    x = torch.ones(1, 1, requires_grad=True)
    with eval_mode(net):
        assert net(x).requires_grad  # D's gradient at a point (the generator's push arrows) needs it
    with evaluating(net):
        assert not net(x).requires_grad and not net.training
    assert net.training


SAMPLERS: dict[str, Callable[[nn.Module], Any]] = {
    "models.base.generate": lambda net: generate(net, 3),
    "autoencoder.lattice_images": lambda net: lattice_images(net, "normal", 2),
    "serve.lab.manifold": lambda net: manifold(net, "normal", 2),
    "metrics.captions.caption_match_rate": lambda net: caption_match_rate(net, seen_combinations()[:1], 1,
                                                                          classifier=object()),
}


@pytest.mark.parametrize("name", SAMPLERS)
def test_a_failing_forward_pass_leaves_the_net_in_training_mode(name: str) -> None:
    net = Broken()
    with pytest.raises(RuntimeError, match="forward failed"):
        SAMPLERS[name](net)
    assert net.seen == [False]  # it ran in eval mode
    assert net.training  # and got its training mode back (these left it in eval mode before)
