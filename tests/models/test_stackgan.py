"""StackGAN: text encoder and contrastive loss, conditioning augmentation, GAN-CLS loss, stages, --text."""

from __future__ import annotations

import itertools
import json
import math
import shutil

import numpy as np
import pytest
import torch

from gankit import api
from gankit import config as C
from gankit.cli import main as cli_main
from gankit.data import captions as caps
from gankit.errors import CheckpointError, ConfigError, DataError
from gankit.models.stackgan import (
    StackGAN,
    cheapest_assignment,
    matching_aware_d_loss,
    mismatched,
    mode_seeking_loss,
    stage_consistency_loss,
    text_readback_loss,
)
from gankit.nets import text as text_mod
from gankit.nets.stackgan import (
    CONDITION_DIM,
    ConditionalBatchNorm2d,
    ConditioningAugmentation,
    MatchingDiscriminator,
    StackGANDiscriminators,
    StackGANGenerator,
    kl_divergence,
    upsample,
)
from gankit.nets.text import EMBED_DIM, CharCNNRNN, contrastive_loss, load_text_encoder
from gankit.pretrain import pretrain_text_encoder
from stackgan_helpers import SMALL, small_config

# ------------------------------------------------------------------------------- text encoder


def test_text_encoder_shapes_and_padding():
    torch.manual_seed(0)
    enc = CharCNNRNN().eval()
    t = caps.tokenize(["a red circle at the top", "a blue square at the bottom left", "a red circle at the top"])
    phi = enc(t)
    assert phi.shape == (3, EMBED_DIM)
    assert torch.allclose(phi[0], phi[2]) and not torch.allclose(phi[0], phi[1])
    # the embedding of a caption does not depend on the other captions of the batch (padding is masked)
    assert torch.allclose(enc(t[:1]), phi[:1], atol=1e-6)


def test_contrastive_loss_closed_form():
    e = torch.eye(2)
    # logits = I / τ with τ = 1: each row's softmax gives e / (e + 1) to its match
    assert math.isclose(float(contrastive_loss(e, e, temperature=1.0)), math.log(1 + math.exp(-1)), rel_tol=1e-6)
    # one group: the target is ½ for both columns: −½ [log p₁₁ + log p₁₂] = log(e + 1) − ½
    same = contrastive_loss(e, e, temperature=1.0, groups=torch.tensor([7, 7]))
    assert math.isclose(float(same), math.log(math.e + 1) - 0.5, rel_tol=1e-6)
    # swapped pairs are worse than matched ones; the scale of the embeddings does not matter
    assert float(contrastive_loss(e, e.flip(0), temperature=1.0)) > float(contrastive_loss(e, e, temperature=1.0))
    assert math.isclose(float(contrastive_loss(3 * e, e, 0.5)), float(contrastive_loss(e, e, 0.5)), rel_tol=1e-6)


def test_contrastive_positives_let_an_open_caption_fit_several_images():
    e = torch.eye(2)
    # caption 0 fits both images, caption 1 only its own: caption 0's target is (½, ½), log(e + 1) − ½, and
    # caption 1's (0, 1), log(1 + 1/e); image 0 is fitted by caption 0 only, image 1 by both: the same two terms
    fits = torch.tensor([[True, True], [False, True]])
    want = 0.5 * (math.log(math.e + 1) - 0.5 + math.log(1 + math.exp(-1)))
    assert math.isclose(float(contrastive_loss(e, e, temperature=1.0, positives=fits)), want, rel_tol=1e-6)
    # the diagonal alone is plain InfoNCE, an equality matrix the groups
    assert math.isclose(float(contrastive_loss(e, e, 1.0, positives=torch.eye(2, dtype=torch.bool))),
                        float(contrastive_loss(e, e, 1.0)), rel_tol=1e-6)
    assert math.isclose(float(contrastive_loss(e, e, 1.0, positives=torch.ones(2, 2, dtype=torch.bool))),
                        float(contrastive_loss(e, e, 1.0, groups=torch.tensor([7, 7]))), rel_tol=1e-6)


def test_pretraining_counts_an_open_caption_as_fitting_every_image_with_its_named_attributes():
    from gankit.pretrain import _positives

    data = caps.shapes_captions_dataset("train", 8, n=324, open_captions=3)
    a = data.attributes
    # two images differing only in size, one of another colour
    i = 0
    j = next(r for r in range(len(a)) if torch.equal(a[r, [0, 1, 3]], a[i, [0, 1, 3]]) and a[r, 2] != a[i, 2])
    k = next(r for r in range(len(a)) if a[r, 1] != a[i, 1])
    idx = torch.tensor([i, j, k])
    full, no_size, neither = 0, 5, 7  # a full caption, one without the size, one without size and position
    assert not data.named[i, no_size, 2] and data.named[i, no_size, 3] and not data.named[i, neither, 2:].any()
    fits = _positives(data, idx, torch.tensor([full, full, full]))
    assert fits.tolist() == [[True, False, False], [False, True, False], [False, False, True]]
    fits = _positives(data, idx, torch.tensor([no_size, full, no_size]))
    assert fits[0].tolist() == [True, True, False] and fits[1].tolist() == [False, True, False]


