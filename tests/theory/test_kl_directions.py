"""kl-directions: forward KL covers both bumps, reverse KL seeks one, JS has both kinds of minima."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gankit.theory import TheoryReport
from gankit.theory.kl_directions import _Divergences, bimodal, check
from theory_helpers import assert_report_ok, run_quick

NAME = "kl-directions"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TheoryReport, Path, bool]:
    return run_quick(check, tmp_path_factory.mktemp("theory"))


def test_registered_check_passes_and_writes_figure_and_json(run: tuple[TheoryReport, Path, bool]) -> None:
    assert_report_ok(run, NAME, check, "Hung-yi Lee, GAN lecture (ATDL 14)")


def test_forward_covers_and_reverse_seeks(run: tuple[TheoryReport, Path, bool]) -> None:
    rows = {r["divergence minimised"].split(" ")[0]: r for r in run[0].rows}
    fwd, rev = rows["KL(p‖q)"], rows["KL(q‖p)"]
    assert fwd["μ"] == pytest.approx(0.0, abs=1e-9)
    assert fwd["σ"] == pytest.approx(math.sqrt(0.25 + 4.0), abs=1e-9)  # moment matching: Var p = 0.5² + 2²
    assert abs(rev["μ"]) == pytest.approx(2.0, abs=0.01) and rev["σ"] == pytest.approx(0.5, abs=0.01)
    assert rev["KL(q‖p)"] == pytest.approx(math.log(2), abs=1e-3)  # q = one bump: KL(q‖½q + ½other) ≈ log 2
    assert rev["KL(p‖q)"] > 10 * fwd["KL(p‖q)"]  # the missed bump costs forward KL dearly


def test_divergences_against_gaussian_closed_form() -> None:
    # p = N(0, 1) written as a one-component mixture: KL(N(0,1) ‖ N(1, 2²)) has a closed form.
    from gankit.theory.optimal_discriminator import Mixture1D

    div = _Divergences(Mixture1D.gaussian(0.0, 1.0), np.linspace(-20, 20, 40_001))
    kl = math.log(2.0) + (1.0 + 1.0) / (2 * 4.0) - 0.5
    assert div.forward_kl(1.0, 2.0) == pytest.approx(kl, abs=1e-9)
    assert div.reverse_kl(0.0, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert div.js(0.0, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert bimodal().var == pytest.approx(4.25)
