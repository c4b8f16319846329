"""The fgan-bound theory check: its helpers against exact values, and the quick run passing every check."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gankit.objectives.fgan import DIVERGENCES
from gankit.registry import THEORY
from gankit.theory.fgan_bound import (
    Gaussian1D,
    TrainSettings,
    crossings,
    fgan_bound,
    quadrature,
    score_bound_integral,
    train_critic,
)


def test_quadrature_is_exact_for_gaussian_moments():
    x, w = quadrature(-30.0, 31.0)
    g = Gaussian1D(0.3, 1.7)
    dens = torch.exp(g.log_prob(x))
    assert float((w * dens).sum()) == pytest.approx(1.0, abs=1e-13)
    assert float((w * dens * x).sum()) == pytest.approx(0.3, abs=1e-13)
    assert float((w * dens * (x - 0.3) ** 2).sum()) == pytest.approx(1.7**2, abs=1e-12)
    # a kink is integrated exactly once it is a breakpoint (the panels of linspace(−20, 21, 201) miss 0)
    x, w = quadrature(-20.0, 21.0, [0.0])
    assert float((w * x.abs()).sum()) == pytest.approx((20.0**2 + 21.0**2) / 2, rel=1e-14)
    x, w = quadrature(-20.0, 21.0)
    assert float((w * x.abs()).sum()) != pytest.approx((20.0**2 + 21.0**2) / 2, rel=1e-10)


@pytest.mark.parametrize("q", [Gaussian1D(1.0, 1.0), Gaussian1D(0.5, 1.2), Gaussian1D(-1.0, 0.7), Gaussian1D(0.0, 2.0)])
def test_crossings_are_where_the_densities_meet(q):
    p = Gaussian1D(0.0, 1.0)
    pts = crossings(p, q)
    assert len(pts) == (1 if p.std == q.std else 2)
    for c in pts:
        x = torch.tensor(c, dtype=torch.float64)
        assert float(p.log_prob(x) - q.log_prob(x)) == pytest.approx(0.0, abs=1e-12)


def test_training_is_deterministic_and_stays_below_the_bound():
    p, q = Gaussian1D(0.0, 1.0), Gaussian1D(1.0, 1.0)
    s = TrainSettings(steps=30, batch=64, eval_samples=10)
    d = DIVERGENCES["kl"]
    a, b = train_critic(d, p, q, s, seed=3), train_critic(d, p, q, s, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert score_bound_integral(d, p, q, a) < 0.5  # KL(N(0,1) ‖ N(1,1)) = 1/2, any critic stays below


def test_quick_run_passes_every_check(tmp_path):
    assert "fgan-bound" in THEORY and THEORY.describe("fgan-bound")
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    report = THEORY.get("fgan-bound")(tmp_path / "out", quick=True)
    assert torch.equal(state, torch.get_rng_state()), "the check must not move the caller's RNG"
    assert torch.get_num_threads() == threads
    assert report.passed, report.to_markdown()
    assert len(report.checks) == 5
    assert [r["divergence"] for r in report.rows] == list(DIVERGENCES)
    for row in report.rows:
        assert abs(row["bound at T*"] - row["D_f (integral)"]) <= 1e-9 * max(1.0, abs(row["D_f (integral)"]))
        assert row["trained (exact)"] <= row["D_f (integral)"]
        assert math.isfinite(row["trained (samples)"]) and row["std err"] > 0
    assert report.figures and report.figures[0].is_file() and report.figures[0].stat().st_size > 10_000
    saved = json.loads(report.save(tmp_path / "out").read_text())
    assert saved["passed"] is True and len(saved["rows"]) == 9
    assert fgan_bound is THEORY.get("fgan-bound")
