"""optimal-discriminator: D* and max_D V = -2 log 2 + 2 JSD, and a trained D as a lower bound."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm

from gankit.registry import THEORY
from gankit.theory import TheoryReport
from gankit.theory.optimal_discriminator import (
    PAIRS,
    Mixture1D,
    check,
    optimal_logit,
    value_quad,
)

NAME = "optimal-discriminator"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TheoryReport, Path, bool]:
    out = tmp_path_factory.mktemp("theory") / "nested"  # a missing folder: the check creates it
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    rep = check(out, quick=True)
    rng_untouched = torch.equal(torch.get_rng_state(), torch_state) and all(
        np.array_equal(a, b) for a, b in zip(np.random.get_state()[1:3], np_state[1:3])
    )
    return rep, out, rng_untouched


def test_registered_check_passes_and_writes_figure_and_json(run: tuple[TheoryReport, Path, bool]) -> None:
    rep, out, _ = run
    assert THEORY.get(NAME) is check and rep.name == NAME
    assert "Hung-yi Lee, Theory behind GAN" in rep.claim
    assert rep.checks and rep.passed, [k for k, ok in rep.checks.items() if not ok]
    assert len({tuple(r) for r in rep.rows}) == 1  # same keys in every row
    assert rep.figures and all(p.exists() and p.parent == out and p.stat().st_size > 10_000 for p in rep.figures)
    data = json.loads(rep.save(out).read_text())
    assert data["passed"] is True and data["name"] == NAME


def test_identity_error_and_known_values(run: tuple[TheoryReport, Path, bool]) -> None:
    rep, _, _ = run
    assert len(rep.rows) == len(PAIRS)
    for row in rep.rows:
        assert row["|error|"] <= 1e-6
        assert row["V(G, D=1/2)"] == pytest.approx(-2 * math.log(2), abs=1e-9)
        assert row["best perturbed V"] <= row["V(G,D*) (quad)"] + 1e-12
    equal, disjoint = rep.rows[0], rep.rows[-1]
    assert equal["V(G,D*) (quad)"] == pytest.approx(-2 * math.log(2), abs=1e-12)  # P_G = P_data: D* = 1/2
    assert disjoint["JSD (grid)"] == pytest.approx(math.log(2), abs=1e-6)  # nearly disjoint: JSD -> log 2


def test_check_does_not_move_global_rngs(run: tuple[TheoryReport, Path, bool]) -> None:
    assert run[2]


def test_mixture_density_and_value_against_closed_forms() -> None:
    mix = Mixture1D((0.3, 0.7), (-1.0, 2.0), (0.5, 1.5))
    x = np.linspace(-6, 8, 101)
    ref = 0.3 * norm.pdf(x, -1, 0.5) + 0.7 * norm.pdf(x, 2, 1.5)
    np.testing.assert_allclose(mix.pdf(x), ref, rtol=1e-12)
    np.testing.assert_allclose([mix.logpdf(float(t)) for t in x], np.log(ref), rtol=1e-12)  # scalar path
    assert mix.var == pytest.approx(0.3 * (0.25 + 1) + 0.7 * (2.25 + 4) - (0.3 * -1 + 0.7 * 2) ** 2)
    # JSD(N(0,1) ‖ N(0,1)) = 0 both ways round; V(G, D*) = -2 log 2 + 2 JSD is symmetric in the pair.
    p, q = Mixture1D.gaussian(0, 1), Mixture1D.gaussian(1, 2)
    assert value_quad(p, q, optimal_logit(p, q)) == pytest.approx(value_quad(q, p, optimal_logit(q, p)), abs=1e-10)


def test_train_discriminator_is_deterministic_and_leaves_rng_alone() -> None:
    from gankit.theory.optimal_discriminator import train_discriminator

    p, q = Mixture1D.gaussian(0, 1), Mixture1D.gaussian(2, 1)
    state = torch.get_rng_state()
    nets = [
        train_discriminator(lambda n, r: p.sample(n, r), lambda n, r: q.sample(n, r), 1, 5, width=8, seed=7)
        for _ in range(2)
    ]
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
