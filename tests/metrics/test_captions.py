"""The shapes-captions attribute classifier and the caption-match rate."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gankit.data import captions as C
from gankit.metrics.captions import caption_match_rate, load_attribute_classifier, match_rates, real_match_rate


class Renderer(nn.Module):
    """A 'generator' that draws exactly what its caption says (or, ``fixed``, always one shape)."""

    def __init__(self, fixed: tuple[int, int, int, int] | None = None) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.fixed = fixed

    def sample_noise(self, n, device=None, generator=None, text=None):
        return C.tokenize(text).float()

    def forward(self, latent):
        attrs = [self.fixed or C.attribute_indices(C.parse_caption(t)) for t in C.detokenize(latent.long())]
        return torch.from_numpy(C.render(np.array(attrs), 32, seed=1)).float() / 127.5 - 1


def test_match_rates_count_all_four_and_each_attribute():
    target = torch.tensor([[0, 1, 0, 3], [2, 2, 1, 8]])
    r = match_rates(torch.tensor([[0, 1, 0, 3], [2, 0, 1, 8]]), target)
    assert r == {"match": 0.5, "kind": 1.0, "colour": 0.5, "size": 1.0, "position": 1.0}


def test_the_shipped_classifier_reads_real_images_and_the_rate_tells_good_from_blind_generators():
    clf = load_attribute_classifier()
    held = C.held_out_combinations()
    real = real_match_rate(held, per_combo=2, seed=3, classifier=clf)
    assert real["match"] > 0.95
    good = caption_match_rate(Renderer(), held, per_combo=2, seed=4, classifier=clf)
    assert good["match"] > 0.95
    blind = caption_match_rate(Renderer(fixed=(0, 0, 0, 4)), held, per_combo=2, seed=4, classifier=clf)
    assert blind["match"] < 0.05 and blind["kind"] < 0.5 and blind["colour"] < 0.05  # no held-out pair is red
    # 16 px images are up-sampled to the classifier's 32 px
    small = torch.from_numpy(C.render(held[:20], 16, seed=2)).float() / 127.5 - 1
    assert (clf.predict(small)[:, 1] == torch.from_numpy(held[:20, 1])).float().mean() > 0.9
