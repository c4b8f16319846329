"""js-saturation: parallel lines — JS = log 2, KL = ∞, W = |θ|; a trained D stays ~100 % accurate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.registry import THEORY
from gankit.theory import TheoryReport
from gankit.theory.js_saturation import check, closed_form, histogram_divergences

NAME = "js-saturation"
LN2 = math.log(2.0)


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
    assert THEORY.get(NAME) is check and rep.name == NAME and "Hung-yi Lee, GAN lecture (ATDL 14)" in rep.claim
    assert rep.checks and rep.passed, [k for k, ok in rep.checks.items() if not ok]
    assert len({tuple(r) for r in rep.rows}) == 1
    assert rep.figures and all(p.exists() and p.stat().st_size > 10_000 for p in rep.figures)
    data = json.loads(rep.save(out).read_text())
    assert data["passed"] is True and "inf" in [r["KL"] for r in data["rows"]]  # ∞ survives JSON as "inf"
    assert untouched


def test_lines_table_values(run: tuple[TheoryReport, Path, bool]) -> None:
    lines = [r for r in run[0].rows if r["family"] == "parallel lines"]
    assert {r["θ / angle"] for r in lines} >= {0.0, 0.01, 0.1, 0.5, 1.0}
    for r in lines:
        theta = r["θ / angle"]
        if theta == 0.0:
            assert r["JS"] == r["KL"] == r["W"] == 0.0 and r["D accuracy"] < 0.55
        else:
            assert r["JS (histogram)"] == pytest.approx(LN2, abs=1e-9) and math.isinf(r["KL (histogram)"])
            assert r["W (POT, quantile pts)"] == pytest.approx(abs(theta), abs=1e-9)
            assert r["D accuracy"] >= 0.99 and r["JS from D"] == pytest.approx(LN2, abs=0.01)


def test_closed_form_and_histogram_helpers() -> None:
    assert closed_form(0.0) == {"js": 0.0, "kl": 0.0, "w": 0.0}
    assert closed_form(-0.3) == {"js": LN2, "kl": math.inf, "w": 0.3}
    js, kl = histogram_divergences(0.05, 2000, 0.01, np.random.default_rng(0))
    assert js == pytest.approx(LN2, abs=1e-12) and math.isinf(kl)
    js_coarse, _ = histogram_divergences(0.05, 2000, 0.5, np.random.default_rng(0))  # both lines in one bin
    assert js_coarse < 0.01
