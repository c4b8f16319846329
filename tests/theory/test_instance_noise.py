"""Instance noise on disjoint lines: closed-form D*_σ, JS_σ and generator gradients, trained discriminators."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.stats import norm

from gankit.registry import THEORY
from gankit.theory import TheoryReport
from gankit.theory.instance_noise import (
    NAME,
    SIGMAS_QUICK,
    check,
    closed_form_gradients,
    generator_gradients,
    measure,
    noisy_js,
    optimal_discriminator,
    optimal_logit,
    train_discriminator,
)

LN2 = math.log(2.0)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[TheoryReport, Path]:
    out = tmp_path_factory.mktemp("theory")
    return check(out, quick=True), out


def test_registered_check_passes_and_writes_figure_and_json(report: tuple[TheoryReport, Path]) -> None:
    rep, out = report
    assert NAME in THEORY and THEORY.get(NAME) is check
    assert "Hung-yi Lee, GAN lecture (ATDL 14)" in rep.claim
    assert rep.checks and rep.passed, [k for k, ok in rep.checks.items() if not ok]
    assert [r["sigma"] for r in rep.rows] == list(SIGMAS_QUICK)
    assert len({tuple(r) for r in rep.rows}) == 1
    assert all(p.exists() and p.stat().st_size > 10_000 for p in rep.figures)
    data = json.loads(rep.save(out).read_text())
    assert data["passed"] is True


def test_report_rows_tell_the_lectures_story(report: tuple[TheoryReport, Path]) -> None:
    rows = {r["sigma"]: r for r in report[0].rows}
    assert rows[0.0]["js"] == pytest.approx(LN2, abs=1e-12)
    assert rows[1.0]["js"] < 0.2  # σ = θ: the noisy lines overlap a lot
    assert rows[0.0]["acc_trained"] >= 0.99 and rows[1.0]["acc_trained"] < 0.8
    assert rows[0.0]["grad_mmgan_trained"] < 1e-2 < rows[1.0]["grad_mmgan_trained"]


# ----------------------------------------------------------------------------------------------------
# closed forms, each against an independent computation
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.2, 0.5, 1.0, 3.0])
def test_optimal_discriminator_is_density_ratio(sigma: float) -> None:
    x = np.linspace(-2.0, 3.0, 41)
    p, q = norm.pdf(x, 0.0, sigma), norm.pdf(x, 1.0, sigma)
    np.testing.assert_allclose(optimal_discriminator(x, sigma), p / (p + q), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(optimal_logit(x, sigma), norm.logpdf(x, 0, sigma) - norm.logpdf(x, 1, sigma),
                               rtol=1e-12, atol=1e-12)
    assert optimal_discriminator(np.array([0.5]), sigma)[0] == pytest.approx(0.5)  # midpoint: can't tell


def test_sigma_zero_discriminator_is_a_step_and_gradients_vanish() -> None:
    d = optimal_discriminator(np.array([-1.0, 0.0, 0.49, 0.51, 1.0, 2.0]), 0.0)
    np.testing.assert_array_equal(d, [1, 1, 1, 0, 0, 0])
    assert closed_form_gradients(0.0) == (0.0, 0.0)


@pytest.mark.parametrize("sigma", [0.1, 0.3, 1.0, 2.0])
def test_closed_form_gradients_match_autograd_through_the_density_ratio(sigma: float) -> None:
    """Differentiate log(1 − D*) and −log D* at x = θ with torch autograd (float64), D* from the densities."""
    def f64(v: float) -> torch.Tensor:
        return torch.tensor(v, dtype=torch.float64)

    def logit(x: torch.Tensor) -> torch.Tensor:  # log p_σ(x) − log q_σ(x)
        normal = torch.distributions.Normal
        return normal(f64(0.0), f64(sigma)).log_prob(x) - normal(f64(1.0), f64(sigma)).log_prob(x)

    x = f64(1.0).requires_grad_(True)
    (g_mm,) = torch.autograd.grad(-torch.nn.functional.softplus(logit(x)), x)  # log(1 − σ(s))
    x = f64(1.0).requires_grad_(True)
    (g_ns,) = torch.autograd.grad(torch.nn.functional.softplus(-logit(x)), x)  # −log σ(s)
    mm, ns = closed_form_gradients(sigma)
    assert mm == pytest.approx(g_mm.item(), rel=1e-10)
    assert ns == pytest.approx(g_ns.item(), rel=1e-10)
    assert mm > 0 and ns > 0  # descent (−∂/∂x) moves the fake at x = 1 toward the data at x = 0
    assert mm + ns == pytest.approx(1.0 / sigma**2, rel=1e-12)  # D* + (1 − D*) = 1, times θ/σ²


def test_mmgan_gradient_saturates_for_small_noise_and_peaks_in_between() -> None:
    small, mid, large = (closed_form_gradients(s)[0] for s in (0.1, 0.5, 5.0))
    assert 0 < small < 1e-18 and mid > 0.4 and large < 0.03
    assert large == pytest.approx(1.0 / (2 * 5.0**2), rel=0.02)  # σ → ∞: sigmoid(−θ²/2σ²)·θ/σ² → θ/(2σ²)


@pytest.mark.parametrize("sigma", [0.2, 0.5, 1.0, 2.5])
def test_noisy_js_matches_adaptive_quadrature(sigma: float) -> None:
    def integrand(x: float) -> float:
        p, q = norm.pdf(x, 0.0, sigma), norm.pdf(x, 1.0, sigma)
        m = 0.5 * (p + q)
        return 0.5 * (p * math.log(p / m) if p > 0 else 0.0) + 0.5 * (q * math.log(q / m) if q > 0 else 0.0)

    ref, _ = quad(integrand, -12 * sigma, 1 + 12 * sigma, limit=200, points=[0.0, 0.5, 1.0])
    assert noisy_js(sigma) == pytest.approx(ref, abs=1e-8)


def test_noisy_js_limits_and_scale_invariance() -> None:
    assert noisy_js(0.0) == pytest.approx(LN2, abs=1e-15)
    assert noisy_js(0.0, theta=3.0) == pytest.approx(LN2, abs=1e-15)  # W-style distance would differ; JS cannot
    assert noisy_js(0.05) == pytest.approx(LN2, abs=1e-12)
    assert noisy_js(50.0) < 1e-4
    assert noisy_js(0.4, theta=1.0) == pytest.approx(noisy_js(0.8, theta=2.0), rel=1e-9)  # depends on θ/σ only


# ----------------------------------------------------------------------------------------------------
# trained discriminators (small, fast)
# ----------------------------------------------------------------------------------------------------


def test_generator_gradients_are_per_sample() -> None:
    """Row i of the gradient depends on sample i only: the same point alone or in a batch gives the same row."""
    torch.manual_seed(0)
    d = train_discriminator(0.5, steps=5)
    pts = torch.tensor([[1.0, 0.2], [1.0, 0.7], [0.3, 0.5]])
    batch = generator_gradients(d, pts)
    for i in range(len(pts)):
        alone = generator_gradients(d, pts[i : i + 1])
        for k in ("mmgan", "nsgan"):
            torch.testing.assert_close(alone[k][0], batch[k][i])


def test_training_is_deterministic_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state().clone()
    a = measure(train_discriminator(0.3, steps=30), 0.3)
    assert torch.equal(torch.get_rng_state(), state)
    b = measure(train_discriminator(0.3, steps=30), 0.3)
    assert a == b