def test_tiny_pretraining_lowers_the_matching_loss():
    data = caps.shapes_captions_dataset("train", 16, n=16)  # 16 distinct pairs
    state = torch.get_rng_state()
    enc, img, losses = pretrain_text_encoder(data, steps=25, batch_size=16, lr=1e-3, seed=0)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left alone
    assert np.mean(losses[:5]) > 0.9 * math.log(16)  # chance: ln(batch) for 16 distinct pairs
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5
    assert not enc.training and not img.training


def test_shipped_text_encoder_is_checked_and_tells_captions_apart(tmp_path, monkeypatch):
    enc = load_text_encoder()
    with torch.no_grad():
        phi = torch.nn.functional.normalize(enc(caps.tokenize([
            "a small red circle at the top left", "there is a little red circle in the top left corner",
            "a big blue square at the bottom"])), dim=1)
    assert float(phi[0] @ phi[1]) > float(phi[0] @ phi[2]) + 0.3  # paraphrases close, other shapes far
    bad = tmp_path / text_mod.WEIGHTS_FILE
    shutil.copy(text_mod.shipped_path(), bad)
    (tmp_path / text_mod.SHA_FILE).write_text("0" * 64 + "\n")
    monkeypatch.setattr(text_mod, "shipped_path", lambda: bad)
    with pytest.raises(CheckpointError, match="does not match its sha256"):
        load_text_encoder()
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_text_encoder(tmp_path / "missing.safetensors")


# ------------------------------------------------------------------------------ CA and losses


