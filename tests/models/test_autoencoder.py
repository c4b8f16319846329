"""AE, VAE and AAE: the lecture's KL term, the reparameterisation, the priors, the three AAE phases,
training behaviour on tiny runs, the latent figures and the CLI, and the errors bad configs get."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from torch.distributions import Normal, kl_divergence

from gankit import api, cli
from gankit import config as C
from gankit.data import build_dataset
from gankit.errors import ConfigError
from gankit.models.autoencoder import (
    AAE,
    VAE,
    AutoEncoder,
    CodeSource,
    kl_lecture,
    labelled_sample,
    lattice_images,
    squared_error,
)
from gankit.nets import priors
from gankit.registry import RECIPES
from gankit.train.stats import read_jsonl

DIGITS = ["data.name=digits", "generator.noise_dim=2", "generator.width=64", "generator.depth=2",
          "discriminator.width=64", "discriminator.depth=2", "data.batch_size=64"]
# one hidden layer and a higher learning rate: the training tests see their effect in ~100 steps
FAST = ["generator.depth=1", "discriminator.depth=1", "g_optim.lr=3e-3", "d_optim.lr=3e-3"]


def build(tiny, recipe: str, *overrides: str):
    cfg = tiny(f"model.recipe={recipe}", *DIGITS, *overrides)
    ds = build_dataset(cfg.data)
    torch.manual_seed(0)
    return RECIPES.get(recipe)(cfg, ds.shape, "cpu"), ds


# ------------------------------------------------------------------------------------------ the KL term


def test_lecture_kl_is_twice_the_closed_form_kl():
    g = torch.Generator().manual_seed(0)
    m, s = torch.randn(50, 3, generator=g, dtype=torch.float64), torch.randn(50, 3, generator=g, dtype=torch.float64)
    closed = kl_divergence(Normal(m, (0.5 * s).exp()), Normal(torch.zeros_like(m), torch.ones_like(m))).sum(1)
    by_hand = 0.5 * (s.exp() + m**2 - 1 - s).sum(1)  # KL(N(m, e^σ) || N(0, 1)), σ the log-variance
    assert torch.allclose(kl_lecture(m, s), 2 * closed, atol=1e-12)
    assert torch.allclose(kl_lecture(m, s), 2 * by_hand, atol=1e-12)
    # a known value: m = (1, 0), σ = (0, log 2): (1 - 1 - 0 + 1) + (2 - 1 - log 2 + 0) = 2 - log 2
    known = kl_lecture(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(2)]])).item()
    assert known == pytest.approx(2 - math.log(2))


def test_lecture_kl_matches_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(1)
    m, s = torch.tensor([[0.7, -1.2]], dtype=torch.float64), torch.tensor([[0.5, -0.8]], dtype=torch.float64)
    z = m + (0.5 * s).exp() * torch.randn(400_000, 2, generator=g, dtype=torch.float64)
    q, p = Normal(m, (0.5 * s).exp()), Normal(0.0, 1.0)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(1)
    se = mc.std() / math.sqrt(len(mc))
    assert abs(kl_lecture(m, s).item() / 2 - mc.mean().item()) < 4 * se.item()
    assert abs(kl_lecture(m, s).item() - mc.mean().item()) > 100 * se.item()  # the lecture's term is not KL itself


def test_lecture_kl_is_zero_exactly_at_the_prior():
    zero = torch.zeros(1, 4)
    assert kl_lecture(zero, zero).item() == 0.0
    for i in range(4):
        for delta in (1e-2, -1e-2, 0.5, -3.0):
            bump = zero.clone()
            bump[0, i] = delta
            assert kl_lecture(bump, zero).item() > 0  # m ≠ 0
            assert kl_lecture(zero, bump).item() > 0  # σ ≠ 0, either sign
    # and its gradient vanishes there (the minimum)
    m, s = zero.clone().requires_grad_(True), zero.clone().requires_grad_(True)
    kl_lecture(m, s).sum().backward()
    assert torch.equal(m.grad, torch.zeros_like(m)) and torch.equal(s.grad, torch.zeros_like(s))


def test_reparameterisation_samples_and_gradients():
    torch.manual_seed(2)
    m = torch.full((200_000, 1), 0.4, dtype=torch.float64, requires_grad=True)
    s = torch.full((200_000, 1), -0.6, dtype=torch.float64, requires_grad=True)
    c = VAE.reparameterise(m, s)
    assert c.mean().item() == pytest.approx(0.4, abs=0.01)
    assert c.var().item() == pytest.approx(math.exp(-0.6), rel=0.02)  # variance e^σ
    # E[c²] = m² + e^σ: d/dm = 2m, d/dσ = e^σ, through the sample
    (c.pow(2).sum() / len(c)).backward()
    assert m.grad.sum().item() == pytest.approx(0.8, abs=0.01)
    assert s.grad.sum().item() == pytest.approx(math.exp(-0.6), rel=0.02)


# ------------------------------------------------------------------------------------------ priors


def test_prior_moments():
    g = torch.Generator().manual_seed(3)
    z = priors.sample_prior("normal", 100_000, 3, generator=g).double()
    assert z.mean(0).abs().max() < 0.02 and (torch.cov(z.T) - torch.eye(3)).abs().max() < 0.02
    z = priors.sample_prior("mixture", 200_000, 2, generator=g).double()
    # equal weights at angles 2πk/10: mean 0 and isotropic covariance (r² + s_radial² + s_across²)/2 · I
    iso = (priors.MIX_RADIUS**2 + priors.MIX_RADIAL_STD**2 + priors.MIX_TANGENTIAL_STD**2) / 2
    assert z.mean(0).abs().max() < 0.01
    assert torch.allclose(torch.cov(z.T), iso * torch.eye(2, dtype=torch.float64), atol=0.01)
    z = priors.sample_prior("swissroll", 200_000, 2, generator=g).double()
    # r = 3√u: E r² = 9/2; E x = ∫ 3√u cos(4π√u) du
    assert (z**2).sum(1).mean().item() == pytest.approx(4.5, rel=0.01)
    ex = integrate.quad(lambda u: 3 * math.sqrt(u) * math.cos(4 * math.pi * math.sqrt(u)), 0, 1)[0]
    ey = integrate.quad(lambda u: 3 * math.sqrt(u) * math.sin(4 * math.pi * math.sqrt(u)), 0, 1)[0]
    assert z[:, 0].mean().item() == pytest.approx(ex, abs=0.01) and z[:, 1].mean().item() == pytest.approx(ey, abs=0.01)


def test_label_conditioned_priors_draw_from_their_part():
    g = torch.Generator().manual_seed(4)
    y = torch.arange(10).repeat(2000)
    z = priors.sample_prior("mixture", len(y), 2, generator=g, labels=y)
    assert (priors.component_of("mixture", z) == y).float().mean() > 0.99
    centres = torch.stack([z[y == k].mean(0) for k in range(10)])
    angles = 2 * math.pi * torch.arange(10) / 10
    assert torch.allclose(centres, priors.MIX_RADIUS * torch.stack([angles.cos(), angles.sin()], 1), atol=0.03)
    z = priors.sample_prior("swissroll", len(y), 2, generator=g, labels=y)
    assert torch.equal(priors.component_of("swissroll", z), y)
    assert not torch.equal(priors.component_of("swissroll", z), (y + 1) % 10)
    with pytest.raises(ConfigError, match="10 components"):
        priors.sample_prior("mixture", 2, 2, labels=torch.tensor([3, 10]))


def test_priors_are_reproducible_and_checked():
    for kind in priors.PRIORS:
        a = priors.sample_prior(kind, 5, 2, generator=torch.Generator().manual_seed(5))
        b = priors.sample_prior(kind, 5, 2, generator=torch.Generator().manual_seed(5))
        assert torch.equal(a, b) and a.shape == (5, 2)
    with pytest.raises(ConfigError, match="two-dimensional: set generator.noise_dim=2 \\(got 8\\)"):
        priors.sample_prior("swissroll", 5, 8)
    with pytest.raises(ConfigError, match="unknown prior 'cauchy'"):
        priors.check_prior("cauchy", 2)


def test_mixture_prior_spread_widens_the_petals_for_the_decoder_and_the_code_d(tiny):
    """generator.prior_spread = s: each petal's standard deviation across its ray is s instead of 0.05, in the
    decoder's own draws (sample_noise: what is sampled and scored) and in the AAE's (what D matches codes to)."""
    zeros = torch.zeros(20000, dtype=torch.long)  # petal 0 lies along z₁: z₂ is the offset across it
    for spread, want in ((0.0, priors.MIX_TANGENTIAL_STD), (0.2, 0.2)):
        z = priors.sample_prior("mixture", 20000, 2, torch.Generator().manual_seed(0), labels=zeros, spread=spread)
        assert z[:, 1].std().item() == pytest.approx(want, rel=0.03)  # 20,000 draws: s.e. 0.5 %
        assert z[:, 0].mean().item() == pytest.approx(priors.MIX_RADIUS, abs=0.02)  # the ray itself unchanged
    r, _ = build(tiny, "aae", "generator.prior=mixture", "generator.prior_spread=0.2")
    mine = r.prior_sample(500, None, generator=torch.Generator().manual_seed(1))
    assert torch.equal(mine, r.generator.sample_noise(500, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(mine, priors.sample_prior("mixture", 500, 2, torch.Generator().manual_seed(1), spread=0.2))
    assert not torch.equal(mine, priors.sample_prior("mixture", 500, 2, torch.Generator().manual_seed(1)))


def test_lattice():
    z = priors.lattice("normal", 5)
    assert z.shape == (25, 2)
    axis = torch.tensor([-1.2815516, -0.5244005, 0.0, 0.5244005, 1.2815516])  # Φ⁻¹(0.1, 0.3, 0.5, 0.7, 0.9)
    assert torch.allclose(z[:5, 0], axis, atol=1e-6) and torch.allclose(z[:5, 1], axis[-1].expand(5), atol=1e-6)
    assert torch.allclose(z[::5, 1], axis.flip(0), atol=1e-6)  # rows go down in z₂
    lo, hi = priors.box("mixture")
    z = priors.lattice("mixture", 4)
    assert z.min() > lo and z.max() < hi and z.shape == (16, 2)
    with pytest.raises(ConfigError, match="at least 1 point"):
        priors.lattice("normal", 0)


# ------------------------------------------------------------------------------------------ recipes


def test_ae_reconstruction_decreases(tiny):
    r, ds = build(tiny, "ae", *FAST)
    torch.manual_seed(6)
    x = ds.sample(256)
    before = squared_error(x, r.generator(r.encode(x))).mean().item()
    for _ in range(60):
        r.g_step(ds.sample(64))
    after = squared_error(x, r.generator(r.encode(x))).mean().item()
    assert after < 0.6 * before
    assert r.d_step(x) == {} and not r.adversarial


def test_vae_step_reports_its_parts_and_encodes_means(tiny):
    r, ds = build(tiny, "vae")
    stats = r.g_step(ds.sample(64))
    assert stats["g_loss"].item() == pytest.approx(stats["recon"].item() + stats["kl"].item(), rel=1e-6)
    x = ds.sample(8)
    m, _ = r.posterior(x)
    r.encoder.eval()
    assert torch.allclose(r.encode(x), m.detach(), atol=1e-6)  # codes are the posterior means, no noise
    assert r.encoder(x).shape == (8, 4)


def _distance_to_standard_normal(z: torch.Tensor) -> float:
    return float(z.mean(0).norm() + (torch.cov(z.T) - torch.eye(z.shape[1])).norm())


def test_aae_codes_move_towards_the_prior(tiny):
    r, ds = build(tiny, "aae", "generator.prior=normal", *FAST)
    torch.manual_seed(7)
    x = ds.sample(1000)
    before = _distance_to_standard_normal(r.encode(x))
    for _ in range(100):
        r.d_step(ds.sample(64))
        r.g_step(ds.sample(64))
    after = _distance_to_standard_normal(r.encode(x))
    assert after < 0.5 * before, (before, after)


def test_aae_phases_touch_the_right_networks(tiny):
    r, ds = build(tiny, "aae", "d_optim.lr=3e-4")
    snap = {k: [p.detach().clone() for p in m.parameters()] for k, m in r.modules().items()}
    moved = lambda k: any(not torch.equal(a, b) for a, b in zip(snap[k], r.modules()[k].parameters()))  # noqa: E731
    r.d_step(ds.sample(64))
    assert moved("discriminator") and not moved("encoder") and not moved("generator")
    snap = {k: [p.detach().clone() for p in m.parameters()] for k, m in r.modules().items()}
    stats = r.g_step(ds.sample(64))
    assert moved("encoder") and moved("generator") and not moved("discriminator")
    assert {"recon", "enc_loss", "g_loss"} <= set(stats)
    assert set(r.optimizers) == {"g", "d", "enc"}
    lrs = lambda r: {k: o.param_groups[0]["lr"] for k, o in r.optimizers.items()}  # noqa: E731
    # model.reg_lr = 0: the regularisation phase at g_optim.lr; else at reg_lr, the other two unchanged
    assert lrs(r) == {"g": 1e-3, "d": 3e-4, "enc": 1e-3}
    assert lrs(build(tiny, "aae", "model.reg_lr=5e-5", "d_optim.lr=3e-4")[0]) == {"g": 1e-3, "d": 3e-4, "enc": 5e-5}
    # model.reg_betas = []: the regularisation phase with g_optim.betas; else its own, the reconstruction's unchanged
    betas = lambda r: {k: o.param_groups[0]["betas"] for k, o in r.optimizers.items()}  # noqa: E731
    assert betas(r) == {"g": (0.5, 0.999), "d": (0.5, 0.999), "enc": (0.5, 0.999)}
    own = build(tiny, "aae", "g_optim.betas=[0.9, 0.999]", "model.reg_betas=[0.5, 0.99]")[0]
    assert betas(own) == {"g": (0.9, 0.999), "d": (0.5, 0.999), "enc": (0.5, 0.99)}
    # model.reg_optim = g_optim: the regularisation phase with g_optim's optimiser; sgd: SGD at reg_lr with momentum
    # beta1 (reg_betas' or g_optim's), the other two unchanged
    kinds = lambda r: {k: type(o).__name__ for k, o in r.optimizers.items()}  # noqa: E731
    assert kinds(r) == {"g": "Adam", "d": "Adam", "enc": "Adam"}
    sgd = build(tiny, "aae", "model.reg_optim=sgd", "model.reg_lr=0.1", "model.reg_betas=[0.7, 0.99]")[0]
    assert kinds(sgd) == {"g": "Adam", "d": "Adam", "enc": "SGD"}
    group = sgd.optimizers["enc"].param_groups[0]
    assert (group["lr"], group["momentum"]) == (0.1, 0.7)


def test_aae_reg_warmup_skips_the_regularisation_phase_until_its_share_of_training(tiny):
    """model.reg_warmup = w: while progress (step / train.steps) < w, g_step is the reconstruction alone (the
    regularisation phase's optimiser never steps) and D still learns; from progress w on, both phases run."""
    r, ds = build(tiny, "aae", "model.reg_warmup=0.5")
    d_before = [p.detach().clone() for p in r.discriminator.parameters()]
    r.progress = 0.2
    r.d_step(ds.sample(64))
    stats = r.g_step(ds.sample(64))
    assert not r.optimizers["enc"].state and r.optimizers["g"].state  # phase 1 stepped, phase 3 did not
    assert float(stats["enc_loss"]) == 0.0
    assert any(not torch.equal(a, b) for a, b in zip(d_before, r.discriminator.parameters()))
    r.progress = 0.5
    stats = r.g_step(ds.sample(64))
    assert r.optimizers["enc"].state and float(stats["enc_loss"]) > 0  # from w on: the encoder fools D
    # w = 0 (the default): the regularisation phase from the first step
    r0, ds0 = build(tiny, "aae")
    r0.g_step(ds0.sample(64))
    assert r0.optimizers["enc"].state


def test_aae_train_d_steps_2_trains_its_code_d_twice_per_encoder_step(tiny, monkeypatch):
    """train.d_steps = 2 on aae-mnist-8d: two phase-2 updates of the code D (each on its own batch) before every
    reconstruction + regularisation step; the preset itself keeps one (the idle 3-minute run did not support two:
    BENCHMARKS.md, "Two code-D steps per encoder step")."""
    calls: list[str] = []
    for name in ("d_step", "g_step"):
        original = getattr(AAE, name)
        monkeypatch.setattr(AAE, name, lambda self, batch, _f=original, _n=name: calls.append(_n) or _f(self, batch))
    assert C.resolve("aae-mnist-8d").train.d_steps == 1
    cfg = tiny(*DIGITS, "generator.noise_dim=8", "train.steps=3", "train.d_steps=2", preset="aae-mnist-8d")
    assert (cfg.train.d_steps, cfg.model.reg_lr, cfg.generator.prior) == (2, 5e-4, "normal")
    api.train(cfg)
    assert calls == ["d_step", "d_step", "g_step"] * 3
    calls.clear()
    api.train(tiny(*DIGITS, "train.steps=3", "run.name=two", preset="aae-mnist"))  # the 2-D preset: one D step
    assert calls == ["d_step", "g_step"] * 3


def test_aae_label_conditioned_prior_puts_class_k_in_component_k(tiny):
    r, ds = build(tiny, "aae", "model.prior_labels=true", "generator.prior=mixture", *FAST)
    assert r.uses_labels
    torch.manual_seed(8)
    for _ in range(250):
        r.d_step(ds.sample_with_labels(64))
        r.g_step(ds.sample_with_labels(64))
    x, y = ds.images(), ds.labels
    comp = priors.component_of("mixture", r.encode(x))
    assert (comp == y).float().mean() > 0.5  # chance: 0.1
    assert (comp == (y + 1) % 10).float().mean() < 0.2


def test_aae_cluster_prior_puts_cluster_k_in_component_k(tiny):
    """model.prior_clusters=pixels: fitted once (its own RNG), each k-means cluster pushed to its own component."""
    r, ds = build(tiny, "aae", "model.prior_clusters=pixels", "generator.prior=mixture", *FAST)
    assert r.conditioned and not r.uses_labels  # the trainer hands it images alone
    with pytest.raises(ConfigError, match="clusters are not fitted yet"):
        r.d_step(ds.sample(64))
    state = torch.get_rng_state()
    r.prepare_data(ds)
    r.prepare_fresh(ds)  # as build_trainer calls them on a fresh start
    assert torch.equal(torch.get_rng_state(), state)  # training draws the same batches as with the option off
    x = ds.images()
    c = r.clusters_of(x)
    assert c.unique().numel() == priors.COMPONENTS  # one cluster per component, all in use
    torch.manual_seed(8)
    for _ in range(250):
        r.d_step(ds.sample(64))
        r.g_step(ds.sample(64))
    comp = priors.component_of("mixture", r.encode(x))
    assert (comp == c).float().mean() > 0.5  # chance: about 0.1
    assert (comp == (c + 1) % 10).float().mean() < 0.2
    # the code-prior metric draws each held-out code's own cluster's component; the decoder's draws stay uniform
    _, prior = CodeSource(r.generator, r).code_samples(ds, 400, 3)
    held, _ = labelled_sample(r.cfg, ds, 400, 3)
    assert (priors.component_of("mixture", prior) == r.clusters_of(held)).float().mean() > 0.95
    shares = torch.bincount(priors.component_of("mixture", r.generator.sample_noise(
        5000, generator=torch.Generator().manual_seed(0))), minlength=10) / 5000
    assert shares.min() > 0.08 and shares.max() < 0.12


def test_aae_cluster_prior_reads_no_label_and_keeps_its_clusters(tiny, monkeypatch):
    from gankit.data.images.datasets import TensorImages
    from gankit.models.autoencoder import load_recipe

    monkeypatch.setattr(TensorImages, "sample_with_labels", lambda self, n, device=None: pytest.fail("label drawn"))
    run = api.train(tiny(*DIGITS, "model.recipe=aae", "generator.prior=mixture", "model.prior_clusters=pixels",
                         "train.steps=4"))
    saved, cfg, ds = load_recipe(run.root)
    assert cfg.model.prior_clusters == "pixels" and int(saved.clusters.clustered) == 1
    fresh, _ = build(tiny, "aae", "generator.prior=mixture", "model.prior_clusters=pixels")
    fresh.prepare_data(ds)
    fresh.prepare_fresh(ds)  # the same seed and data: the same clusters as the run fitted
    for name in ("mean", "basis", "centres"):
        assert torch.allclose(getattr(saved.clusters, name), getattr(fresh.clusters, name), atol=1e-4)
    x = ds.images()
    assert torch.equal(saved.clusters_of(x), fresh.clusters_of(x))


def test_aae_encoder_clusters_keep_their_indices_when_reclustered(tiny, monkeypatch):
    """prior_clusters=encoder: re-clustering starts from the current clusters' means, so cluster k stays cluster k."""
    from gankit.models.clusters import assign

    r, ds = build(tiny, "aae", "generator.prior=mixture", "model.prior_clusters=encoder", "model.recluster_every=3",
                  *FAST)
    r.prepare_data(ds)
    r.prepare_fresh(ds)  # as build_trainer calls them on a fresh start
    x = ds.images()
    before = r.clusters_of(x)  # the pixels' clusters until the first re-clustering
    # in the pixels' own space the fitted clusters are a k-means fixed point: re-clustering from their means keeps them
    # (the 32 principal components padded with zeros to the encoder's 64 features: the same distances)
    monkeypatch.setattr(r, "_encoder_features",
                        lambda v: torch.nn.functional.pad(r.clusters.project(v.flatten(1).float()), (0, 32)))
    r.recluster()
    assert int(r.feature_clusters.clustered) == 1 and r.moved < 0.01
    assert (r.clusters_of(x) == before).float().mean() > 0.99
    monkeypatch.undo()
    for _ in range(6):  # in training: a re-clustering every 3rd generator step, on the encoder's own features
        r.d_step(ds.sample(64))
        r.g_step(ds.sample(64))
    assert int(r.feature_clusters.clustered) == 3
    assert torch.equal(r.clusters_of(x), assign(r._encoder_features(x), r.feature_clusters.centres))
    assert r._encoder_features(x).shape == (len(x), 64)  # the MLP encoder's last hidden layer
    assert "feature_clusters.centres" in r.discriminator.state_dict()  # checkpointed with D


def test_aae_cluster_prior_off_leaves_the_aae_as_it_was(tiny):
    """Off (the default): D sees the code alone, its state has no clusters, the data hook draws nothing."""
    r, ds = build(tiny, "aae", "generator.prior=mixture")
    assert r.cfg.model.prior_clusters == "none" and not r.conditioned and r.clusters is None
    assert r.discriminator.net[0].in_features == 2
    assert not any(k.startswith("clusters.") for k in r.discriminator.state_dict())
    assert r.prior_classes(ds.sample(4), None) is None
    state = torch.get_rng_state()
    r.prepare_data(ds)
    r.prepare_fresh(ds)  # as build_trainer calls them on a fresh start
    assert torch.equal(torch.get_rng_state(), state)
    on, _ = build(tiny, "aae", "generator.prior=mixture", "model.prior_clusters=pixels")
    assert on.discriminator.net[0].in_features == 2 + priors.COMPONENTS  # the one-hot cluster beside the code
    with pytest.raises(ConfigError, match="needs model.prior_clusters=pixels"):
        r.fit_clusters(ds.sample(50), 0)


# ------------------------------------------------------------------------------------------ runs, figures, CLI


def test_vae_run_writes_latent_figures_and_exports_the_decoder(tiny, monkeypatch, capsys):
    cfg = tiny(*DIGITS, preset="vae-digits")
    calls = []
    monkeypatch.setattr(VAE, "d_step", lambda self, b: calls.append(1) or {})
    run = api.train(cfg)
    assert not calls  # no discriminator steps for a recipe without a discriminator
    assert (run.root / "latent-grid.png").stat().st_size > 0 and (run.root / "latent-codes.png").stat().st_size > 0
    net, saved, _ = api.load_generator(run.root)
    assert saved.model.recipe == "vae" and api.sample(run.root, 5).shape == (5, 1, 8, 8)
    assert lattice_images(net, "normal", 3).shape == (9, 1, 8, 8)
    out = run.root / "g.png"
    assert cli.main(["sample", str(run.root), "--lattice", "-n", "4", "-o", str(out)]) == 0 and out.exists()
    assert cli.main(["sample", str(run.root), "--codes", "-n", "100", "-o", str(run.root / "c.npy")]) == 0
    assert np.load(run.root / "c.npy").shape == (100, 2)
    assert cli.main(["sample", str(run.root), "--codes", "--lattice", "-o", str(out)]) == 2
    assert "choose one of --lattice" in capsys.readouterr().err


def test_aae_export_keeps_its_prior(tiny):
    cfg = tiny(*DIGITS, "model.recipe=aae", "generator.prior=swissroll", "train.steps=4")
    run = api.train(cfg)
    net, _, _ = api.load_generator(run.root)
    z = net.sample_noise(1000, generator=torch.Generator().manual_seed(0))
    assert net.prior.kind == "swissroll" and z.norm(dim=1).max() <= priors.ROLL_RADIUS + 1e-5
    assert (run.root / "latent-codes.png").exists()


def test_codes_and_lattice_errors(tiny, capsys):
    run = api.train(tiny(*DIGITS, "generator.noise_dim=3", "train.steps=2", preset="ae-digits"))
    assert not (run.root / "latent-grid.png").exists()  # 3-D codes: no 2-D figures
    assert cli.main(["sample", str(run.root), "--lattice", "-o", str(run.root / "g.png")]) == 2
    assert "needs a 2-D latent space" in capsys.readouterr().err
    assert cli.main(["sample", str(run.root), "--codes", "-o", str(run.root / "c.png")]) == 2
    assert "needs 2-D codes" in capsys.readouterr().err
    gan = api.train(tiny("train.steps=2", "run.name=gan"))
    assert cli.main(["sample", str(gan.root), "--codes", "-o", str(gan.root / "c.png")]) == 2
    assert "latent codes need an auto-encoder" in capsys.readouterr().err
    assert "code_mmd2" not in read_jsonl(gan.metrics)[-1]  # no codes, no code-prior
    with pytest.raises(ConfigError, match="metric 'code-prior' scores the generator itself"):
        api.evaluate(gan.root, n=200, metrics=["code-prior"], floor=False, write=False)


@pytest.mark.parametrize("overrides, message", [
    (["model.recipe=aae", "generator.prior=swissroll", "generator.noise_dim=8"],
     "generator.prior=swissroll is a 2-D prior: set generator.noise_dim=2 \\(got 8\\)"),
    (["model.recipe=aae", "generator.prior=normal", "model.prior_labels=true"],
     "model.prior_labels needs model.recipe=aae and generator.prior=mixture or swissroll"),
    (["model.recipe=vae", "generator.prior=mixture", "generator.noise_dim=2", "model.prior_labels=true"],
     "model.prior_labels needs model.recipe=aae"),
    (["model.recipe=aae", "generator.prior=normal", "model.prior_clusters=pixels"],
     "model.prior_clusters=pixels needs model.recipe=aae and generator.prior=mixture or swissroll"),
    (["model.recipe=vae", "generator.prior=mixture", "generator.noise_dim=2", "model.prior_clusters=pixels"],
     "model.prior_clusters=pixels needs model.recipe=aae"),
    (["model.recipe=aae", "generator.prior=mixture", "model.prior_labels=true", "model.prior_clusters=pixels"],
     "model.prior_labels and model.prior_clusters=pixels both choose each code's component .*: set one of them"),
    (["model.recipe=aae", "model.prior_clusters=kmeans"],
     "model.prior_clusters: unknown value 'kmeans'; choose one of: none, pixels, encoder"),
    (["model.recipe=aae", "model.code_noise=-0.1"], "model.code_noise must be >= 0 \\(0: the deterministic encoder\\)"),
    (["model.code_noise=0.5"], "model.code_noise is the adversarial autoencoder's \\(model.recipe=aae\\)"),
    (["model.recipe=aae", "model.reg_lr=-1e-3"], "model.reg_lr must be >= 0 \\(0: g_optim.lr\\), got -0.001"),
    (["model.recipe=aae", "model.reg_betas=[0.5]"], "model.reg_betas must be two numbers in \\[0, 1\\)"),
    (["model.recipe=aae", "model.reg_betas=[0.5, 1.0]"], "model.reg_betas must be two numbers in \\[0, 1\\)"),
    (["model.recipe=vae", "model.reg_optim=sgd"], "model.reg_optim is the adversarial autoencoder's"),
    (["model.recipe=aae", "model.reg_warmup=1"], "model.reg_warmup must be in \\[0, 1\\) \\(a share of train.steps\\)"),
    (["model.recipe=aae", "model.reg_warmup=-0.1"], "model.reg_warmup must be in \\[0, 1\\)"),
    (["model.recipe=vae", "model.reg_warmup=0.2"], "model.reg_warmup delays the adversarial autoencoder's"),
    (["model.recipe=aae", "model.reg_optim=lbfgs"], "model.reg_optim: unknown value 'lbfgs'; choose one of: g_optim, "
                                                    "adam, rmsprop, sgd"),
    (["model.posterior=gaussian"], "model.posterior is the adversarial autoencoder's \\(model.recipe=aae\\)"),
    (["model.recipe=aae", "model.posterior=gaussian", "model.code_noise=0.1"],
     "model.posterior=gaussian learns its own: set one of them"),
    (["model.recipe=aae", "model.posterior=laplace"], "model.posterior: unknown value 'laplace'; choose one of: "
                                                      "point, gaussian"),
    (["model.recipe=aae", "model.posterior=gaussian", "model.entropy_weight=-1"],
     "model.entropy_weight must be >= 0 \\(0: off\\), got -1.0"),
    (["model.recipe=aae", "model.entropy_weight=1"], "model.entropy_weight needs model.posterior=gaussian"),
    (["model.recipe=aae", "generator.prior=mixture", "generator.noise_dim=2", "generator.prior_spread=-0.1"],
     "generator.prior_spread must be >= 0 \\(0: the mixture's own 0.05\\), got -0.1"),
    (["generator.prior_spread=0.2"],
     "generator.prior_spread \\(the petals' width across\\) needs generator.prior=mixture"),
])
def test_bad_configs_are_refused_when_resolved(overrides, message):
    with pytest.raises(ConfigError, match=message):
        C.resolve("vae-digits", overrides=overrides)


def test_bad_configs_are_refused_when_built(tiny):
    with pytest.raises(ConfigError, match="the VAE's KL term is against N\\(0, I\\)"):
        build(tiny, "vae", "generator.prior=mixture")
    with pytest.raises(ConfigError, match="aae's discriminator judges codes"):
        build(tiny, "aae", "discriminator.name=dcgan")
    r, ds = build(tiny, "aae", "generator.prior=mixture", "model.prior_labels=true")
    with pytest.raises(ConfigError, match="labelled batches"):
        r.d_step(ds.sample(8))
    assert isinstance(r, AAE) and isinstance(r, AutoEncoder)


def test_mlp_generator_keeps_images_in_range_but_not_points():
    from gankit.config import GeneratorConfig
    from gankit.registry import NETWORKS

    torch.manual_seed(9)
    image = NETWORKS.get("mlp").generator(GeneratorConfig(noise_dim=2, width=8, depth=1), (1, 8, 8))
    points = NETWORKS.get("mlp").generator(GeneratorConfig(noise_dim=2, width=8, depth=1), (2,))
    z = 100 * torch.randn(256, 2)  # drive the output far out
    assert image(z).abs().max() <= 1.0 and image(z).shape == (256, 1, 8, 8)
    assert points(z).abs().max() > 1.0


def test_codes_figure_has_a_class_legend_and_refuses_bad_codes():
    from gankit.errors import DataError
    from gankit.viz.latent import codes_figure

    z, y = np.random.default_rng(0).normal(size=(100, 2)), np.arange(100) % 10
    fig = codes_figure(z, y, box=(-3, 3))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(k) for k in range(10)]
    assert ax.get_xlim()[0] <= -3 and ax.get_xlim()[1] >= 3
    fig.canvas.draw()  # the legend beside the plot, inside the figure: codes may fill every corner
    box = ax.get_legend().get_window_extent()
    assert ax.get_window_extent().x1 <= box.x0 and box.x1 <= fig.bbox.x1
    assert codes_figure(z).axes[0].get_legend() is None
    with pytest.raises(DataError, match="needs \\(N, 2\\) codes"):
        codes_figure(np.zeros((5, 3)))
    with pytest.raises(DataError, match="5 codes but labels"):
        codes_figure(np.zeros((5, 2)), np.zeros(4))


