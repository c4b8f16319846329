"""The shapes-captions attribute classifier and the caption-match rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gankit.data import captions as C
from gankit.errors import DataError
from gankit.metrics.captions import (
    caption_match_rate,
    load_attribute_classifier,
    match_rates,
    open_attribute_entropy,
    open_caption,
    reading_entropy,
    real_match_rate,
)


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


class OpenRenderer(Renderer):
    """Draws what the caption names and a random value of any attribute it leaves open (``spread``), or value 0."""

    def __init__(self, spread: bool) -> None:
        super().__init__()
        self.spread = spread
        self.rng = np.random.default_rng(0)

    def sample_noise(self, n, device=None, generator=None, text=None):
        return C.tokenize(text).float().expand(n, -1)

    def forward(self, latent):
        rows = []
        for t in C.detokenize(latent.long()):
            named = C.phrase_attributes(t)
            rows.append([names.index(named[a]) if a in named else
                         (int(self.rng.integers(len(names))) if self.spread else 0) for a, names in C.ATTRIBUTES])
        return torch.from_numpy(C.render(np.array(rows), 32, seed=2)).float() / 127.5 - 1


def test_reading_entropy_and_open_captions():
    assert reading_entropy(torch.tensor([3, 3, 3]), 9) == 0.0
    assert np.isclose(reading_entropy(torch.arange(9).repeat(4), 9), np.log(9))
    assert np.isclose(reading_entropy(torch.tensor([0, 0, 0, 1]), 2), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    assert open_caption((0, 1, 1, 4), "size") == "a green circle in the centre"
    assert open_caption((2, 3, 1, 0), "position") == "a big yellow triangle"
    assert C.phrase_attributes(open_caption((1, 2, 0, 8), "size")) == {"kind": "square", "colour": "blue",
                                                                        "position": "bottom right"}
    with pytest.raises(DataError, match="'size' or 'position', not 'colour'"):
        open_caption((0, 0, 0, 0), "colour")


def test_open_attribute_entropy_tells_varied_from_fixed_samples():
    clf = load_attribute_classifier()
    combos = C.seen_combinations()[::9]
    varied = open_attribute_entropy(OpenRenderer(spread=True), combos, "size", per_caption=16, classifier=clf)
    fixed = open_attribute_entropy(OpenRenderer(spread=False), combos, "size", per_caption=16, classifier=clf)
    assert np.isclose(varied["max"], np.log(2)) and varied["max"] == fixed["max"]
    assert fixed["entropy"] == 0.0 and varied["entropy"] > 0.5 * np.log(2)
    assert varied["match"] == fixed["match"] == 1.0  # the named kind, colour and position are drawn right
    pos = open_attribute_entropy(OpenRenderer(spread=True), combos[:4], "position", per_caption=30, classifier=clf)
    assert np.isclose(pos["max"], np.log(9)) and pos["entropy"] > 0.6 * np.log(9)
    with pytest.raises(DataError, match="not 'kind'"):
        open_attribute_entropy(OpenRenderer(spread=True), combos, "kind")


def test_real_renders_of_an_open_caption_give_the_reference_entropy():
    clf = load_attribute_classifier()
    combos = C.seen_combinations()[::9]
    real = open_attribute_entropy(None, combos, "size", per_caption=16, seed=3, classifier=clf)
    assert real["match"] > 0.95 and 0.5 * np.log(2) < real["entropy"] <= np.log(2)
    again = open_attribute_entropy(None, combos, "size", per_caption=16, seed=3, classifier=clf)
    assert again == real  # reproducible from its seed
    pos = open_attribute_entropy(None, combos[:4], "position", per_caption=30, seed=3, classifier=clf)
    assert 0.8 * np.log(9) < pos["entropy"] <= np.log(9)  # 30 uniform draws of 9 cells: ~1.95 nats expected
