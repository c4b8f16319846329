"""StackGAN's caption prior (model.caption_prior): the mixture NLL, what the prior learns, the caption pairs it
learns from, the recipe's wiring (training unchanged, saved and loaded with G) and its config errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gankit import api
from gankit import config as C
from gankit.cli import main as cli_main
from gankit.data import build_dataset
from gankit.data import captions as caps
from gankit.errors import ConfigError
from gankit.models import stackgan as recipe_mod
from gankit.models.stackgan import StackGAN, fit_caption_prior, new_caption_prior
from gankit.nets.caption_prior import CaptionPrior, fit_prior, mixture_nll
from gankit.nets.text import EMBED_DIM
from gankit.train.stats import read_jsonl
from stackgan_helpers import small_config

PRIOR = ["model.caption_prior=true", "model.caption_prior_components=3", "model.caption_prior_steps=4"]


def test_mixture_nll_against_scipy():
    rng = np.random.default_rng(0)
    mean, log_std, y = rng.normal(size=(2, 2, 3)), rng.normal(scale=0.3, size=(2, 2, 3)), rng.normal(size=(2, 3))
    logits = np.array([[0.3, -1.1], [2.0, 0.5]])
    # K = 1: the diagonal Gaussian's NLL, whatever its logit
    got = mixture_nll(torch.tensor(logits[:, :1]), torch.tensor(mean[:, :1]), torch.tensor(log_std[:, :1]),
                      torch.tensor(y))
    want = [-multivariate_normal(mean[i, 0], np.diag(np.exp(2 * log_std[i, 0]))).logpdf(y[i]) for i in range(2)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    # K = 2: −log(π₁ N₁ + π₂ N₂), π = softmax(logits); adding a constant to the logits changes nothing
    log_pi = logits - logsumexp(logits, axis=1, keepdims=True)
    want = [-logsumexp([log_pi[i, k] + multivariate_normal(mean[i, k], np.diag(np.exp(2 * log_std[i, k]))).logpdf(y[i])
                        for k in range(2)]) for i in range(2)]
    for shift in (0.0, 7.0):
        got = mixture_nll(torch.tensor(logits + shift), torch.tensor(mean), torch.tensor(log_std), torch.tensor(y))
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


def test_prior_with_a_zero_head_is_a_unit_gaussian_at_its_input():
    torch.manual_seed(0)
    prior = CaptionPrior(3, components=4, hidden=8)
    torch.nn.init.zeros_(prior.head.weight)
    torch.nn.init.zeros_(prior.head.bias)
    x, y = torch.randn(5, 3), torch.randn(5, 3)
    logits, mean, log_std = prior(x)
    assert logits.shape == (5, 4) and mean.shape == log_std.shape == (5, 4, 3)
    # four identical components N(x, I) are one: μ = x + 0 (the residual mean), σ = 1
    want = [-multivariate_normal(x[i].numpy(), np.eye(3)).logpdf(y[i].numpy()) for i in range(5)]
    np.testing.assert_allclose(prior.nll(x, y).detach().numpy(), want, rtol=1e-5)
    a = prior.sample(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, prior.sample(x, torch.Generator().manual_seed(1)))  # its own RNG
    assert not torch.equal(a, prior.sample(x, torch.Generator().manual_seed(2)))
    prior.temperature = 0.0  # the component means: x itself
    torch.testing.assert_close(prior.sample(x, torch.Generator().manual_seed(1)), x)


def test_prior_learns_a_two_mode_and_a_one_mode_conditional():
    # input a ("a red circle": the size unsaid) -> c1 or c2 half each; input b (a full caption) -> b itself
    gen = torch.Generator().manual_seed(0)
    a, b = torch.tensor([0.0, 2.0, 0.0, 0.0]), torch.tensor([0.0, -2.0, 0.0, 0.0])
    c1, c2 = torch.tensor([2.0, 2.0, 0.0, 0.0]), torch.tensor([-2.0, 2.0, 0.0, 0.0])
    n = 2048
    is_a = torch.arange(n) % 2 == 0
    first = torch.rand(n, generator=gen) < 0.5
    x = torch.where(is_a[:, None], a, b) + 0.05 * torch.randn(n, 4, generator=gen)
    y = torch.where(is_a[:, None], torch.where(first[:, None], c1, c2), b) + 0.05 * torch.randn(n, 4, generator=gen)
    torch.manual_seed(0)
    prior = CaptionPrior(4, components=4, hidden=32)
    losses = fit_prior(prior, x, y, steps=600, lr=5e-3, generator=torch.Generator().manual_seed(1))
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 3  # nats: σ from about 1 to about 0.1 in 4 dimensions
    assert not prior.training and all(p.grad is None for p in prior.parameters())
    draws = prior.sample(a.expand(2000, -1), torch.Generator().manual_seed(2))
    to1, to2 = (draws - c1).norm(dim=1), (draws - c2).norm(dim=1)
    assert 0.3 < float((to1 < to2).float().mean()) < 0.7  # both completions, about half each
    assert float((torch.minimum(to1, to2) < 0.5).float().mean()) > 0.95  # each draw near one of them
    same = prior.sample(b.expand(2000, -1), torch.Generator().manual_seed(3))
    assert float(((same - b).norm(dim=1) < 0.5).float().mean()) > 0.95  # a full caption maps to itself


def test_caption_pairs_leave_out_what_the_full_caption_of_the_same_image_names():
    data = caps.shapes_captions_dataset("train", 32, n=324)
    opened, full = caps.caption_pairs(data, 200, np.random.default_rng(0))
    assert opened.shape == full.shape == (200, caps.MAX_LEN)
    assert caps.complete_captions(full).all()
    named = []
    for o, f in zip(caps.detokenize(opened), caps.detokenize(full), strict=True):
        said, whole = caps.phrase_attributes(o), caps.parse_caption(f)
        assert {"kind", "colour"} <= set(said) and all(whole[k] == v for k, v in said.items())
        named.append(frozenset(said))
        assert (o == f) == (len(said) == 4)  # a full caption is paired with itself, an open one with a full one
    # nothing, the size, the position or both left out, each about a quarter of the time
    counts = {s: named.count(s) for s in set(named)}
    assert len(counts) == 4 and min(counts.values()) > 25
    again = caps.caption_pairs(data, 200, np.random.default_rng(0))
    assert torch.equal(again[0], opened) and torch.equal(again[1], full)
    folder = type("Folder", (), {"name": "caption-folder", "attributes": None, "named": None})()
    with pytest.raises(ConfigError, match="model.caption_prior needs to know its images' attributes.*"
                                          "set model.caption_prior=false"):
        caps.caption_pairs(folder, 10, np.random.default_rng(0))


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()
            if not k.startswith("caption_prior.") and k != "prior_open_only"}


def _prior(modules):
    """The caption prior's tensors of a generator state dict (a checkpoint's or an export's)."""
    return {k: v for k, v in modules.items() if k.startswith("caption_prior.")}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _counted_fits(monkeypatch):
    """Count the recipe's fits of its caption prior from now on (a list, one entry per fit)."""
    calls, real = [], recipe_mod.fit_caption_prior

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(recipe_mod, "fit_caption_prior", counted)
    return calls


