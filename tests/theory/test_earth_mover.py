"""earth-mover: the lecture's piles (W = 5 exactly) and 1-D EMD = ∫|F_P - F_Q|."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from gankit.theory import TheoryReport
from gankit.theory.earth_mover import P_PILES, Q_PILES, cdf_area, check, delta_recursion, lecture_plan
from theory_helpers import assert_report_ok, run_quick

NAME = "earth-mover"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TheoryReport, Path, bool]:
    return run_quick(check, tmp_path_factory.mktemp("theory"))


def test_registered_check_passes_and_writes_figure_and_json(run: tuple[TheoryReport, Path, bool]) -> None:
    assert_report_ok(run, NAME, check, "Utkin, GAN lecture (SPbPU)")


def test_earth_mover_is_exactly_five(run: tuple[TheoryReport, Path, bool]) -> None:
    totals = {r["plan"]: r["work"] for r in run[0].rows if r["from pile"] == "total"}
    assert totals["POT exact (ot.emd)"] == 5.0 and totals["lecture's moves"] == 5.0
    moved = [r for r in run[0].rows if r["plan"] == "POT exact (ot.emd)" and isinstance(r["from pile"], int)]
    assert sum(r["work"] for r in moved) == 5.0 and all(r["amount"] > 0 for r in moved)


def test_lecture_helpers() -> None:
    deltas, w = delta_recursion(P_PILES, Q_PILES)
    assert deltas.tolist() == [2.0, 2.0, -1.0, 0.0] and w == 5.0  # the lecture's δ_1..δ_4
    plan = lecture_plan()
    np.testing.assert_array_equal(plan.sum(axis=1), P_PILES)
    np.testing.assert_array_equal(plan.sum(axis=0), Q_PILES)
    rng = np.random.default_rng(3)
    x, y, wx, wy = rng.normal(size=17), rng.normal(1, 2, size=29), rng.random(17), rng.random(29)
    assert cdf_area(x, y, wx, wy) == pytest.approx(wasserstein_distance(x, y, wx, wy), abs=1e-12)
    assert cdf_area(np.array([0.0]), np.array([3.0])) == 3.0
