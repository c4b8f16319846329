"""Contract tests run over every registry entry (docs/architecture.md): the Recipe base and the data-set and
generator protocols, shapes, sign convention, steps that move the right parameters with finite losses,
determinism under a seed, checkpoint round trip."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from gankit import config as C
from gankit.config import DataConfig, DiscriminatorConfig, GeneratorConfig
from gankit.data import build_dataset
from gankit.data.base import Dataset, PointSet, check_dataset
from gankit.errors import ConfigError
from gankit.models.base import Recipe, build_optimizer, check_recipe
from gankit.nets.capabilities import ClassConditional, GeneratorNet, Staged
from gankit.registry import ALL, DATASETS, NETWORKS, OBJECTIVES, RECIPES
from gankit.train.callbacks import toy_view
from gankit.train.rundir import RunDir
from gankit.train.trainer import Trainer


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
    check_dataset(ds, name)
    assert isinstance(ds, Dataset) and isinstance(ds, PointSet)  # the protocols the trainer and figures rely on
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
    assert isinstance(g, GeneratorNet)
    z = g.sample_noise(7)
    # multi-stage (lapgan) and conditional nets carry more in z, and say how wide it is
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
    if isinstance(g, Staged):  # multi-stage generators: one interface for the stages figure and sample --stages
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
    labelled = cls.uses_labels  # conditional recipes train on labelled digits
    # image-only recipes (meta data="image") run on their digits preset, the others on ring8
    preset = f"{name}-digits" if RECIPES.meta(name).get("data") == "image" else "ring8"
    cfg = C.resolve(preset, overrides=[f"model.recipe={name}", f"model.objective={objective}",
                                        "generator.width=16", "discriminator.width=16",
                                        *(["data.name=digits"] if labelled else [])])
    ds = build_dataset(cfg.data)
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


# ------------------------------------------------------------------ the Recipe base and the protocols
@pytest.mark.parametrize("name", RECIPES.names())
def test_every_recipe_keeps_the_recipe_contract(name):
    cls = RECIPES.get(name)
    check_recipe(cls, name)  # a Recipe subclass implementing d_step, g_step and modules
    assert issubclass(cls, Recipe) and not cls.__abstractmethods__
    # its optional capabilities are the base's methods (or overrides of them), never missing attributes
    for member in ("prepare_config", "prepare_data", "prepare_fresh", "build_generator", "discriminator_scores",
                   "scores", "generator_push", "callbacks", "sample", "sample_with_labels"):
        assert callable(getattr(cls, member)), member
    assert isinstance(cls.uses_labels, bool) and isinstance(cls.adversarial, bool) and cls.pack >= 1


class _NoSteps(Recipe):
    def modules(self):
        return {}


def test_an_incomplete_recipe_is_refused_naming_what_it_lacks():
    with pytest.raises(TypeError, match=r"recipe 'half' \(_NoSteps\) does not implement d_step, g_step"):
        check_recipe(_NoSteps, "half")
    with pytest.raises(TypeError, match="not a gankit.models.base.Recipe subclass"):
        check_recipe(type("Duck", (), {"d_step": None, "g_step": None, "modules": None}), "duck")
    with pytest.raises(TypeError, match="abstract"):  # and Python refuses to build one
        _NoSteps(None, (2,))


def test_an_incomplete_data_set_is_refused_naming_what_it_lacks():
    class Half:
        name, kind = "half", "points"

        def sample(self, n, device=None):
            return torch.zeros(n, 2)

    with pytest.raises(TypeError, match=r"data set 'half' \(Half\) lacks shape, dim, streamed: every data set has"):
        check_dataset(Half(), "half")


class _Plain(Recipe):
    """The smallest recipe: G alone, trained to move its outputs towards the batch mean (no D)."""

    adversarial = False

    def __init__(self, cfg, data_shape, device="cpu"):
        self.generator = self.build_generator(cfg, data_shape)  # the base's default: the family's G
        self.optimizers = {"g": build_optimizer(self.generator.parameters(), cfg.g_optim)}
        self.progress_seen: list[float] = []

    def modules(self):
        return {"generator": self.generator}

    def d_step(self, batch):
        raise AssertionError("the trainer makes no D steps for adversarial = False")

    def g_step(self, batch):
        self.progress_seen.append(self.progress)
        loss = (self.generator(self.generator.sample_noise(len(batch))) - batch.mean(0)).pow(2).mean()
        self.optimizers["g"].zero_grad()
        loss.backward()
        self.optimizers["g"].step()
        return {"g_loss": loss.detach()}


def _plain_trainer(tmp_path, recipe_cls=_Plain, data="ring8"):
    cfg = C.resolve("ring8", overrides=["train.steps=4", "generator.width=8", f"data.name={data}",
                                        f"run.out_dir={tmp_path}", "data.batch_size=8"])
    ds = build_dataset(cfg.data)
    return Trainer(cfg, recipe_cls(cfg, ds.shape), ds, RunDir(tmp_path / "run"), callbacks=[])


def test_the_trainer_runs_a_recipe_that_only_keeps_the_contract(tmp_path):
    """Defaults from the base: no D steps, progress set before every iteration, no scores, no arrows."""
    trainer = _plain_trainer(tmp_path)
    for _ in range(4):
        trainer.iteration()
    assert trainer.recipe.progress_seen == [0.0, 0.25, 0.5, 0.75] and trainer.d_updates == 0
    view = toy_view(trainer, trainer.step)
    assert view["grid"] is None and view["arrows"] is None and view["objective"] == ""
    assert view["fake"].shape == (512, 2)


def test_a_labelled_recipe_on_unlabelled_data_is_a_config_error(tmp_path):
    labelled = type("Labelled", (_Plain,), {"uses_labels": True})
    with pytest.raises(ConfigError, match="trains on labelled batches, and data set 'ring8' has no labels"):
        _plain_trainer(tmp_path, labelled)


def test_class_conditional_generators_say_so():
    from gankit.nets.conditional import build_conditional_generator

    cfg = C.resolve("cgan-digits", overrides=["model.num_classes=3", "generator.width=8"])
    g = build_conditional_generator(cfg, (1, 8, 8), 3)
    assert isinstance(g, ClassConditional) and g.num_classes == 3
    plain = NETWORKS.get("mlp").generator(GeneratorConfig(noise_dim=2, width=8, depth=1), (2,))
    assert isinstance(plain, GeneratorNet) and not isinstance(plain, ClassConditional | Staged)
