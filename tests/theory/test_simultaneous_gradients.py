"""min_x max_y xy: closed forms of the five update rules, autograd equivalence, and the registered check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gankit.registry import THEORY
from gankit.theory import TheoryReport
from gankit.theory.simultaneous_gradients import (
    METHODS,
    NAME,
    check,
    closed_form_factor,
    run_method,
    run_method_autograd,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[TheoryReport, Path]:
    out = tmp_path_factory.mktemp("theory")
    return check(out, quick=True), out


def test_registered_check_passes_and_writes_figure_and_json(report: tuple[TheoryReport, Path]) -> None:
    rep, out = report
    assert NAME in THEORY and THEORY.get(NAME) is check
    assert rep.name == NAME and "Utkin, GAN lecture (SPbPU)" in rep.claim
    assert rep.checks and rep.passed, [k for k, ok in rep.checks.items() if not ok]
    assert [r["method"] for r in rep.rows] == list(METHODS)
    assert len({tuple(r) for r in rep.rows}) == 1  # same keys in every row
    assert all(p.exists() and p.stat().st_size > 10_000 for p in rep.figures)
    data = json.loads(rep.save(out).read_text())
    assert data["passed"] is True and data["name"] == NAME
    beh = {r["method"]: r["behaviour"] for r in rep.rows}
    assert beh["simultaneous"] == "spirals outward" and beh["extragradient"] == "converges"


@pytest.mark.parametrize("eta", [0.01, 0.1, 0.3, 1.0])
def test_simultaneous_radius_grows_by_exactly_sqrt_one_plus_eta_squared(eta: float) -> None:
    r = np.linalg.norm(run_method("simultaneous", eta, 50, start=(0.3, -2.0)), axis=1)
    np.testing.assert_allclose(r[1:] / r[:-1], math.sqrt(1 + eta**2), rtol=1e-13)
    assert np.all(np.diff(r) > 0)  # never converges, whatever η > 0


def test_one_simultaneous_step_by_hand() -> None:
    """(1, 1) with η = 0.1: x ← 1 − 0.1·1 = 0.9, y ← 1 + 0.1·1 = 1.1 (both use the old values)."""
    np.testing.assert_allclose(run_method("simultaneous", 0.1, 1)[1], [0.9, 1.1], rtol=0, atol=1e-15)
    # alternating: x ← 0.9 first, then y ← 1 + 0.1·0.9 = 1.09
    np.testing.assert_allclose(run_method("alternating", 0.1, 1)[1], [0.9, 1.09], rtol=0, atol=1e-15)


@pytest.mark.parametrize("eta", [0.05, 0.5, 1.5])
def test_alternating_conserves_quadratic_form_and_stays_in_band(eta: float) -> None:
    x, y = run_method("alternating", eta, 2000, start=(1.0, -0.4)).T
    q = x**2 + y**2 - eta * x * y
    np.testing.assert_allclose(q, q[0], rtol=1e-11)
    r = np.hypot(x, y)
    assert r.min() >= math.sqrt(q[0] / (1 + eta / 2)) * (1 - 1e-12)
    assert r.max() <= math.sqrt(q[0] / (1 - eta / 2)) * (1 + 1e-12)
    # the plain radius is NOT conserved (it wobbles): the invariant is the tilted ellipse
    assert r.max() - r.min() > 1e-3 * eta


@pytest.mark.parametrize("method", ["extragradient", "consensus"])
@pytest.mark.parametrize("eta", [0.05, 0.2, 0.7])
def test_stabilised_methods_are_scaled_rotations_with_closed_form_factor(method: str, eta: float) -> None:
    r = np.linalg.norm(run_method(method, eta, 100), axis=1)
    np.testing.assert_allclose(r[1:] / r[:-1], closed_form_factor(method, eta), rtol=1e-12)
    # extragradient contracts for every 0 < η < 1; consensus (γ = 0.2) only while (1 − ηγ)² + η² < 1
    expect_contraction = method == "extragradient" or (1 - 0.2 * eta) ** 2 + eta**2 < 1
    assert (closed_form_factor(method, eta) < 1.0) == expect_contraction
    assert (r[-1] < r[0]) == expect_contraction


def test_closed_form_factors_against_matrix_spectra() -> None:
    """Independent check: spectral radius of each one-step matrix, built here from the update rules."""
    for eta in (0.1, 0.3):
        g = 0.2
        mats = {
            "simultaneous": [[1, -eta], [eta, 1]],
            "extragradient": [[1 - eta**2, -eta], [eta, 1 - eta**2]],
            "consensus": [[1 - eta * g, -eta], [eta, 1 - eta * g]],
            "alternating": [[1, -eta], [eta, 1 - eta**2]],
        }
        for m, a in mats.items():
            rho = max(abs(np.linalg.eigvals(np.array(a, dtype=float))))
            assert closed_form_factor(m, eta, gamma=g) == pytest.approx(rho, rel=1e-12)
        # the matrices really are the methods: one step from e1 and e2 reproduces the columns
        for m, a in mats.items():
            cols = np.stack([run_method(m, eta, 1, start=s, gamma=g)[1] for s in ((1.0, 0.0), (0.0, 1.0))], axis=1)
            np.testing.assert_allclose(cols, np.array(a, dtype=float), atol=1e-15)


def test_optimistic_converges_at_its_spectral_radius() -> None:
    r = np.linalg.norm(run_method("optimistic", 0.2, 600), axis=1)
    rate = (r[-1] / r[300]) ** (1 / 300)
    assert rate == pytest.approx(closed_form_factor("optimistic", 0.2), rel=1e-6)
    assert r[-1] < 1e-4 * r[0]


@pytest.mark.parametrize("method", METHODS)
def test_autograd_with_two_sgd_players_reproduces_the_hand_written_run(method: str) -> None:
    hand = run_method(method, 0.15, 60, start=(0.7, -1.2))
    auto = run_method_autograd(method, 0.15, 60, start=(0.7, -1.2))
    np.testing.assert_allclose(auto, hand, rtol=1e-12, atol=1e-14)


def test_autograd_gradients_are_real_autograd_on_any_f() -> None:
    """With f = x·y + ½x² (x strongly convex) simultaneous GDA converges: the autograd runner is not
    hard-wired to xy; its result matches the hand-written run with that f's gradient."""
    hand = run_method("simultaneous", 0.1, 300, grad=lambda x, y: (y + x, x))
    auto = run_method_autograd("simultaneous", 0.1, 300, f=lambda x, y: x * y + 0.5 * x**2)
    np.testing.assert_allclose(auto, hand, rtol=1e-11, atol=1e-14)
    assert np.linalg.norm(auto[-1]) < 0.05


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        run_method("adam", 0.1, 2)
    with pytest.raises(ValueError, match="choose one of"):
        run_method_autograd("adam", 0.1, 2)
