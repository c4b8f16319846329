"""benchmarks/selfcond.py's diagnostic: purity and NMI of a clustering against the test labels, in closed form."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "bench_selfcond", Path(__file__).resolve().parents[1] / "benchmarks" / "selfcond.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_purity_and_nmi_in_closed_form():
    y = np.repeat([0, 1], 50)
    assert bench.purity_nmi(y[::-1] * 7, y) == pytest.approx((1.0, 1.0))  # the classes under other names
    assert bench.purity_nmi(np.arange(100) % 2, y) == pytest.approx((0.5, 0.0))  # independent of the class
    # a split of each class into two pure clusters: purity 1, I = H(class) = ln 2, H(cluster) = ln 4
    assert bench.purity_nmi(np.arange(100) // 25, y) == pytest.approx((1.0, math.log(2) / math.sqrt(
        math.log(2) * math.log(4))))
    # one cluster of everything: purity the majority share, NMI 0 (no information)
    assert bench.purity_nmi(np.zeros(100), np.r_[np.zeros(70), np.ones(30)]) == pytest.approx((0.7, 0.0))
