"""Contract tests run over every registry entry (docs/architecture.md): shapes, sign convention, steps that move
the right parameters with finite losses, determinism under a seed, checkpoint round trip."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from gankit import config as C
from gankit.config import DataConfig, DiscriminatorConfig, GeneratorConfig
from gankit.data import build_dataset
from gankit.registry import ALL, DATASETS, NETWORKS, OBJECTIVES, RECIPES


def test_every_registry_is_filled_and_described():
    for kind, reg in ALL.items():
        assert len(reg) > 0, kind
        for name in reg.names():
            assert reg.describe(name), f"{kind} '{name}' has no description"


POINT_SETS = [n for n in DATASETS.names() if DATASETS.meta(n).get("kind", "points") == "points"]
NET_SHAPES = [(n, s) for n in NETWORKS.names() for s in NETWORKS.meta(n).get("shapes", [(1,), (2,)])]


@pytest.mark.parametrize("name", POINT_SETS)  # image sets: tests/data/test_images.py::test_image_dataset_contract
def test_dataset_contract(name, tmp_path):
    path = ""
    if name == "points":
        np.save(tmp_path / "p.npy", np.random.default_rng(0).normal(size=(50, 2)))
        path = str(tmp_path / "p.npy")
    ds = build_dataset(DataConfig(name=name, path=path))
    torch.manual_seed(0)
    x = ds.sample(33)
    assert x.shape == (33, ds.dim) == (33, *ds.shape)
    assert torch.isfinite(x).all()
    state = torch.get_rng_state()
    b = ds.bounds()
    assert torch.equal(state, torch.get_rng_state()), "bounds() must not move the training RNG"
    assert b.shape == (ds.dim, 2) and np.all(b[:, 0] < b[:, 1])
    if ds.modes is not None:
        assert ds.modes.shape[1] == ds.dim and ds.mode_std > 0


@pytest.mark.parametrize("name,shape", NET_SHAPES)
def test_network_contract(name, shape):
    fam = NETWORKS.get(name)
    torch.manual_seed(0)
    g = fam.generator(GeneratorConfig(noise_dim=3, width=16, depth=2), shape)
    d = fam.discriminator(DiscriminatorConfig(width=16, depth=2), shape)
    meta = NETWORKS.meta(name)
    z = g.sample_noise(7)
    # multi-stage (lapgan) and conditional nets carry more in z
    assert z.shape == (7, getattr(g, "latent_dim", 3 + meta.get("condition_dim", 0)))
    x = g(z)
    assert x.shape == (7, *shape)

    def score(images):  # conditional D judges (image, condition) pairs: text-to-image nets take φ(t)
        return d(images, g.split(g.sample_noise(len(images)))[1]) if meta.get("conditional") else d(images)

    out = score(x)
    assert out.shape == (7,)
    # a raw score, not a probability: a sigmoid inside D would squash large inputs into [0, 1]
    big = score(100 * torch.randn(64, *shape))
    assert big.min() < 0 or big.max() > 1
    gen = torch.Generator().manual_seed(5)
    a = g.sample_noise(4, generator=gen)
    gen.manual_seed(5)
    assert torch.equal(a, g.sample_noise(4, generator=gen))
    if hasattr(g, "stages"):  # multi-stage generators: one interface for the stages figure and sample --stages
        g.eval()
        with torch.no_grad():
            stages = g.stages(z)
        assert isinstance(stages, list) and len(stages) >= 1
        assert all(isinstance(name, str) and t.ndim == 4 and t.shape[:2] == (7, shape[0]) for name, t in stages)
        torch.testing.assert_close(stages[-1][1], g(z))  # the last stage is the sample


def test_uniform_prior_is_in_unit_interval():
    g = NETWORKS.get("mlp").generator(GeneratorConfig(noise_dim=1, prior="uniform"), (1,))
    z = g.sample_noise(10000)
    assert z.min() >= 0 and z.max() < 1 and abs(float(z.mean()) - 0.5) < 0.02


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_objective_sign_convention(name):
    """Higher score = more real: D's loss never rises as real scores rise or fake scores fall, and falls
    strictly near the decision boundary (margin losses such as hinge are flat beyond their margin); G's
    loss falls as fake scores rise. A flipped sign anywhere fails here."""
    obj = OBJECTIVES.get(name)
    real = torch.linspace(-3, 3, 13, requires_grad=True)
    fake = torch.linspace(-3, 3, 13, requires_grad=True)
    g_real, g_fake = torch.autograd.grad(obj.d_loss(real, fake), (real, fake))
    assert torch.all(g_real <= 0) and torch.all(g_fake >= 0)
    near = (real.detach().abs() < 0.9)
    assert torch.all(g_real[near] < 0) and torch.all(g_fake[near] > 0)
    (g_g,) = torch.autograd.grad(obj.g_loss(fake), fake)
    assert torch.all(g_g < 0)
    assert torch.isfinite(obj.d_loss(real, fake)) and torch.isfinite(obj.g_loss(fake))


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


# class-conditional recipes run on labelled digits; stackgan needs captions, pix2pix pairs: their contracts are in
# tests/models/
@pytest.mark.parametrize("name", [n for n in RECIPES.names() if n not in ("stackgan", "pix2pix")])
@pytest.mark.parametrize("objective", OBJECTIVES.names())
def test_recipe_contract(name, objective, tmp_path):
    cls = RECIPES.get(name)
    labelled = getattr(cls, "uses_labels", False)  # conditional recipes train on labelled digits
    # image-only recipes (meta data="image") run on their digits preset, the others on ring8
    preset = f"{name}-digits" if RECIPES.meta(name).get("data") == "image" else "ring8"
    cfg = C.resolve(preset, overrides=[f"model.recipe={name}", f"model.objective={objective}",
                                        "generator.width=16", "discriminator.width=16",
                                        *(["data.name=digits"] if labelled else [])])
    ds = build_dataset(cfg.data)
    if hasattr(cls, "prepare_config"):
        cls.prepare_config(cfg, ds)
    draw = ds.sample_with_labels if labelled else ds.sample

    def build():
        torch.manual_seed(0)
        return cls(cfg, ds.shape, "cpu")

    r = build()
    # recipes without a discriminator (auto-encoders) get no D steps from the trainer; their d_step does nothing
    disc = r.discriminator if r.adversarial else nn.Linear(1, 1)
    g0, d0 = _params(r.generator), _params(disc)
    torch.manual_seed(1)
    batch = draw(32)
    d_stats = r.d_step(batch)
    assert all(torch.isfinite(v) for v in d_stats.values())
    assert not r.adversarial or any(not torch.equal(a, b) for a, b in zip(d0, _params(disc))), "d_step must move D"
    assert all(torch.equal(a, b) for a, b in zip(g0, _params(r.generator))), "d_step must not move G"
    d1 = _params(disc)
    g_stats = r.g_step(batch)
    assert all(torch.isfinite(v) for v in g_stats.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, _params(r.generator))), "g_step must move G"
    assert all(torch.equal(a, b) for a, b in zip(d1, _params(disc))), "g_step must not move D"
    assert r.sample(10).shape == (10, *ds.shape)

    # determinism: the same seed gives the same steps
    r2 = build()
    torch.manual_seed(1)
    r2.d_step(draw(32))
    r2.g_step(batch)
    assert all(torch.equal(a, b) for a, b in zip(_params(r.generator), _params(r2.generator)))

    # checkpoint round trip through torch.save / weights_only load
    path = tmp_path / "state.pt"
    torch.save(r.state_dict(), path)
    r3 = build()
    r3.load_state_dict(torch.load(path, weights_only=True))
    assert all(torch.equal(a, b) for a, b in zip(_params(r.generator), _params(r3.generator)))
    for name, m in r.modules().items():
        assert all(torch.equal(a, b) for a, b in zip(_params(m), _params(r3.modules()[name])))
    s1, s3 = copy.deepcopy(r.optimizers["g"].state_dict()), r3.optimizers["g"].state_dict()
    assert all(torch.equal(s1["state"][k]["exp_avg"], s3["state"][k]["exp_avg"]) for k in s1["state"])
