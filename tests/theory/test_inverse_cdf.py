"""Inverse-CDF sampling of N(−1, 1) and the 1-D GAN that learns the map from U(0, 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import kstest, norm

from gankit.registry import THEORY
from gankit.theory import TheoryReport
from gankit.theory.inverse_cdf import (
    NAME,
    _generator_on,
    check,
    inverse_cdf,
    inverse_cdf_samples,
    map_direction,
    train_gan,
    w1_to_target,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[TheoryReport, Path]:
    out = tmp_path_factory.mktemp("theory")
    return check(out, quick=True), out


def test_registered_check_passes_and_writes_figure_and_json(report: tuple[TheoryReport, Path]) -> None:
    rep, out = report
    assert NAME in THEORY and THEORY.get(NAME) is check
    assert "Generative-model basics 06 (GAN)" in rep.claim and "Utkin, GAN lecture (SPbPU)" in rep.claim
    assert rep.checks and rep.passed, [k for k, ok in rep.checks.items() if not ok]
    assert len(rep.rows) == 7 and len({tuple(r) for r in rep.rows}) == 1
    assert all(p.exists() and p.stat().st_size > 10_000 for p in rep.figures)
    assert json.loads(rep.save(out).read_text())["passed"] is True


def test_report_table_rows_are_quantiles_of_the_target(report: tuple[TheoryReport, Path]) -> None:
    for r in report[0].rows:
        assert r["F⁻¹(z)"] == pytest.approx(norm.ppf(r["z"], loc=-1.0), rel=1e-12)
        assert r["F⁻¹(1−z)"] == pytest.approx(-2.0 - r["F⁻¹(z)"], abs=1e-12)  # symmetric about the mean −1
        assert r["|G(z) − matched map|"] < 0.3


def test_inverse_cdf_is_the_quantile_function_of_n_minus_one_one() -> None:
    t = np.linspace(-4.0, 2.0, 13)
    np.testing.assert_allclose(inverse_cdf(norm.cdf(t, loc=-1.0)), t, atol=1e-10)  # F⁻¹(F(t)) = t
    assert inverse_cdf(np.array([0.5]))[0] == pytest.approx(-1.0, abs=1e-15)
    assert inverse_cdf(np.array([0.8413447460685429]))[0] == pytest.approx(0.0, abs=1e-9)  # Φ(1): mean + 1 std


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inverse_cdf_samples_pass_ks_and_match_moments(seed: int) -> None:
    x = inverse_cdf_samples(20_000, seed=seed)
    assert kstest(x, norm(-1.0, 1.0).cdf).pvalue > 0.01
    assert x.mean() == pytest.approx(-1.0, abs=4 / np.sqrt(len(x)))
    assert x.std() == pytest.approx(1.0, abs=0.03)
    # the lecture's identity P(F⁻¹(U) <= t) = F(t), at a few t
    for t in (-3.0, -1.5, -1.0, 0.0, 1.0):
        assert np.mean(x <= t) == pytest.approx(norm.cdf(t, loc=-1.0), abs=0.015)


def test_inverse_cdf_samples_are_deterministic_and_leave_numpy_global_rng_alone() -> None:
    np.random.seed(5)
    state = np.random.get_state()[1].copy()
    np.testing.assert_array_equal(inverse_cdf_samples(100), inverse_cdf_samples(100))
    assert np.array_equal(np.random.get_state()[1], state)


def test_w1_to_target_against_closed_forms() -> None:
    z = (np.arange(20_000) + 0.5) / 20_000
    exact = inverse_cdf(z)
    assert w1_to_target(exact) < 2e-3  # the target itself
    assert w1_to_target(exact + 0.5) == pytest.approx(0.5, abs=2e-3)  # a shift by c costs |c|
    assert w1_to_target(exact - 0.25) == pytest.approx(0.25, abs=2e-3)
    assert w1_to_target(-2.0 - exact) < 2e-3  # the mirror map F⁻¹(1 − z) = −2 − F⁻¹(z) gives the same law


def test_map_direction_detects_increasing_and_decreasing_maps() -> None:
    z = np.linspace(0.01, 0.99, 99)
    d, target, rho = map_direction(z, inverse_cdf(z) + 0.01)
    assert d == "increasing" and rho == pytest.approx(1.0) and np.allclose(target, inverse_cdf(z))
    d, target, rho = map_direction(z, inverse_cdf(1 - z))
    assert d == "decreasing" and rho == pytest.approx(-1.0) and np.allclose(target, inverse_cdf(1 - z))


def test_gan_training_is_deterministic_and_leaves_torch_rng_alone() -> None:
    torch.manual_seed(99)
    state = torch.get_rng_state().clone()
    g1, h1 = train_gan(15, seed=3, eval_every=5)
    assert torch.equal(torch.get_rng_state(), state)
    g2, h2 = train_gan(15, seed=3, eval_every=5)
    for a, b in zip(g1.parameters(), g2.parameters()):
        assert torch.equal(a, b)
    assert h1 == h2 and [h["step"] for h in h1] == [5.0, 10.0, 15.0]
    z = np.linspace(0.0, 1.0, 11)
    assert _generator_on(g1, z).shape == (11,)
    g3, _ = train_gan(15, seed=4, eval_every=0)
    assert not all(torch.equal(a, b) for a, b in zip(g1.parameters(), g3.parameters()))