def test_the_prior_leaves_training_bit_identical_and_is_fitted_before_it(tmp_path, monkeypatch):
    monkeypatch.setattr(recipe_mod, "PRIOR_PAIRS", 64)
    data = caps.shapes_captions_dataset("train", 32, n=324)
    states, recipes = [], []
    for options in ([], PRIOR):
        torch.manual_seed(0)
        r = StackGAN(small_config(tmp_path, *options), data.shape, "cpu", dataset=data)
        built = {k: v.clone() for k, v in _prior(r.generator.state_dict()).items()}
        assert r.prior_nll == []  # building the recipe fits nothing (load_recipe builds it so)
        torch_rng, np_rng = torch.get_rng_state(), np.random.get_state()[1].copy()
        r.prepare_fresh(data)  # what build_trainer does at a fresh start, and only then
        assert torch.equal(torch.get_rng_state(), torch_rng) and np.array_equal(np.random.get_state()[1], np_rng)
        torch.manual_seed(1)
        for _ in range(2):
            batch = data.sample_with_labels(8)
            r.d_step(batch)
            r.g_step(batch)
        states.append((_state(r.generator), _state(r.discriminator)))
        recipes.append(r)
    off, on = recipes
    assert off.generator.caption_prior is None and not any(k.startswith("caption_prior.")
                                                           for k in off.generator.state_dict())
    for a, b in zip(states[0], states[1], strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the prior: built unfitted, fitted by prepare_fresh (4 steps), not by G's optimiser
    fitted = on.generator.caption_prior
    assert len(on.prior_nll) == 4 and fitted is not None
    fresh = new_caption_prior(3, 0)  # the small config's run.seed
    assert _same(built, {f"caption_prior.{k}": v for k, v in fresh.state_dict().items()})
    assert not torch.equal(fresh.head.weight, fitted.head.weight)
    optimised = {id(p) for group in on.optimizers["g"].param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in fitted.parameters())
    # refitting as the recipe does gives the same prior (the benchmark fits one on top of a trained run so)
    on.generator.caption_prior = fresh
    fit_caption_prior(on.generator, data, 4, 0)
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, fitted.state_dict()[k]), k


