"""Shared checks for the theory-lab tests: run a check quickly, then verify what every check promises."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gankit.registry import THEORY
from gankit.theory import TheoryReport


def run_quick(check: Callable[..., TheoryReport], out: Path) -> tuple[TheoryReport, Path, bool]:
    """Run ``check`` in quick mode into ``out``; also report whether the global RNGs were left untouched."""
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    rep = check(out, quick=True)
    untouched = torch.equal(torch.get_rng_state(), torch_state)
    untouched &= np.array_equal(np.random.get_state()[1], np_state[1])
    return rep, out, untouched


def assert_report_ok(run: tuple[TheoryReport, Path, bool], name: str, check: Callable[..., TheoryReport],
                     seed_file: str) -> None:
    """Registered under ``name``, cites ``seed_file``, every check passed, one table shape, figures and JSON written."""
    rep, out, untouched = run
    assert THEORY.get(name) is check and rep.name == name and seed_file in rep.claim
    assert rep.checks and rep.passed, [k for k, ok in rep.checks.items() if not ok]
    assert len({tuple(r) for r in rep.rows}) == 1
    assert rep.figures and all(p.exists() and p.stat().st_size > 10_000 for p in rep.figures)
    assert json.loads(rep.save(out).read_text())["passed"] is True
    assert untouched
