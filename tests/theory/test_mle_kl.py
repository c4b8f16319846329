"""mle-kl: maximum likelihood = minimum KL(P_data ‖ P_G) with EM-fitted Gaussian mixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.registry import THEORY
from gankit.theory import TheoryReport
from gankit.theory.mle_kl import COMPONENTS, check

NAME = "mle-kl"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TheoryReport, Path, bool]:
    out = tmp_path_factory.mktemp("theory")
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    rep = check(out, quick=True)
    untouched = torch.equal(torch.get_rng_state(), torch_state)
    untouched &= np.array_equal(np.random.get_state()[1], np_state[1])
    return rep, out, untouched


def test_registered_check_passes_and_writes_figure_and_json(run: tuple[TheoryReport, Path, bool]) -> None:
    rep, out, untouched = run
    assert THEORY.get(NAME) is check and rep.name == NAME and "001_b44ae60f0578d301.txt" in rep.claim
    assert rep.checks and rep.passed, [k for k, ok in rep.checks.items() if not ok]
    assert len({tuple(r) for r in rep.rows}) == 1
    assert rep.figures and all(p.exists() and p.stat().st_size > 10_000 for p in rep.figures)
    assert json.loads(rep.save(out).read_text())["passed"] is True
    assert untouched


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