def test_the_prior_is_saved_with_the_generator_and_sampling_goes_through_it(tmp_path, monkeypatch):
    monkeypatch.setattr(recipe_mod, "PRIOR_PAIRS", 64)
    run = api.train(small_config(tmp_path, *PRIOR, "model.caption_prior_on=all"))  # the preset's is open
    net, cfg, _ = api.load_generator(run.root)
    assert cfg.model.caption_prior and net.caption_prior is not None
    refit = StackGAN.build_generator(cfg, (3, 32, 32))
    refit.load_state_dict(net.state_dict())
    refit.caption_prior = new_caption_prior(3, cfg.run.seed)
    fit_caption_prior(refit, build_dataset(cfg.data), 4, cfg.run.seed)
    for k, v in refit.caption_prior.state_dict().items():  # the export holds the fitted prior
        assert torch.equal(v, net.caption_prior.state_dict()[k]), k
    text = "a red circle at the top"
    drawn = net.sample_noise(6, generator=torch.Generator().manual_seed(4), text=text)
    plain = net.sample_noise(6, generator=torch.Generator().manual_seed(4), text=text, through_prior=False)
    z, phi, e1, e2 = net.split(drawn)
    z0, phi0, f1, f2 = net.split(plain)
    assert torch.equal(z, z0) and torch.equal(e1, f1) and torch.equal(e2, f2)  # the same z and ε, then φ̂
    torch.testing.assert_close(phi0, net.encode(caps.tokenize(text)).expand(6, -1))
    assert not torch.allclose(phi, phi0)
    torch.testing.assert_close(phi.norm(dim=1), torch.full((6,), math.sqrt(EMBED_DIM)))
    assert len({tuple(row.tolist()) for row in phi}) == 6  # each sample its own draw
    # model.caption_prior_on=open: a caption that names everything keeps its φ (its samples as without a prior)
    assert float(net.prior_open_only) == 0.0
    net.prior_open_only.fill_(1.0)
    full = "a big blue square at the bottom"
    for t, same in ((full, True), (text, False)):
        a = net.sample_noise(4, generator=torch.Generator().manual_seed(5), text=t)
        b = net.sample_noise(4, generator=torch.Generator().manual_seed(5), text=t, through_prior=False)
        assert torch.equal(a, b) == same, t
    net.prior_open_only.fill_(0.0)
    out = tmp_path / "open.npy"
    assert cli_main(["sample", str(run.root), "--text", text, "-n", "4", "-o", str(out), "--seed", "2"]) == 0
    assert np.array_equal(np.load(out), api.sample(run.root, 4, seed=2, text=text))


def test_a_resumed_run_takes_its_prior_from_the_checkpoint_and_continues_bit_for_bit(tmp_path, monkeypatch):
    """3 steps + resume + 3 == 6 straight, with the prior and an EMA: the resume fits no prior (the checkpoint
    holds the fitted one) and every tensor, optimiser state, the RNG and the logged losses come out the same."""
    monkeypatch.setattr(recipe_mod, "PRIOR_PAIRS", 64)
    fits = _counted_fits(monkeypatch)
    straight = api.train(small_config(tmp_path, *PRIOR, "train.ema=0.5", "run.name=straight", "train.steps=6"))
    half = api.train(small_config(tmp_path, *PRIOR, "train.ema=0.5", "run.name=half"))  # checkpoint at step 3
    assert len(fits) == 2  # one per fresh start
    saved = _prior(torch.load(half.checkpoint, weights_only=True)["recipe"]["modules"]["generator"])
    assert not _same(saved, {f"caption_prior.{k}": v for k, v in new_caption_prior(3, 0).state_dict().items()})
    api.resume(half.root, ["train.steps=6"])
    assert len(fits) == 2  # the resume fitted nothing
    a, b = (torch.load(run.checkpoint, weights_only=True) for run in (straight, half))
    assert b["step"] == 6
    assert _same(saved, _prior(b["recipe"]["modules"]["generator"]))  # the checkpoint's prior, kept
    for net in a["recipe"]["modules"]:
        assert _same(a["recipe"]["modules"][net], b["recipe"]["modules"][net]), net
    assert _same(a["ema"], b["ema"]) and any(k.startswith("module.caption_prior.") for k in a["ema"])
    for opt, state in a["recipe"]["optimizers"].items():
        other = b["recipe"]["optimizers"][opt]["state"]
        assert state["state"].keys() == other.keys() and all(_same(v, other[p]) for p, v in state["state"].items())
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    logged = [[{k: v for k, v in r.items() if k != "time"} for r in read_jsonl(run.stats)] for run in (straight, half)]
    assert logged[0] == logged[1] and [r["step"] for r in logged[1]] == [1, 2, 3, 4, 5, 6]


