"""Training the networks gankit ships pretrained: the text encoder (contrastive, against an image encoder)
and the shapes attribute classifier. Networks hold no optimisers, so their training loops live here;
``benchmarks/pretrain_text_encoder.py`` and ``benchmarks/train_shapes_classifier.py`` run them and write
the shipped weights (the MNIST and digits classifiers' loops are in their own benchmark scripts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.data import captions as C
from gankit.metrics.captions import SIDE, AttributeNet
from gankit.nets.text import CharCNNRNN, ImageEncoder, contrastive_loss

__all__ = ["pretrain_text_encoder", "train_attribute_classifier"]


def _positives(dataset: Any, idx: Tensor, j: Tensor) -> Tensor | None:
    """(B, B) bool: caption j[r] of image idx[r] fits image idx[c] (every attribute the caption names is the
    image's; a caption that omits the size fits both sizes), or None where the data set has no attributes."""
    attrs = getattr(dataset, "attributes", None)
    if attrs is None:
        return None
    a = attrs[idx]
    named = getattr(dataset, "named", None)
    named = torch.ones_like(a, dtype=torch.bool) if named is None else named[idx, j]
    agree = a.unsqueeze(1) == a.unsqueeze(0)  # (B, B, 4): row's image vs column's image, per attribute
    return (agree | ~named.unsqueeze(1)).all(dim=2)


def pretrain_text_encoder(dataset: Any, steps: int = 800, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                          log_every: int = 0) -> tuple[CharCNNRNN, ImageEncoder, list[float]]:
    """Train a CharCNNRNN and an ImageEncoder with :func:`contrastive_loss` on a caption data set.

    Args:
        dataset: a :class:`gankit.data.captions.CaptionImages`.
        steps, batch_size, lr: Adam steps, pairs per step, learning rate.
        seed: torch seed for the initialisation and the batches (the global RNG is left as it was).
        log_every: print the loss every so many steps (0: silent).

    Returns:
        (the text encoder and the image encoder, both in eval mode, the loss at every step).
    """
    losses: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text, image = CharCNNRNN(), ImageEncoder(dataset.shape[0])
        opt = torch.optim.Adam([*text.parameters(), *image.parameters()], lr=lr)
        for step in range(steps):
            idx = torch.randint(len(dataset), (batch_size,))
            j = (torch.rand(batch_size) * dataset.counts[idx]).long()
            loss = contrastive_loss(text(dataset.tokens[idx, j].long()), image(dataset.images(idx)),
                                    positives=_positives(dataset, idx, j))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if log_every and (step + 1) % log_every == 0:
                print(f"step {step + 1}: contrastive loss {sum(losses[-log_every:]) / log_every:.4f}", flush=True)
    return text.eval(), image.eval(), losses


def _renders(combos: np.ndarray, seed: int) -> Tensor:
    return torch.from_numpy(C.render(combos, SIDE, seed)).float() / 127.5 - 1.0


def train_attribute_classifier(steps: int = 1500, batch_size: int = 128, images: int = 20_000,
                               seed: int = 0) -> AttributeNet:
    """Train an AttributeNet on ``images`` renders of all combinations (seed ``seed``; Adam 2e-3, cosine)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        combos = C.all_combinations()
        attrs = combos[np.random.default_rng(seed).integers(len(combos), size=images)]
        x, y = _renders(attrs, seed + 100), torch.from_numpy(attrs)
        net = AttributeNet()
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in range(steps):
            idx = torch.randint(len(x), (batch_size,))
            # the heads' losses, summed from an exact zero (sum()'s default start 0 is an int to the type checker)
            loss = sum((F.cross_entropy(h, y[idx, k]) for k, h in enumerate(net(x[idx]))), torch.zeros(()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()
