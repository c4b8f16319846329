"""StackGAN's caption groups (model.caption_groups): the grouped sampler, D's group-spread map, the recipe's wiring."""

from __future__ import annotations

import pytest
import torch

from gankit import config as C
from gankit.cli import main as cli_main
from gankit.data import captions as caps
from gankit.errors import ConfigError
from gankit.models.stackgan import StackGAN
from gankit.nets.remedies import MinibatchStd
from gankit.nets.stackgan import TEXT_DIM_D, MatchingDiscriminator
from gankit.nets.text import EMBED_DIM
from stackgan_helpers import small_config


def _data():
    return caps.shapes_captions_dataset("train", 32, n=324, open_captions=3)  # 2 images of each seen combination


def _rows_of(data, x):
    """The stored image each of ``x`` is (renders are unique: jitter)."""
    flat = data.images().flatten(1)
    return [int((flat == xi.flatten()).all(dim=1).nonzero()[0, 0]) for xi in x]


def test_the_sampler_groups_images_that_fit_one_caption():
    data = _data()
    torch.manual_seed(0)
    x, y = data.sample_caption_groups(40, 4)
    assert x.shape == (160, 3, 32, 32) and y.shape == (160, caps.MAX_LEN) and y.dtype == torch.int64
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    rows = _rows_of(data, x)
    texts = caps.detokenize(y)
    spread = {"size": 0, "position": 0}
    for g in range(40):
        members = [g + 40 * k for k in range(4)]  # group g: rows g, g + 40, ... (MinibatchStd's layout)
        assert len({texts[i] for i in members}) == 1
        said = caps.phrase_attributes(texts[g])
        attrs = data.attributes[[rows[i] for i in members]]  # (4, 4)
        for k, (a, names) in enumerate(caps.ATTRIBUTES):
            if a in said:  # every member has what the caption names
                assert (attrs[:, k] == names.index(said[a])).all(), (texts[g], a)
            elif len(set(attrs[:, k].tolist())) > 1:
                spread[a] += 1
        if len(said) < 4:  # without replacement where 4 images fit: 4 of each open caption, 2 of a full one
            assert len({rows[i] for i in members}) == 4, texts[g]
    # open captions were drawn (3 of 8 captions per image) and their groups vary where the caption is silent
    assert spread["size"] > 0 and spread["position"] > 0
    # the same draws under one generator; another generator, other draws
    a = data.sample_caption_groups(5, 3, generator=torch.Generator().manual_seed(7))
    b = data.sample_caption_groups(5, 3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], data.sample_caption_groups(5, 3, generator=torch.Generator().manual_seed(8))[0])
    # a data set that does not know its images' attributes cannot group them: one clear line
    folder = caps.CaptionImages("caption-folder", data.pixels[:6], data.tokens[:6, :2])
    with pytest.raises(ConfigError, match="model.caption_groups needs to know which images fit a caption"):
        folder.sample_caption_groups(2, 2)


def test_group_spread_map_is_zero_for_copies_and_positive_for_varied_groups():
    torch.manual_seed(0)
    layer = MinibatchStd(group=4, spatial=True)
    one = torch.randn(1, 5, 4, 4)
    varied = torch.randn(4, 5, 4, 4)
    # two groups (rows 0, 2, 4, 6 and 1, 3, 5, 7): group 0 four copies of one image, group 1 four different ones
    h = torch.empty(8, 5, 4, 4)
    h[0::2], h[1::2] = one, varied
    out = layer(h)
    assert out.shape == (8, 6, 4, 4) and torch.equal(out[:, :5], h)
    assert float(out[0::2, 5].max()) < 1e-3  # copies: no spread in any cell (sqrt(1e-8) = 1e-4)
    std = varied.var(dim=0, unbiased=False).add(1e-8).sqrt().mean(dim=0)  # the closed form, cell by cell
    for i in (1, 3, 5, 7):
        torch.testing.assert_close(out[i, 5], std)
    assert float(out[1::2, 5].min()) > 0.1
    # spread in one cell only shows in that cell
    h = torch.zeros(4, 2, 4, 4)
    h[:, :, 1, 2] = torch.tensor([0.0, 2.0, 0.0, 2.0])[:, None]
    cell = layer(h)[0, 2]
    assert cell[1, 2] == pytest.approx(1.0, abs=1e-6)
    cell[1, 2] = 0.0
    assert float(cell.max()) < 1e-3


