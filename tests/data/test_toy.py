"""Toy data: the docs/protocols.md mixtures exactly, seeded sampling, densities, and user point files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.data.toy import GRID25_MEANS, RING8_MEANS, load_points
from gankit.errors import DataError
from gankit.registry import DATASETS


def make(name: str, **kw):
    return build_dataset(DataConfig(name=name, **kw))


def test_ring8_means_are_eight_distinct_points_on_the_unit_circle():
    assert RING8_MEANS.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(RING8_MEANS, axis=1), 1.0, atol=1e-12)
    d = np.linalg.norm(RING8_MEANS[:, None] - RING8_MEANS[None], axis=-1)
    assert np.min(d[~np.eye(8, dtype=bool)]) == pytest.approx(2 * math.sin(math.pi / 8))  # no repeated mode
    np.testing.assert_allclose(RING8_MEANS[2], [0.0, 1.0], atol=1e-12)


def test_grid25_means():
    assert sorted(map(tuple, GRID25_MEANS.tolist())) == [(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)]


@pytest.mark.parametrize("name,std", [("ring8", 0.01), ("grid25", 0.05)])
def test_mixture_samples_have_the_protocol_std_and_equal_weights(name, std):
    ds = make(name)
    torch.manual_seed(0)
    x = ds.sample(40000).double().numpy()
    nearest = np.argmin(((x[:, None] - ds.modes[None]) ** 2).sum(-1), axis=1)
    resid = x - ds.modes[nearest]
    assert resid.std(axis=0) == pytest.approx([std, std], rel=0.03)
    counts = np.bincount(nearest, minlength=len(ds.modes)) / len(x)
    assert counts == pytest.approx(np.full(len(ds.modes), 1 / len(ds.modes)), abs=0.01)


def test_sampling_is_seeded_by_torch():
    for name in DATASETS.names():
        if name == "points" or DATASETS.meta(name).get("kind") == "image":
            continue
        ds = make(name)
        torch.manual_seed(3)
        a = ds.sample(50)
        torch.manual_seed(3)
        b = ds.sample(50)
        assert a.shape == (50, ds.dim) and a.dtype == torch.float32
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["gauss1d", "bimodal1d"])
def test_1d_densities_integrate_to_one_and_match_moments(name):
    ds = make(name)
    p = lambda t: float(np.exp(ds.log_prob(np.array([[t]])))[0])  # noqa: E731
    total, _ = integrate.quad(p, -20, 20, points=[-2, -1, 2])
    assert total == pytest.approx(1.0, abs=1e-8)
    torch.manual_seed(0)
    x = ds.sample(100000).double().numpy()[:, 0]
    mean, _ = integrate.quad(lambda t: t * p(t), -20, 20, points=[-2, -1, 2])
    assert x.mean() == pytest.approx(mean, abs=0.02)


def test_gauss1d_is_the_lecture_target():
    ds = make("gauss1d")
    xs = np.array([[-1.0], [0.0]])
    np.testing.assert_allclose(np.exp(ds.log_prob(xs)),
                               [1 / math.sqrt(2 * math.pi), math.exp(-0.5) / math.sqrt(2 * math.pi)])


def test_ring8_density_in_2d_integrates_to_one():
    ds = make("ring8")
    g = np.linspace(-1.2, 1.2, 1201)
    xx, yy = np.meshgrid(g, g)
    p = np.exp(ds.log_prob(np.stack([xx.ravel(), yy.ravel()], 1)))
    assert p.sum() * (g[1] - g[0]) ** 2 == pytest.approx(1.0, abs=1e-3)


def test_parallel_lines():
    ds = make("parallel-lines", theta=0.7)
    torch.manual_seed(0)
    x = ds.sample(1000)
    assert torch.all(x[:, 0] == 0.7) and x[:, 1].min() >= 0 and x[:, 1].max() <= 1


def test_points_from_npy_and_csv(tmp_path):
    pts = np.random.default_rng(0).normal(size=(100, 2))
    np.save(tmp_path / "p.npy", pts)
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",")
    np.save(tmp_path / "one.npy", pts[:, 0])
    for f in ("p.npy", "p.csv"):
        ds = make("points", path=str(tmp_path / f))
        assert ds.dim == 2
        torch.manual_seed(0)
        batch = ds.sample(64).double().numpy()
        assert all(any(np.allclose(b, q, atol=1e-6) for q in pts) for b in batch[:5])  # rows of the file
    assert make("points", path=str(tmp_path / "one.npy")).dim == 1


@pytest.mark.parametrize(
    "content,message",
    [
        ("missing", "does not exist"),
        ("empty.csv", "is empty"),
        ("empty.npy", "is empty"),
        ("nan.npy", "1 row(s) with NaN or infinite values (first: row 3)"),
        ("cube.npy", "must have shape (N, D) or (N,), got (4, 2, 2)"),
        ("text.csv", "could not be read"),
        ("points.json", "must be .npy or .csv"),
        ("garbage.npy", "could not be read"),
    ],
)
def test_bad_point_files(tmp_path, content, message):
    (tmp_path / "empty.csv").write_text("")
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    nan = np.zeros((5, 2))
    nan[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "cube.npy", np.zeros((4, 2, 2)))
    (tmp_path / "text.csv").write_text("a,b\nc,d\n")
    (tmp_path / "points.json").write_text("[]")
    (tmp_path / "garbage.npy").write_bytes(b"not a numpy file")
    with pytest.raises(DataError) as info:
        load_points(tmp_path / content)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_points_without_a_path():
    with pytest.raises(DataError, match="needs a file: set data.path"):
        make("points")