def test_convolutional_encoder_mirrors_the_dcgan_decoder(tiny):
    r, ds = build(tiny, "vae", "generator.name=dcgan", "generator.width=16")
    x = ds.sample(16)
    assert r.encoder(x).shape == (16, 4) and r.generator(r.encode(x)).shape == (16, 1, 8, 8)
    stats = r.g_step(x)
    assert torch.isfinite(stats["g_loss"]) and stats["kl"] >= 0


# ------------------------------------------------------------------------------------------ code-to-prior distance


def test_vae_codes_for_the_prior_are_posterior_samples(tiny):
    r, ds = build(tiny, "vae")
    x = ds.sample(500)
    z = r.aggregate_codes(x, generator=torch.Generator().manual_seed(3))
    r.encoder.eval()
    m, s = r.posterior(x)
    e = torch.randn(m.shape, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(z, m + (0.5 * s).exp() * e, atol=1e-6)  # m + exp(σ/2)·e, one draw per sample
    assert not torch.allclose(z, r.encode(x), atol=1e-3) and z.var(0).min() > r.encode(x).var(0).max()
    a, _ = build(tiny, "aae")
    assert torch.equal(a.aggregate_codes(x), a.encode(x))  # a deterministic encoder: its codes


def test_aae_code_noise_draws_the_gaussian_posterior_in_every_phase(tiny):
    r, ds = build(tiny, "aae", "generator.prior=normal", "model.code_noise=0.5")
    x = ds.sample(500)
    z = r.aggregate_codes(x, generator=torch.Generator().manual_seed(4))
    e = torch.randn(z.shape, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(z, r.encode(x) + 0.5 * e, atol=1e-6)  # E(x) + s·e, one draw per sample
    assert (z - r.encode(x)).std().item() == pytest.approx(0.5, abs=0.03)  # 1,000 draws: s.e. 0.011
    # the reconstruction phase decodes draws (a different loss each call), D judges draws (scores move with e)
    torch.manual_seed(0)
    assert r._reconstruct(x[:64])[0].item() != r._reconstruct(x[:64])[0].item()
    scores = [r.discriminator_scores(x[:64], torch.Generator().manual_seed(k))[1] for k in (1, 1, 2)]
    assert torch.equal(scores[0], scores[1]) and not torch.allclose(scores[0], scores[2])
    d, _ = build(tiny, "aae", "generator.prior=normal")  # s = 0: the deterministic encoder, nothing random
    assert d._reconstruct(x[:64])[0].item() == d._reconstruct(x[:64])[0].item()
    assert torch.equal(d.discriminator_scores(x[:64], torch.Generator().manual_seed(1))[1],
                       d.discriminator_scores(x[:64], torch.Generator().manual_seed(2))[1])


def test_aae_gaussian_posterior_draws_its_learned_spread_in_every_phase(tiny):
    r, ds = build(tiny, "aae", "generator.prior=normal", "model.posterior=gaussian", "model.entropy_weight=0.5")
    x = ds.sample(400)
    assert r.encoder(x).shape == (400, 4)  # (μ, σ) per code dimension, as the VAE's encoder
    with torch.no_grad():  # a known spread: σ = log-variance log 0.3² for every x
        r.encoder.body.net[-1].bias[2:] = math.log(0.09)
        r.encoder.body.net[-1].weight[2:] = 0
    r.encoder.eval()
    mean = r.encoder(x)[:, :2].detach()
    assert torch.allclose(r.encode(x), mean)  # codes for export: the posterior means
    z = r.aggregate_codes(x, generator=torch.Generator().manual_seed(4))
    e = torch.randn(z.shape, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(z, mean + 0.3 * e, atol=1e-6)  # μ + exp(σ/2)·e, one draw per x
    assert (z - mean).std().item() == pytest.approx(0.3, abs=0.02)  # 800 draws: s.e. 0.008
    # phase 1: Σ (x − x̂)² of a draw, minus w Σ_i σ_i; with the same e the two weights differ by exactly that
    torch.manual_seed(0)
    loss, parts = r._reconstruct(x[:64])
    assert loss.item() == pytest.approx(parts["recon"].item() - 0.5 * 2 * math.log(0.09), rel=1e-5)
    assert parts["post_std"].item() == pytest.approx(0.3, rel=1e-5)
    torch.manual_seed(0)
    again = r._reconstruct(x[:64])[1]["recon"]
    torch.manual_seed(1)
    assert again.item() == parts["recon"].item() != r._reconstruct(x[:64])[1]["recon"].item()  # draws differ
    scores = [r.discriminator_scores(x[:64], torch.Generator().manual_seed(k))[1] for k in (1, 1, 2)]
    assert torch.equal(scores[0], scores[1]) and not torch.allclose(scores[0], scores[2])  # D judges draws


def test_aae_entropy_weight_keeps_the_learned_spread_open(tiny):
    """Without the entropy term nothing in the AAE's loss keeps σ up (the reconstruction wants it small, and the
    prior draws are matched as well by narrow posteriors); with w = 1 (the VAE's weight on its posterior's
    entropy) the spread opens from the same start."""
    spreads = {}
    for w in (0, 1):
        r, ds = build(tiny, "aae", "generator.prior=normal", "model.posterior=gaussian", f"model.entropy_weight={w}",
                      *FAST)
        torch.manual_seed(5)
        spread = [r.g_step(ds.sample(64))["post_std"].item()]  # measured before the first update
        for _ in range(120):
            r.d_step(ds.sample(64))
            spread.append(r.g_step(ds.sample(64))["post_std"].item())
        spreads[w] = spread
    assert spreads[0][0] == pytest.approx(spreads[1][0], rel=1e-6)  # the same networks and batch at the start
    # w = 0: σ collapses towards the deterministic encoder (0.89 -> 0.03 here); w = 1 keeps it 30 times wider (0.73)
    assert spreads[0][-1] < 0.1 * spreads[0][0] and spreads[1][-1] > 10 * spreads[0][-1], (spreads[0][-1],
                                                                                         spreads[1][-1])


class _Recorder(torch.nn.Module):
    """A stand-in code D, w · Σ_i z_i, that keeps every input it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.w, self.seen = torch.nn.Parameter(torch.ones(())), []

    def forward(self, z):
        self.seen.append(z.detach().clone())
        return self.w * z.sum(1)


def test_aae_instance_noise_reaches_every_code_d_judges_in_training_only(tiny):
    r, ds = build(tiny, "aae", "generator.prior=normal", "reg.instance_noise=0.3")
    r.discriminator = _Recorder()
    x = ds.sample(400)
    torch.manual_seed(2)
    prior = r.prior_sample(400, None)
    codes = r.encode(x)
    torch.manual_seed(2)
    r.d_step(x)  # phase 2: D sees prior draws + σn and codes + σn
    (real, fake) = r.discriminator.seen
    assert (real - prior).std().item() == pytest.approx(0.3, abs=0.02)  # 800 draws: s.e. 0.008
    assert (fake - codes).std().item() == pytest.approx(0.3, abs=0.02)
    assert (fake - codes).mean().abs().item() < 0.03
    r.discriminator.seen.clear()
    r.g_step(x)  # phase 3: the encoder fools a D that sees its codes + σn
    assert (r.discriminator.seen[0] - r.encode(x)).std().item() > 0.25
    r.discriminator.seen.clear()
    r.discriminator_scores(x, torch.Generator().manual_seed(0))  # the diagnostics judge the codes themselves
    assert torch.allclose(r.discriminator.seen[1], r.encode(x), atol=1e-6)


def test_aae_r1_penalises_the_code_d_gradient_at_prior_draws(tiny):
    import copy

    r, ds = build(tiny, "aae", "generator.prior=normal", "reg.r1=4")
    before = copy.deepcopy(r.discriminator)
    x = ds.sample(64)
    torch.manual_seed(3)
    stats = r.d_step(x)
    torch.manual_seed(3)
    z = r.prior_sample(64, None).requires_grad_(True)  # the same draws (the encoder draws no randomness)
    (grad,) = torch.autograd.grad(before(z).sum(), z)
    by_hand = 4 / 2 * grad.pow(2).sum(1).mean()  # γ/2 E‖∇_z D(z)‖²
    assert stats["d_penalty"].item() == pytest.approx(by_hand.item(), rel=1e-5) and by_hand.item() > 0
    plain, _ = build(tiny, "aae", "generator.prior=normal")  # the same initial networks
    torch.manual_seed(3)
    assert "d_penalty" not in plain.d_step(x)
    # the penalty's gradient enters D's step: the same step on the same draws without it lands elsewhere
    moved = [(a - b).abs().max().item() for a, b in zip(r.discriminator.parameters(), plain.discriminator.parameters())]
    assert max(moved) > 0
    with pytest.raises(ConfigError, match="takes reg.r1, reg.gradient_penalty and reg.instance_noise only"):
        build(tiny, "aae", "reg.label_smoothing=0.1")


def test_aae_gradient_penalty_is_wgan_gp_between_prior_draws_and_codes(tiny):
    """reg.gradient_penalty = λ on the code D: λ E(‖∇D(ẑ)‖ − 1)², ẑ = ε z_prior + (1 − ε) E(x) (what TV's f-GAN
    row sets by default, so model.objective=fgan-tv trains an AAE instead of being refused)."""
    import copy

    r, ds = build(tiny, "aae", "generator.prior=normal", "reg.gradient_penalty=5")
    before = copy.deepcopy(r.discriminator)
    x = ds.sample(64)
    torch.manual_seed(3)
    stats = r.d_step(x)
    torch.manual_seed(3)
    prior = r.prior_sample(64, None)  # the same draws, then ε (the encoder draws no randomness)
    eps = torch.rand(64, 1)
    with torch.no_grad():
        codes = r.encode(x)
    z_hat = (eps * prior + (1 - eps) * codes).requires_grad_(True)
    (grad,) = torch.autograd.grad(before(z_hat).sum(), z_hat)
    by_hand = 5 * (grad.norm(dim=1) - 1).pow(2).mean()
    assert stats["d_penalty"].item() == pytest.approx(by_hand.item(), rel=1e-4) and by_hand.item() > 0
    tv = C.resolve("aae-digits", overrides=["model.objective=fgan-tv"])
    assert tv.reg.gradient_penalty == 1.0  # the row's default reaches the AAE, which now trains with it


def test_aae_spectral_norm_bounds_every_code_d_layer(tiny):
    """discriminator.spectral_norm on the AAE divides each of the code D's weights by its largest singular value
    (it used to be ignored): after a few training-mode passes every layer's matrix has spectral norm ≈ 1."""
    from torch.nn.utils import parametrize

    r, ds = build(tiny, "aae", "generator.prior=normal", "discriminator.spectral_norm=true")
    plain, _ = build(tiny, "aae", "generator.prior=normal")
    linears = [m for m in r.discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(parametrize.is_parametrized(m, "weight") for m in linears)
    assert not any(parametrize.is_parametrized(m) for m in plain.discriminator.modules())
    for _ in range(30):  # the power iteration runs once per training-mode forward pass
        r.discriminator(torch.randn(8, 2))
    norms = [torch.linalg.matrix_norm(m.weight.detach(), ord=2).item() for m in linears]
    assert norms == pytest.approx([1.0] * len(linears), rel=0.02)
    raw = [torch.linalg.matrix_norm(m.weight.detach(), ord=2).item()
           for m in plain.discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert max(abs(n - 1) for n in raw) > 0.1  # without it the layers are not normalised
    assert "d_loss" in r.d_step(ds.sample(64))  # and it trains


def test_aae_code_d_can_pack_codes_and_see_the_batch(tiny):
    """model.pack = m: the code D scores m codes at once, concatenated (PacGAN), as prior draws or as codes; with
    discriminator.minibatch a batch layer sits before its head (both used to be ignored by the AAE)."""
    from gankit.nets.remedies import MinibatchDiscrimination, MinibatchStd

    r, ds = build(tiny, "aae", "generator.prior=normal", "model.pack=4")
    first = next(m for m in r.discriminator.modules() if isinstance(m, torch.nn.Linear))
    assert first.in_features == 4 * 2  # four 2-D codes end to end
    z = torch.randn(12, 2)
    with torch.no_grad():
        by_hand = r.discriminator(z.reshape(3, 8))  # packs of consecutive codes
        assert torch.allclose(r._judge(z, None), by_hand)
    x = ds.sample(64)
    stats = r.d_step(x)
    assert {"d_loss", "d_acc"} <= set(stats) and math.isfinite(stats["d_loss"].item())
    assert "enc_loss" in r.g_step(x)
    real, fake = r.discriminator_scores(ds.sample(30), torch.Generator().manual_seed(0))  # cut to 28: 7 packs
    assert real.shape == fake.shape == (7,)
    with pytest.raises(ValueError, match="packs of model.pack = 4 codes; got a batch of 3"):
        r.discriminator_scores(ds.sample(3))
    with pytest.raises(ConfigError, match="must be a multiple of model.pack"):
        build(tiny, "aae", "model.pack=3")  # 64 codes a batch
    for kind, layer, extra in (("std", MinibatchStd, 1), ("discrimination", MinibatchDiscrimination, 5)):
        r, _ = build(tiny, "aae", "generator.prior=normal", f"discriminator.minibatch={kind}",
                     "discriminator.minibatch_kernels=5", "reg.r1=1")
        assert sum(isinstance(m, layer) for m in r.discriminator.modules()) == 1
        assert r.discriminator.net[-1].in_features == 64 + extra  # the head also reads the batch features
        stats = r.d_step(x)  # R1 differentiates the batch layer's gradient (the broadcast form for cdist)
        assert stats["d_penalty"].item() > 0 and math.isfinite(stats["d_loss"].item())
    assert C.resolve("aae-mnist-8d").model.pack == 4 and C.resolve("aae-mnist").model.pack == 1  # the 8-D default
    plain, _ = build(tiny, "aae", "generator.prior=normal")
    assert not any(isinstance(m, (MinibatchStd, MinibatchDiscrimination)) for m in plain.discriminator.modules())
    assert next(m for m in plain.discriminator.modules() if isinstance(m, torch.nn.Linear)).in_features == 2


def test_aae_mnist_8d_code_d_learns_faster_than_the_2d_presets(tiny):
    """aae-mnist-8d's code D steps at d_optim.lr = 5e-4 (the 2-D presets: 2e-4), the reconstruction at 1e-3 and the
    regularisation phase at model.reg_lr = 5e-4: the optimisers the recipe builds (BENCHMARKS.md, "A faster code D")."""
    lrs = lambda r: {k: o.param_groups[0]["lr"] for k, o in r.optimizers.items()}  # noqa: E731
    cfg = tiny(*DIGITS, "generator.noise_dim=8", preset="aae-mnist-8d")
    assert lrs(AAE(cfg, build_dataset(cfg.data).shape, "cpu")) == {"g": 1e-3, "d": 5e-4, "enc": 5e-4}
    assert C.resolve("aae-mnist").d_optim.lr == C.resolve("aae-digits").d_optim.lr == 2e-4


def test_vae_mnist_8d_is_the_vae_twin_of_aae_mnist_8d():
    """vae-mnist-8d is vae-mnist with 8-D codes (the autoencoders benchmark's vae-8d row) and shares aae-mnist-8d's
    data, decoder, prior and budget; only the recipe and its own parts differ."""
    twin, aae = C.to_dict(C.resolve("vae-mnist-8d")), C.to_dict(C.resolve("aae-mnist-8d"))
    vae8 = C.to_dict(C.resolve("vae-mnist", overrides=["generator.noise_dim=8"]))
    for cfg in (twin, vae8):
        cfg["run"].pop("name"), cfg.pop("preset")  # the run's name and the preset it came from
    assert twin == vae8 and twin["model"]["recipe"] == "vae" and aae["model"]["recipe"] == "aae"
    for part in ("data", "generator", "train", "eval"):
        assert twin[part] == aae[part], part
    assert twin["generator"]["noise_dim"] == 8 and C.resolve("vae-mnist").generator.noise_dim == 2


def test_runs_report_code_prior_distance_in_training_and_eval(tiny):
    run = api.train(tiny(*DIGITS, "model.recipe=aae", "generator.prior=normal", "eval.num_samples=200",
                         "eval.metrics=[code-prior]", "eval.floor=false"))
    trained = [r for r in read_jsonl(run.metrics) if "code_mmd2" in r][-1]
    assert {"code_mmd_p", "code_sw", "code_w1"} <= set(trained) and 0 < trained["code_mmd_p"] <= 1
    ev = api.evaluate(run.root, n=200, floor=False, write=False)  # the checkpoint's encoder: the same numbers
    assert ev.model["code_mmd2"] == pytest.approx(trained["code_mmd2"], rel=1e-9)
    assert ev.model["code_w1"] == pytest.approx(trained["code_w1"], rel=1e-9)
    recipe, _, dataset = api.load_recipe(run.root)
    codes, prior = recipe.metric_net(recipe.generator).code_samples(dataset, 50, 0)
    assert codes.shape == prior.shape == (50, 2) and recipe.metric_net(recipe.generator).noise_dim == 2


def test_codes_figure_draws_the_prior_behind_the_codes():
    from gankit.errors import DataError
    from gankit.viz.latent import codes_figure

    rng = np.random.default_rng(1)
    z, y, p = rng.normal(size=(100, 2)), np.arange(100) % 10, rng.normal(size=(300, 2))
    fig = codes_figure(z, y, box=(-3, 3), prior=p)
    prior_panel, ax = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["prior", *map(str, range(10))]
    assert len(ax.collections[0].get_offsets()) == 300  # drawn first: under the codes
    assert [len(c.get_offsets()) for c in prior_panel.collections] == [300]  # the prior alone, beside them
    assert prior_panel.get_xlim() == ax.get_xlim() == ax.get_ylim()  # on the same axes
    with pytest.raises(DataError, match="needs \\(M, 2\\) prior draws"):
        codes_figure(z, y, prior=np.zeros((5, 3)))