def test_grouped_d_scores_each_image_with_its_groups_spread_and_the_default_d_is_unchanged():
    torch.manual_seed(0)
    x, phi = torch.randn(8, 3, 16, 16), torch.randn(8, EMBED_DIM)
    for condition in ("acgan", "projection"):
        d = MatchingDiscriminator(3, 16, 8, condition, groups=4).eval()
        plain = MatchingDiscriminator(3, 16, 8, condition).eval()
        assert plain.spread is None and d.spread is not None
        with torch.no_grad():
            s = d(x, phi)
            assert s.shape == (8,)
            x2 = x.clone()
            x2[2] = torch.randn(3, 16, 16)  # a member of group 0 (rows 0, 2, 4, 6) changes
            s2 = d(x2, phi)
            moved = (s2 - s).abs()  # its group's scores move (through the spread map), the other group's do not
            assert float(moved[[0, 4, 6]].min()) > 0 and float(moved[[1, 3, 5, 7]].max()) <= 1e-3 * float(
                moved[[0, 4, 6]].min())
            # the default D scores one image at a time (eval mode): another image does not move a score
            p2 = plain(x2, phi)
            assert torch.allclose(p2[[0, 4, 6]], plain(x, phi)[[0, 4, 6]])
            if condition == "acgan":  # the read-back head reads the image's own features, never the spread
                _, read = d.score_and_text(x2, phi)
                assert read is not None
                torch.testing.assert_close(read[[0, 4, 6]], d.score_and_text(x, phi)[1][[0, 4, 6]])
    # groups=1 builds exactly the D it built before the option: same parameter names and shapes
    plain = MatchingDiscriminator(3, 16, 8, "acgan")
    assert plain.joint[0].in_channels == 16 + TEXT_DIM_D  # width 8, two stride-2 layers: 16 maps
    assert MatchingDiscriminator(3, 16, 8, "acgan", groups=4).joint[0].in_channels == 16 + 1 + TEXT_DIM_D
    assert not any("spread" in k for k in plain.state_dict())


def test_recipe_trains_on_caption_groups_and_keeps_the_default_batch(tmp_path, monkeypatch):
    data = _data()
    x, tokens = data.sample_with_labels(8)
    torch.manual_seed(0)
    r = StackGAN(small_config(tmp_path, "data.open_captions=3", "model.caption_groups=4"), data.shape, "cpu",
                 dataset=data)
    assert r.discriminator.stage1.spread is not None and r.discriminator.stage2.spread is not None
    grouped = r._group_tokens(tokens)  # G's captions: the first 2 of the batch, 4 times each
    assert torch.equal(grouped[:2], tokens[:2]) and torch.equal(grouped[2:4], tokens[:2]) and len(grouped) == 8
    calls = []
    real = data.sample_caption_groups
    monkeypatch.setattr(data, "sample_caption_groups", lambda *a, **k: calls.append(a[:2]) or real(*a, **k))
    stats = r.d_step((x, tokens))
    assert calls == [(2, 4)] and all(torch.isfinite(v) for v in stats.values())
    stats = r.g_step((x, tokens))
    assert all(torch.isfinite(v) for v in stats.values())
    real_scores, fake_scores = r.discriminator_scores((x, tokens), torch.Generator().manual_seed(1))
    assert real_scores.shape == fake_scores.shape == (16,)
    # the default (1): the trainer's own batch, no group layer, no data set kept
    calls.clear()
    torch.manual_seed(0)
    d = StackGAN(small_config(tmp_path, "data.open_captions=3"), data.shape, "cpu", dataset=data)
    assert d.group_data is None and d.discriminator.stage1.spread is None
    d.d_step((x, tokens))
    d.g_step((x, tokens))
    assert calls == [] and torch.equal(d._group_tokens(tokens), tokens)
    # a caption-folder does not know which images fit a caption
    folder = caps.CaptionImages("caption-folder", data.pixels[:6], data.tokens[:6, :2])
    with pytest.raises(ConfigError, match="caption-folder does not: set model.caption_groups=1"):
        StackGAN(small_config(tmp_path, "model.caption_groups=2"), data.shape, "cpu", dataset=folder)


def test_bad_caption_groups_get_one_clear_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"model.caption_groups must be >= 1 .*got 0"):
        small_config(tmp_path, "model.caption_groups=0")
    with pytest.raises(ConfigError, match=r"data.batch_size \(8\) must be a multiple of model.caption_groups \(3\)"):
        small_config(tmp_path, "model.caption_groups=3")
    with pytest.raises(ConfigError, match="at least 2 groups"):
        small_config(tmp_path, "model.caption_groups=8")
    with pytest.raises(ConfigError, match="model.caption_groups .* is for model.recipe=stackgan"):
        C.resolve("dcgan-mnist", overrides=["model.caption_groups=2"])
    assert small_config(tmp_path).model.caption_groups == 1  # off by default
    runs = tmp_path / "cli-runs"
    assert cli_main(["train", "stackgan-shapes", "model.caption_groups=-2", f"run.out_dir={runs}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: model.caption_groups must be >= 1") and err.count("\n") == 1
    assert not runs.exists()