def test_kl_closed_form_and_conditioning_augmentation():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    assert math.isclose(float(kl_divergence(mu, logvar)), 0.5 * 1 + 0.5 * (4 - 1 - math.log(4)), rel_tol=1e-6)
    assert float(kl_divergence(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max()) == 0.0
    ca = ConditioningAugmentation()
    phi = torch.randn(4, EMBED_DIM)
    c0, m, lv = ca(phi, torch.zeros(4, CONDITION_DIM))
    assert torch.equal(c0, m)
    c1, _, _ = ca(phi, torch.ones(4, CONDITION_DIM))
    assert torch.allclose(c1 - m, torch.exp(0.5 * lv))  # c = μ + σ ε
    with torch.no_grad():  # log σ² starts at INIT_LOGVAR = -4
        logvar = ConditioningAugmentation()(torch.zeros(1, EMBED_DIM), torch.zeros(1, CONDITION_DIM))[2]
        assert abs(float(logvar.mean()) + 4) < 1e-6


def test_matching_aware_d_loss_on_hand_made_scores():
    zero = torch.zeros(4)
    assert math.isclose(float(matching_aware_d_loss(zero, zero, zero)), 2 * math.log(2), rel_tol=1e-6)
    good = matching_aware_d_loss(torch.full((4,), 20.0), torch.full((4,), -20.0), torch.full((4,), -20.0))
    assert float(good) < 1e-8
    # D(x, φ) = 0.9, D(x, φ̂) = 0.2, D(G, φ) = 0.3: −log 0.9 − ½ [log 0.8 + log 0.7]
    logit = lambda p: torch.full((2,), math.log(p / (1 - p)))  # noqa: E731
    got = float(matching_aware_d_loss(logit(0.9), logit(0.2), logit(0.3)))
    assert math.isclose(got, -math.log(0.9) - 0.5 * (math.log(0.8) + math.log(0.7)), rel_tol=1e-5)
    sr, sw, sf = (torch.zeros(2, requires_grad=True) for _ in range(3))
    g = torch.autograd.grad(matching_aware_d_loss(sr, sw, sf), (sr, sw, sf))
    assert (g[0] < 0).all() and (g[1] > 0).all() and (g[2] > 0).all()  # real-right up, wrong and fake down
    assert torch.equal(mismatched(torch.arange(3.0)[:, None]).flatten(), torch.tensor([2.0, 0.0, 1.0]))


def test_stage_two_doubles_the_resolution_and_d_picks_its_stage():
    torch.manual_seed(0)
    for side in (16, 32):
        g = StackGANGenerator(5, 3, side, 8, 1)
        d = StackGANDiscriminators(3, side, 8)
        z = g.sample_noise(3)
        assert z.shape == (3, g.latent_dim) == (3, 5 + EMBED_DIM + 2 * CONDITION_DIM)
        out = g.outputs(z)
        assert out["low"].shape == (3, 3, side // 2, side // 2) and out["high"].shape == (3, 3, side, side)
        # stages(): the named images of every multi-stage generator (the stages figure), the last one the sample
        named = g.eval().stages(z)
        assert [name for name, _ in named] == [f"stage I {side // 2}px", f"stage II {side}px"]
        torch.testing.assert_close(named[-1][1], g(z))
        torch.testing.assert_close(named[0][1], g.outputs(z)["low"])
        g.train()
        assert out["high"].abs().max() <= 1
        phi = g.split(z)[1]
        assert d(out["low"], phi).shape == (3,) and d(out["high"], phi).shape == (3,)
        assert torch.equal(d(out["high"], phi), d.stage2(out["high"], phi))
    # stage II refines a detached stage-I image: its loss gives stage I no gradient
    g.outputs(z)["high"].sum().backward()
    assert all(p.grad is None for p in g.stage1.parameters())
    assert any(p.grad is not None for p in g.stage2.parameters())


def test_residual_stage_two_starts_as_the_up_sampled_stage_one_and_learns_a_correction():
    torch.manual_seed(0)
    g = StackGANGenerator(5, 3, 32, 8, 1, refine="residual")
    z = g.sample_noise(4)
    out = g.outputs(z)
    assert out["low"].shape == (4, 3, 16, 16) and out["high"].shape == (4, 3, 32, 32)
    torch.testing.assert_close(out["high"], upsample(out["low"]), rtol=0, atol=0)  # exactly, at initialisation
    # bilinear x2 up-sampling: a constant stays, a 2-pixel ramp [−1, 1] gives [−1, −½, ½, 1] (clamped at the edges)
    assert torch.equal(upsample(torch.full((1, 1, 2, 2), 0.3)), torch.full((1, 1, 4, 4), 0.3))
    ramp = upsample(torch.tensor([[-1.0, 1.0]]).expand(2, 2)[None, None])
    torch.testing.assert_close(ramp[0, 0, 0], torch.tensor([-1.0, -0.5, 0.5, 1.0]))
    redraw = StackGANGenerator(5, 3, 32, 8, 1)  # StackGAN's stage II draws a new image
    assert not torch.allclose(redraw.outputs(z)["high"], upsample(redraw.outputs(z)["low"]), atol=0.1)
    # the zero convolution is trainable: stage II's loss moves it, and then stage II is up(I) + a correction
    g.outputs(z)["high"].sum().backward()
    assert g.stage2.out[0].weight.grad is not None and g.stage2.out[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in g.stage1.parameters())  # detached: no gradient into stage I
    with torch.no_grad():
        g.stage2.out[0].bias.fill_(3.0)  # tanh(3) ≈ 0.995 added everywhere, the sum clamped to [−1, 1]
        out = g.outputs(z)
        torch.testing.assert_close(out["high"], (upsample(out["low"]) + math.tanh(3.0)).clamp(-1, 1))
        assert out["high"].max() == 1.0
    # without the detach, stage II's loss trains stage I through up(I)
    g.zero_grad()
    g.outputs(z, detach=False)["high"].sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.stage1.parameters())
    with pytest.raises(ConfigError, match="generator.refine 'sharpen'.*redraw, residual"):
        StackGANGenerator(5, 3, 32, 8, 1, refine="sharpen")


def test_stage_consistency_on_known_images():
    ones, zeros = torch.ones(2, 3, 4, 4), torch.zeros(2, 3, 2, 2)
    assert float(stage_consistency_loss(ones, zeros)) == 1.0
    assert float(stage_consistency_loss(ones, zeros + 0.25)) == 0.75
    # pooled before compared: a ±1 checkerboard averages to 0 in every 2 x 2 block, so it matches a grey stage I
    board = (torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2 * 2.0 - 1.0
    assert float(stage_consistency_loss(board.expand(2, 3, 4, 4), zeros)) == 0.0
    # one block off by 1 in one channel of one image: 1 / (2 images · 3 channels · 4 blocks)
    high = torch.zeros(2, 3, 4, 4)
    high[1, 2, :2, 2:] = 1.0
    assert math.isclose(float(stage_consistency_loss(high, zeros)), 1 / 24, rel_tol=1e-6)
    # a real 32 px image and its 16 px version (the recipe's stage-I target) agree exactly
    x = torch.rand(3, 3, 8, 8) * 2 - 1
    assert float(stage_consistency_loss(x, StackGAN.low(x))) == 0.0
    # the gradient goes to stage II only
    high, low = torch.zeros(1, 1, 2, 2, requires_grad=True), torch.ones(1, 1, 1, 1, requires_grad=True)
    stage_consistency_loss(high, low).backward()
    assert low.grad is None and torch.equal(high.grad, torch.full((1, 1, 2, 2), -0.25))


def test_mode_seeking_loss_closed_form_and_direction():
    a, b = torch.ones(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    za, zb = torch.zeros(2, 5), torch.full((2, 5), 2.0)
    # image distance 1, noise distance 2: ratio ½, loss 1 / (½ + ε)
    assert math.isclose(float(mode_seeking_loss(a, b, za, zb)), 1 / (0.5 + 1e-5), rel_tol=1e-6)
    # per pair: pair 0 apart (ratio ½), pair 1 identical (ratio 0): mean of 2 and 1 / ε
    b2 = torch.stack([b[0], a[1]])
    assert math.isclose(float(mode_seeking_loss(a, b2, za, zb)), 0.5 * (1 / (0.5 + 1e-5) + 1e5), rel_tol=1e-6)
    # only the kept pairs count (0 when none is kept)
    keep = torch.tensor([True, False])
    assert math.isclose(float(mode_seeking_loss(a, b2, za, zb, keep)), 1 / (0.5 + 1e-5), rel_tol=1e-6)
    assert float(mode_seeking_loss(a, b2, za, zb, torch.zeros(2, dtype=torch.bool))) == 0.0
    # G lowers it by moving the two draws apart: the gradient on a points away from b
    x = torch.full((1, 1, 2, 2), 0.2, requires_grad=True)
    mode_seeking_loss(x, torch.zeros(1, 1, 2, 2), za[:1], zb[:1]).backward()
    assert (x.grad < 0).all()


def test_readback_can_skip_captions_that_leave_attributes_open(tmp_path):
    phi, phi_hat = torch.zeros(3, 4), torch.tensor([[1.0] * 4, [2.0] * 4, [3.0] * 4])
    assert float(text_readback_loss(phi_hat, phi)) == pytest.approx(14 / 3)
    assert float(text_readback_loss(phi_hat, phi, torch.tensor([True, False, True]))) == pytest.approx(5.0)
    assert float(text_readback_loss(phi_hat, phi, torch.zeros(3, dtype=torch.bool))) == 0.0
    tokens = caps.tokenize(["a big red circle at the top", "a red circle at the top", "a big red circle",
                            "there is a small blue square in the middle", "a big small circle"])
    assert caps.complete_captions(tokens).tolist() == [True, False, False, True, False]
    # in the recipe: a batch of open captions only trains no read-back at all, on either side
    data = caps.shapes_captions_dataset("train", 32, n=324, open_captions=3)
    torch.manual_seed(0)
    r = StackGAN(small_config(tmp_path, "data.open_captions=3", "model.readback=complete"), data.shape, "cpu",
                 dataset=data)
    x = data.images(torch.arange(8))
    open_tokens = data.tokens[:8, caps.CAPTIONS_PER_IMAGE].long()  # the first open caption: no size
    assert not caps.complete_captions(open_tokens).any()
    assert float(r.d_step((x, open_tokens))["d1_text"]) == 0.0
    assert float(r.g_step((x, open_tokens))["g_text"]) == 0.0
    full = data.tokens[:8, 0].long()
    assert float(r.d_step((x, full))["d1_text"]) > 0 and float(r.g_step((x, full))["g_text"]) > 0
    # model.diversity_on=open: the mode-seeking term spreads only the captions that leave something unsaid
    r = StackGAN(small_config(tmp_path, "data.open_captions=3", "model.diversity_weight=1", "model.diversity_on=open"),
                 data.shape, "cpu", dataset=data)
    assert float(r.g_step((x, full))["g_diversity"]) == 0.0 and float(r.g_step((x, open_tokens))["g_diversity"]) > 0
    with pytest.raises(ConfigError, match="model.readback: unknown value 'named'"):
        small_config(tmp_path, "model.readback=named")


def test_completions_leave_out_one_attribute_and_complete_it_k_different_ways():
    rng = np.random.default_rng(0)
    full = ["a big red circle at the top", "there is a small blue square in the middle"] * 10
    names = [a for a, _ in caps.ATTRIBUTES]
    assert [caps.completion_count(u) for u in ("size", "position", "both")] == [2, 9, 18]
    for unsaid, left, k in (("size", {"size"}, 2), ("position", {"position"}, 2), ("position", {"position"}, 9),
                            ("both", {"size", "position"}, 3)):
        opened, completed = caps.completions(caps.tokenize(full), unsaid, k, rng)
        assert opened.shape == (len(full), caps.MAX_LEN) and completed.shape == (k, len(full), caps.MAX_LEN)
        done = [caps.detokenize(c) for c in completed]
        for t, (text, o) in enumerate(zip(full, caps.detokenize(opened))):
            said, parsed = caps.phrase_attributes(text), [caps.parse_caption(d[t]) for d in done]
            # the open caption names exactly what the full one does, less what is left out
            assert caps.phrase_attributes(o) == {a: v for a, v in said.items() if a not in left}
            # every completion keeps the named attributes, and no two agree on what is left out
            assert all(p[a] == said[a] for p in parsed for a in names if a not in left)
            assert len({tuple(p[a] for a in sorted(left)) for p in parsed}) == k
            if unsaid == "size":  # two sizes only: one of each
                assert {p["size"] for p in parsed} == {"small", "big"}
            if k == 9:  # all nine cells
                assert {p["position"] for p in parsed} == set(caps.POSITIONS)
    with pytest.raises(DataError, match="names no size"):  # an open caption has no completion to start from
        caps.completions(caps.tokenize(["a red circle at the top"]), "size", 2, rng)
    with pytest.raises(ValueError, match="cannot draw 3 different values out of 2"):
        caps.completions(caps.tokenize(full[:1]), "size", 3, rng)


def test_distinct_draws_are_uniform_and_a_pair_is_rejection_sampling():
    # k = 2: the pair drawn together and drawn again while equal, i.e. what rejection sampling consumes
    rng, ref = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(20):
        got = caps.distinct_draws([2, 9], 2, rng)
        a, b = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
        while (a == b).all():
            for j, n in enumerate((2, 9)):
                a[j], b[j] = ref.integers(0, n, 2)
        assert (got[:, 0] == a).all() and (got[:, 1] == b).all()
    # 3 of 4 values: 24 ordered triples, each about 1/24 of 4,800 draws (the binomial s.d. is ~14)
    rng = np.random.default_rng(0)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(4800):
        d = caps.distinct_draws([4], 3, rng)[0]
        assert len(set(d.tolist())) == 3
        counts[tuple(d.tolist())] = counts.get(tuple(d.tolist()), 0) + 1
    assert len(counts) == 24 and max(abs(c - 200) for c in counts.values()) < 60
    assert sorted(caps.distinct_draws([9], 9, rng)[0].tolist()) == list(range(9))  # all of them, in some order


def test_cheapest_assignment_is_the_best_permutation():
    torch.manual_seed(0)
    k, n = 3, 5
    costs = torch.rand(n, k, k)  # costs[t, i, j]: draw i of caption t as completion j
    shifted = torch.stack([torch.stack([costs[:, i, (i + s) % k] for i in range(k)]) for s in range(k)])
    shifted.requires_grad_(True)
    chosen = cheapest_assignment(shifted)
    assert chosen.shape == (k, n)
    best = [min(sum(float(costs[t, i, p[i]]) for i in range(k)) for p in itertools.permutations(range(k)))
            for t in range(n)]
    assert chosen.sum(dim=0).tolist() == pytest.approx(best, rel=1e-6)
    chosen.sum().backward()  # the gradient reaches exactly the k chosen costs of each caption
    assert shifted.grad is not None and (shifted.grad.sum(dim=(0, 1)) == k).all()
    assert set(shifted.grad.unique().tolist()) == {0.0, 1.0}
    # k = 2: the cheaper of the two pairings
    two = torch.tensor([[[1.0], [5.0]], [[2.0], [1.0]]])  # [s, i, t]: as drawn 1 + 5, crossed 2 + 1
    assert cheapest_assignment(two).sum(dim=0).tolist() == [3.0]
    assert cheapest_assignment(two.flip(0)).sum(dim=0).tolist() == [3.0]


def test_completion_term_is_the_same_whatever_order_the_completions_come_in(tmp_path, monkeypatch):
    data = caps.shapes_captions_dataset("train", 32, n=324, open_captions=3)
    x, full = data.images(torch.arange(8)), data.tokens[:8, 0].long()
    open_tokens = data.tokens[:8, caps.CAPTIONS_PER_IMAGE].long()
    real = caps.completions
    for options in (["model.completion_weight=1"],
                    ["model.completion_weight=1", "model.completion_on=position", "model.completion_draws=3",
                     "model.completion_fraction=0.5"]):
        torch.manual_seed(0)
        r = StackGAN(small_config(tmp_path, *options), data.shape, "cpu", dataset=data)
        assert float(r.g_step((x, open_tokens))["g_completion"]) == 0.0  # no full caption to leave a word out of
        values = []
        for turn in (0, 1):  # the same draws and completions, handed over in another order
            def shuffled(tokens, unsaid, k, rng, turn=turn):
                opened, completed = real(tokens, unsaid, k, rng)
                return opened, completed.roll(turn, dims=0)

            monkeypatch.setattr("gankit.models.stackgan.completions", shuffled)
            torch.manual_seed(1)
            values.append(float(r._completion_loss(full).detach()))
        assert values[0] > 0 and values[0] == pytest.approx(values[1], rel=1e-5)
        monkeypatch.setattr("gankit.models.stackgan.completions", real)
        # in G's step: D is frozen for the term and trainable again after it
        assert float(r.g_step((x, full))["g_completion"]) > 0
        assert all(p.requires_grad for p in r.discriminator.parameters())
    # the share of the batch: 8 captions at 0.5 -> 4 open captions, 3 draws each
    seen = []

    def counted(tokens, unsaid, k, rng):
        seen.append((len(tokens), unsaid, k))
        return real(tokens, unsaid, k, rng)

    monkeypatch.setattr("gankit.models.stackgan.completions", counted)
    r._completion_loss(full)
    assert seen == [(4, "position", 3)]
    # a data set whose images have no attributes to complete from: one line
    folder = type("Folder", (), {"name": "caption-folder", "attributes": None,
                                 "caption_bank": staticmethod(lambda k, seed=0: full)})()
    with pytest.raises(ConfigError, match="model.completion_weight needs captions that name every attribute"):
        StackGAN(small_config(tmp_path, "model.completion_weight=1"), data.shape, "cpu", dataset=folder)
    # more draws than a caption without its size has completions
    with pytest.raises(ConfigError, match="model.completion_draws=3: a caption without its size has 2 completions"):
        StackGAN(small_config(tmp_path, "model.completion_weight=1", "model.completion_draws=3"), data.shape, "cpu",
                 dataset=data)


def test_projection_d_is_affine_in_the_text_and_acgan_reads_it_back():
    torch.manual_seed(0)
    x, p1, p2 = torch.randn(4, 3, 16, 16), torch.randn(4, EMBED_DIM), torch.randn(4, EMBED_DIM)
    proj = MatchingDiscriminator(3, 16, 8, "projection").eval()
    concat = MatchingDiscriminator(3, 16, 8, "concat").eval()
    with torch.no_grad():  # D(x, φ) = ψ(h) + (Vφ)ᵀh: affine in φ; concat's LeakyReLU after the text layer is not
        for d, affine in ((proj, True), (concat, False)):
            mix = d(x, 0.3 * p1 + 0.7 * p2)
            assert torch.allclose(mix, 0.3 * d(x, p1) + 0.7 * d(x, p2), atol=1e-5) == affine
        h = proj.image(x)
        torch.testing.assert_close(proj(x, p1), proj.psi(h).flatten() + (proj.embed(p1) * h.flatten(1)).sum(1))
        # the text read-back head: (B, EMBED_DIM) beside the same score as forward(); none without acgan
        ac = MatchingDiscriminator(3, 16, 8, "acgan").eval()
        score, read = ac.score_and_text(x, p1)
        assert read is not None and read.shape == (4, EMBED_DIM) and torch.equal(score, ac(x, p1))
        assert concat.score_and_text(x, p1)[1] is None and proj.score_and_text(x, p1)[1] is None
        both = MatchingDiscriminator(3, 16, 8, "projection-acgan").eval()  # projection's score, acgan's head
        score, read = both.score_and_text(x, p1)
        assert read is not None and read.shape == (4, EMBED_DIM)
        torch.testing.assert_close(0.5 * (both(x, p1) + both(x, p2)), both(x, 0.5 * (p1 + p2)))
    with pytest.raises(ConfigError, match="concat, projection, acgan"):
        MatchingDiscriminator(3, 16, 8, "hinge")
    # ‖φ̂ − φ‖² / D: 0 for a perfect read, 1 for φ̂ = φ + a unit vector per row... per component 1/D of it
    phi = torch.randn(5, EMBED_DIM)
    assert float(text_readback_loss(phi, phi)) == 0.0 and float(text_readback_loss(None, phi)) == 0.0
    shift = torch.zeros_like(phi)
    shift[:, 0] = 2.0
    assert math.isclose(float(text_readback_loss(phi + shift, phi)), 4.0 / EMBED_DIM, rel_tol=1e-6)


def test_conditional_batch_norm_starts_as_batch_norm_and_scales_by_the_text(tmp_path):
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(3, 5)
    x, c = torch.randn(4, 3, 2, 2), torch.randn(4, 5)
    torch.testing.assert_close(cbn(x, c), cbn.bn(x))  # γ(c) = β(c) = 0 at the start
    with torch.no_grad():
        cbn.gamma.bias.fill_(1.0)  # y = 2 BN(x) + β(c), β(c) = c₀ for every map
        cbn.beta.weight.zero_()
        cbn.beta.weight[:, 0] = 1.0
    torch.testing.assert_close(cbn(x, c), 2 * cbn.bn(x) + c[:, :1, None, None])
    g = StackGANGenerator(5, 3, 16, 8, 1, conditional_norm=True)
    assert sum(isinstance(m, ConditionalBatchNorm2d) for m in g.modules()) == 3  # stage I: 1 block, stage II: 2
    assert g(g.sample_noise(3)).shape == (3, 3, 16, 16)
    cfg = small_config(tmp_path, "generator.norm=conditional")
    assert isinstance(StackGAN(cfg, (3, 32, 32)).generator.stage1.up[2], ConditionalBatchNorm2d)
    with pytest.raises(ConfigError, match="generator.name=stackgan"):
        C.resolve("dcgan-mnist", overrides=["generator.norm=conditional"])


def test_without_conditioning_augmentation_c_is_mu_and_old_generators_load():
    torch.manual_seed(0)
    g = StackGANGenerator(5, 3, 16, 8, 1).eval()
    z = g.sample_noise(3)
    z2 = z.clone()
    z2[:, -2 * CONDITION_DIM:] = torch.randn(3, 2 * CONDITION_DIM)  # other CA noise ε
    with torch.no_grad():
        assert not torch.allclose(g(z), g(z2))  # with CA, ε moves the sample
        g.ca_scale.fill_(0.0)
        torch.testing.assert_close(g(z), g(z2))  # without, c = μ(φ)
    # a generator saved before ca_scale existed loads with CA on
    state = {k: v for k, v in g.state_dict().items() if k != "ca_scale"}
    fresh = StackGANGenerator(5, 3, 16, 8, 1)
    fresh.ca_scale.fill_(0.0)
    fresh.load_state_dict(state)
    assert float(fresh.ca_scale) == 1.0


# ------------------------------------------------------------------------------------- recipe


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


@pytest.mark.parametrize("variant", [["model.condition=concat", "generator.refine=redraw", "model.consistency_weight=0",
                                      "generator.norm=auto"],  # StackGAN's own
                                     ["model.condition=acgan", "model.augment=false"],
                                     ["model.condition=projection"], ["model.condition=projection-acgan"],
                                     ["generator.refine=residual", "model.consistency_weight=10",
                                      "model.detach_stages=false"], ["model.diversity_weight=1"],
                                     ["model.caption_groups=4"]])
def test_recipe_steps_move_only_their_side_and_keep_the_text_encoder(tmp_path, variant):
    cfg = small_config(tmp_path, *variant)
    data = caps.shapes_captions_dataset("train", 32, n=324)
    torch.manual_seed(0)
    r = StackGAN(cfg, data.shape, "cpu", dataset=data)
    assert torch.equal(r.generator.text_encoder.out.weight, load_text_encoder().out.weight)
    for text in caps.detokenize(r.generator.captions[:20].long()):
        caps.parse_caption(text)  # the bank holds training captions
    g0, d0, e0 = _params(r.generator), _params(r.discriminator), _params(r.generator.text_encoder)
    torch.manual_seed(1)
    batch = data.sample_with_labels(8)
    stats = r.d_step(batch)
    assert {"d1_loss", "d2_loss", "d1_wrong", "d2_fake"} <= set(stats)
    assert all(torch.isfinite(v) for v in stats.values())
    assert any(not torch.equal(a, b) for a, b in zip(d0, _params(r.discriminator)))
    assert all(torch.equal(a, b) for a, b in zip(g0, _params(r.generator)))
    d1 = _params(r.discriminator)
    reads = cfg.model.condition.endswith("acgan")  # the preset's own is acgan
    assert ("d1_text" in stats) == reads  # the read-back loss, acgan and projection-acgan only
    stats = r.g_step(batch)
    assert float(stats["kl"]) > 0 and all(torch.isfinite(v) for v in stats.values())
    assert ("g_text" in stats) == reads
    assert ("g_consistency" in stats) == (cfg.model.consistency_weight > 0)
    assert ("g_diversity" in stats) == (cfg.model.diversity_weight > 0)
    assert r.detach_stages == cfg.model.detach_stages
    assert r.generator.stage2.refine == cfg.generator.refine
    assert r.kl_weight == (0.0 if "model.augment=false" in variant else 1.0)
    assert float(r.generator.ca_scale) == (0.0 if "model.augment=false" in variant else 1.0)
    assert any(not torch.equal(a, b) for a, b in zip(g0, _params(r.generator)))
    assert all(torch.equal(a, b) for a, b in zip(d1, _params(r.discriminator)))
    assert all(torch.equal(a, b) for a, b in zip(e0, _params(r.generator.text_encoder)))


def test_recipe_config_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="generator.name=stackgan"):
        StackGAN(small_config(tmp_path, "generator.name=dcgan"), (3, 32, 32))
    with pytest.raises(ConfigError, match="model.objective=nsgan"):
        StackGAN(small_config(tmp_path, "model.objective=wgan"), (3, 32, 32))
    with pytest.raises(ConfigError, match="captioned images"):
        StackGAN(small_config(tmp_path, "data.name=digits"), (1, 8, 8))
    with pytest.raises(ConfigError, match="image side of 16, 32"):
        StackGAN(small_config(tmp_path), (3, 24, 24), dataset=caps.shapes_captions_dataset("train", 24, n=10))
    # stage II's options: one line each, from the command line too (nothing written)
    with pytest.raises(ConfigError, match="generator.refine: unknown value 'sharpen'; choose one of: redraw, residual"):
        small_config(tmp_path, "generator.refine=sharpen")
    with pytest.raises(ConfigError, match="model.consistency_weight must be >= 0"):
        small_config(tmp_path, "model.consistency_weight=-1")
    with pytest.raises(ConfigError, match="model.diversity_weight must be >= 0"):
        small_config(tmp_path, "model.diversity_weight=-1")
    with pytest.raises(ConfigError, match="model.diversity_pool must be >= 1"):
        small_config(tmp_path, "model.diversity_pool=0")
    with pytest.raises(ConfigError, match="model.completion_weight must be >= 0"):
        small_config(tmp_path, "model.completion_weight=-1")
    with pytest.raises(ConfigError, match="model.completion_on: unknown value 'kind'"):
        small_config(tmp_path, "model.completion_on=kind")
    with pytest.raises(ConfigError, match="model.completion_draws must be >= 2"):
        small_config(tmp_path, "model.completion_draws=1")
    for bad in ("0", "1.5"):
        with pytest.raises(ConfigError, match=f"model.completion_fraction must be in \\(0, 1\\].*got {bad}"):
            small_config(tmp_path, f"model.completion_fraction={bad}")
    with pytest.raises(ConfigError, match="model.completion_weight .* is for model.recipe=stackgan"):
        C.resolve("dcgan-mnist", overrides=["model.completion_weight=1"])
    with pytest.raises(ConfigError, match="generator.refine=residual .* is for generator.name=stackgan"):
        C.resolve("dcgan-mnist", overrides=["generator.refine=residual"])
    runs = tmp_path / "cli-runs"
    assert cli_main(["train", "stackgan-shapes", "model.consistency_weight=-0.5", f"run.out_dir={runs}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: model.consistency_weight must be >= 0") and err.count("\n") == 1
    assert not runs.exists()


def test_text_sampling_end_to_end(tmp_path, capsys):
    cfg = small_config(tmp_path)
    run = api.train(cfg)
    out = tmp_path / "square.npy"
    text = "a big blue square at the bottom"
    assert cli_main(["sample", str(run.root), "--text", text, "-n", "4", "-o", str(out), "--seed", "2"]) == 0
    x = np.load(out)
    assert x.shape == (4, 3, 32, 32) and np.abs(x).max() <= 1
    assert np.array_equal(x, api.sample(run.root, 4, seed=2, text=text))
    assert not np.array_equal(x, api.sample(run.root, 4, seed=2, text="a small red circle at the top left"))
    # the latent carries φ(text) of the fixed encoder
    net, _, _ = api.load_generator(run.root)
    phi = net.split(net.sample_noise(2, text=text))[1]
    want = torch.nn.functional.normalize(load_text_encoder()(caps.tokenize(text)), dim=1) * math.sqrt(EMBED_DIM)
    assert torch.allclose(phi, want.expand(2, -1), atol=1e-5)
    assert net.sample_noise(3, text=["a red circle at the top"] * 3).shape == (3, net.latent_dim)
    with pytest.raises(DataError, match="2 captions for 3 samples"):
        net.sample_noise(3, text=["a", "b"])
    assert cli_main(["sample", str(run.root), "--text", text, "-n", "8", "-o", str(tmp_path / "eight.png")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "eight.png") as im:  # 2 rows of 4 32 px images, x2 to 256 px wide (was 4 rows of 2)
        assert im.size == ((4 * 34 + 2) * 2, (2 * 34 + 2) * 2)
    assert cli_main(["sample", str(run.root), "--text", "  ", "-n", "2", "-o", str(out)]) == 2
    assert "caption is empty" in capsys.readouterr().err
    assert cli_main(["sample", str(run.root), "--text", text, "--interpolate", "linear",
                     "-o", str(tmp_path / "i.png")]) == 2
    # an unconditional run has no --text
    ring = C.resolve("ring8", overrides=["train.steps=2", "train.progress=false", "train.sample_every=0",
                                          "train.diagnostics_every=0", f"run.out_dir={tmp_path / 'runs'}",
                                          "eval.metrics=[]"])
    ring_run = api.train(ring)
    with pytest.raises(ConfigError, match="--text needs a text-to-image run"):
        api.sample(ring_run.root, 3, text=text)


def test_run_ends_with_its_stages_figure_and_caption_match_that_eval_repeats(tmp_path, capsys):
    """Issue 13: the stages figure crashed every run at its end; eval printed an empty table; an unknown
    caption word silently gave images."""
    code = cli_main(["train", "stackgan-shapes", *SMALL, "train.sample_every=3", "eval.metrics=[auto]",
                     "eval.num_samples=216", f"run.out_dir={tmp_path / 'runs'}"])
    assert code == 0, capsys.readouterr().err
    root = tmp_path / "runs" / "stackgan-shapes"
    assert (root / "stages.png").stat().st_size > 1000
    trained = json.loads((root / "metrics.jsonl").read_text().splitlines()[-1])
    assert trained["caption_match_n"] == 216  # one image of each of the 216 combinations
    for key in ("caption_match", "caption_kind", "caption_position", "caption_match_held_out",
                "caption_colour_held_out"):
        assert 0 <= trained[key] <= 1
    # gankit eval: caption-match applies and scores the same generator the same way as the end of training
    capsys.readouterr()
    assert cli_main(["eval", str(root), "-n", "216"]) == 0
    out = capsys.readouterr().out
    assert "caption_match_held_out" in out
    evaluated = json.loads((root / "metrics.jsonl").read_text().splitlines()[-1])
    # the image metrics (attribute-classifier features) have a floor; caption-match scores G and has none
    assert evaluated["source"] == "gankit eval" and "fid" in evaluated["floor"]
    assert not any(k.startswith("caption_") for k in evaluated["floor"])
    assert {k: v for k, v in evaluated.items() if k.startswith("caption_")} == \
        {k: v for k, v in trained.items() if k.startswith("caption_")}
    # a run made with no eval.metrics (the old preset) is scored with every metric that applies
    assert set(api.evaluate(root, n=216, metrics=None, write=False).model) >= {"caption_match"}
    # the stages: stage I then stage II, the last one the sample itself; for a caption too
    text = "a big blue square at the bottom"
    for caption in (None, text):
        stages = api.stages(root, 3, seed=4, text=caption)
        assert [(name, a.shape) for name, a in stages] == [("stage I 16px", (3, 3, 16, 16)),
                                                            ("stage II 32px", (3, 3, 32, 32))]
        np.testing.assert_allclose(stages[-1][1], api.sample(root, 3, seed=4, text=caption), atol=1e-6)
    out_png = tmp_path / "stages.png"
    assert cli_main(["sample", str(root), "--stages", "-n", "2", "--text", text, "-o", str(out_png)]) == 0
    assert out_png.stat().st_size > 1000
    # an unknown word: one line naming it, exit 2, no file
    bad = tmp_path / "hexagon.png"
    capsys.readouterr()
    assert cli_main(["sample", str(root), "--text", "a purple hexagon", "-o", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: caption 'a purple hexagon' has words the text encoder has never seen: "
                          "purple, hexagon (it knows a, at, big, blue") and err.count("\n") == 1 and not bad.exists()
    with pytest.raises(DataError, match="never seen: hexagon"):
        api.sample(root, 2, text="a red hexagon")
    assert cli_main(["sample", str(root), "--stages", "--text", "a red hexagon", "-o", str(bad)]) == 2
    assert not bad.exists()
    # options that draw their own latents would drop the caption silently: refused instead
    capsys.readouterr()
    assert cli_main(["sample", str(root), "--text", text, "--per-class", "-o", str(bad)]) == 2
    assert "cannot be combined with --per-class" in capsys.readouterr().err and not bad.exists()
    # every word of the grammar is in the run's caption bank: no caption of the grammar is refused
    net, _, _ = api.load_generator(root)
    grammar = {w for combo in caps.all_combinations()
               for c in caps.captions_for(*(names[i] for (_, names), i in zip(caps.ATTRIBUTES, combo)))
               for w in caps.caption_words(c)}
    assert grammar <= caps.vocabulary(net.captions)


def test_benchmark_reads_stage_one_up_sampled():
    # benchmarks/stackgan.py read stage I as stages(latent)["low"] (stages() is a list) and failed after training
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "bench_stackgan", Path(__file__).resolve().parents[2] / "benchmarks" / "stackgan.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    torch.manual_seed(0)
    g = StackGANGenerator(5, 3, 16, 8, 1).eval()
    z = g.sample_noise(2)
    with torch.no_grad():
        got = bench.StageI(g)(z)
        want = torch.nn.functional.interpolate(g.outputs(z)["low"], scale_factor=2, mode="bilinear",
                                               align_corners=False)
    assert got.shape == (2, 3, 16, 16)
    torch.testing.assert_close(got, want)
