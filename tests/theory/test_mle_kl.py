"""mle-kl: maximum likelihood = minimum KL(P_data ‖ P_G) with EM-fitted Gaussian mixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from gankit.theory import TheoryReport
from gankit.theory.mle_kl import COMPONENTS, check
from theory_helpers import assert_report_ok, run_quick

NAME = "mle-kl"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TheoryReport, Path, bool]:
    return run_quick(check, tmp_path_factory.mktemp("theory"))


def test_registered_check_passes_and_writes_figure_and_json(run: tuple[TheoryReport, Path, bool]) -> None:
    assert_report_ok(run, NAME, check, "Hung-yi Lee, Theory behind GAN")


def test_nll_minus_entropy_is_kl_and_ranks_the_same(run: tuple[TheoryReport, Path, bool]) -> None:
    rep, _, _ = run
    rows = rep.rows
    assert [r["components"] for r in rows] == list(COMPONENTS)
    for r in rows:
        assert abs(r["NLL - H(P_data)"] - r["KL(P_data‖P_G) (grid)"]) <= 3 * r["± SE"]
    by_nll = sorted(rows, key=lambda r: r["fresh avg NLL"])
    by_kl = sorted(rows, key=lambda r: r["KL(P_data‖P_G) (grid)"])
    assert by_nll[0]["components"] == by_kl[0]["components"] == 3  # the true model has 3 components
    assert rows[0]["KL(P_data‖P_G) (grid)"] > 0.25  # one Gaussian cannot fit three bumps
