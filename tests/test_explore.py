"""Latent interpolations, exact nearest neighbours and the copy check, against closed forms and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gankit.errors import ConfigError
from gankit.explore import copy_check, interpolate_noise, interpolations, nearest_neighbours


def test_interpolation_end_points_and_linear_midpoint():
    a, b = torch.randn(16, generator=torch.Generator().manual_seed(0)), torch.randn(16)
    for mode in ("linear", "spherical"):
        path = interpolate_noise(a, b, 5, mode)
        assert path.shape == (5, 16)
        assert torch.allclose(path[0], a, atol=1e-6) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(interpolate_noise(a, b, 3, "linear")[1], (a + b) / 2)


def test_slerp_closed_form_on_orthogonal_unit_vectors():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = interpolate_noise(a, b, 5, "spherical")
    angles = torch.atan2(path[:, 1], path[:, 0])
    assert torch.allclose(path.norm(dim=1), torch.ones(5), atol=1e-6)  # stays on the circle
    assert torch.allclose(angles, torch.linspace(0, math.pi / 2, 5), atol=1e-6)  # constant angular speed
    lin = interpolate_noise(a, b, 3, "linear")
    assert lin[1].norm() == pytest.approx(math.sqrt(0.5))  # the linear midpoint falls inside the sphere


def test_slerp_keeps_the_norm_of_gaussian_noise_and_linear_does_not():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(100, generator=g), torch.randn(100, generator=g)
    b = b * (a.norm() / b.norm())
    mid_s = interpolate_noise(a, b, 3, "spherical")[1]
    mid_l = interpolate_noise(a, b, 3, "linear")[1]
    assert mid_s.norm() == pytest.approx(float(a.norm()), rel=1e-5)
    assert mid_l.norm() < 0.8 * a.norm()  # ~1/sqrt(2) for nearly orthogonal high-dimensional noise


def test_slerp_of_parallel_vectors_falls_back_to_linear_and_bad_input_errors():
    a = torch.tensor([1.0, 2.0])
    assert torch.allclose(interpolate_noise(a, 3 * a, 3, "spherical"), interpolate_noise(a, 3 * a, 3, "linear"))
    with pytest.raises(ConfigError, match="unknown interpolation 'cubic'"):
        interpolate_noise(a, a, 3, "cubic")
    with pytest.raises(ConfigError, match="at least 2 steps"):
        interpolate_noise(a, a, 1)
    with pytest.raises(ConfigError, match="shapes"):
        interpolate_noise(a, torch.zeros(3), 3)


def test_interpolations_through_a_generator_shape_and_determinism():
    from gankit.config import GeneratorConfig
    from gankit.registry import NETWORKS

    cfg = GeneratorConfig(name="dcgan", noise_dim=8, width=8)
    net = NETWORKS.get("dcgan").generator(cfg, (1, 8, 8))
    x = interpolations(net, rows=3, steps=4, mode="spherical", seed=5)
    assert x.shape == (3, 4, 1, 8, 8)
    assert np.array_equal(x, interpolations(net, rows=3, steps=4, mode="spherical", seed=5))
    assert net.training  # the net's mode is restored


def test_nearest_neighbours_match_brute_force_and_exclude_self():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(500, 12)).astype(np.float32)
    q = rng.normal(size=(40, 12)).astype(np.float32)
    d, i = nearest_neighbours(q, ref, k=3, chunk=64)  # several chunks
    full = np.linalg.norm(q[:, None, :].astype(np.float64) - ref[None].astype(np.float64), axis=2)
    want = np.argsort(full, axis=1)[:, :3]
    assert np.array_equal(i, want)
    assert np.allclose(d, np.take_along_axis(full, want, 1), rtol=1e-6)
    d_self, i_self = nearest_neighbours(ref[:10], ref, k=1, exclude_self=True, chunk=7)
    assert (i_self[:, 0] != np.arange(10)).all() and (d_self > 0).all()
    d0, i0 = nearest_neighbours(ref[:10], ref, k=1)
    assert np.array_equal(i0[:, 0], np.arange(10)) and np.allclose(d0, 0.0)
    with pytest.raises(ConfigError, match="k must be between 1 and 500"):
        nearest_neighbours(q, ref, k=501)
    with pytest.raises(ConfigError, match="values per sample"):
        nearest_neighbours(q[:, :5], ref)


def test_copy_check_flags_a_copying_generator_and_clears_a_fresh_one():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(2000, 20))
    held = rng.normal(size=(300, 20))
    fresh = rng.normal(size=(300, 20))
    copies = train[rng.choice(2000, 300)] + 1e-3 * rng.normal(size=(300, 20))
    ok = copy_check(fresh, train, held)
    bad = copy_check(copies, train, held)
    assert 0.9 < ok.ratio < 1.1 and ok.copies < 0.05
    assert bad.ratio < 0.01 and bad.copies > 0.95
    loo = copy_check(fresh, train)  # no held-out set: leave-one-out within the training set
    assert "rest of the training set" in loo.held_out_kind and 0.85 < loo.ratio < 1.15