def test_loading_a_run_fits_no_prior(tmp_path, monkeypatch):
    """load_recipe (gankit eval's code-prior, --rejection), load_generator and gankit sample take the run's
    fitted prior from its checkpoint or export and fit none."""
    monkeypatch.setattr(recipe_mod, "PRIOR_PAIRS", 64)
    run = api.train(small_config(tmp_path, *PRIOR, "model.caption_prior_on=all"))
    saved = _prior(torch.load(run.checkpoint, weights_only=True)["recipe"]["modules"]["generator"])
    fits = _counted_fits(monkeypatch)
    recipe, _, _ = api.load_recipe(run.root)
    net, _, _ = api.load_generator(run.root)
    assert _same(saved, _prior(recipe.generator.state_dict())) and _same(saved, _prior(net.state_dict()))
    assert recipe.prior_nll == []
    out = tmp_path / "drawn.npy"
    assert cli_main(["sample", str(run.root), "--text", "a red circle", "-n", "2", "-o", str(out)]) == 0
    assert np.load(out).shape == (2, 3, 32, 32)
    assert fits == []


def test_caption_prior_config_errors(tmp_path, capsys):
    for bad, message in (("model.caption_prior_components=0", "model.caption_prior_components must be in \\[1, 256\\]"),
                         ("model.caption_prior_components=257", "got 257"),
                         ("model.caption_prior_steps=0", "model.caption_prior_steps must be in \\[1, 100000\\]")):
        with pytest.raises(ConfigError, match=message):
            small_config(tmp_path, "model.caption_prior=true", bad)
    with pytest.raises(ConfigError, match="model.caption_prior_on: unknown value 'full'"):
        small_config(tmp_path, "model.caption_prior=true", "model.caption_prior_on=full")
    with pytest.raises(ConfigError, match="model.caption_prior .* is for model.recipe=stackgan"):
        C.resolve("dcgan-mnist", overrides=["model.caption_prior=true"])
    data = caps.shapes_captions_dataset("train", 32, n=324)
    folder = type("Folder", (), {"name": "caption-folder", "attributes": None, "named": None,
                                 "caption_bank": staticmethod(lambda k, seed=0: data.tokens[:4, 0].long())})()
    with pytest.raises(ConfigError, match="model.caption_prior needs to know its images' attributes"):
        StackGAN(small_config(tmp_path, *PRIOR), data.shape, "cpu", dataset=folder)
    runs = tmp_path / "cli-runs"
    assert cli_main(["train", "stackgan-shapes", "model.caption_prior_components=0", f"run.out_dir={runs}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: model.caption_prior_components must be in") and err.count("\n") == 1
    assert not runs.exists()


def test_an_unknown_key_of_a_long_section_is_one_short_line_with_its_close_matches(tmp_path):
    # the model section's keys no longer fit an error line whole: the close matches first, then as many as fit
    with pytest.raises(ConfigError) as err:
        small_config(tmp_path, "model.caption_prior_step=5")
    text = str(err.value)
    assert text.startswith("unknown key 'model.caption_prior_step'; did you mean caption_prior_steps")
    assert "keys allowed in 'model': recipe, objective," in text and text.endswith(" keys)")
    assert "\n" not in text and len(text) < 600
    with pytest.raises(ConfigError, match="keys allowed in 'train': steps, d_steps"):  # a short list stays whole
        small_config(tmp_path, "train.stepz=3")


def test_stackgan_shapes_draws_only_open_captions_through_its_prior_by_default(tmp_path, monkeypatch):
    """The preset's default (issue 14, item 2): the prior on, for captions that leave something unsaid."""
    monkeypatch.setattr(recipe_mod, "PRIOR_PAIRS", 64)
    preset = C.resolve("stackgan-shapes")
    assert preset.model.caption_prior and preset.model.caption_prior_on == "open"
    # SMALL turns the prior off for speed; on again with the preset's caption_prior_on, shortly fitted
    run = api.train(small_config(tmp_path, *PRIOR))
    net, cfg, _ = api.load_generator(run.root)
    assert cfg.model.caption_prior_on == "open" and float(net.prior_open_only) == 1.0
    for text, kept in (("a big blue square at the bottom", True), ("a red circle at the top", False)):
        a = net.sample_noise(4, generator=torch.Generator().manual_seed(5), text=text)
        b = net.sample_noise(4, generator=torch.Generator().manual_seed(5), text=text, through_prior=False)
        assert torch.equal(a, b) == kept, text
