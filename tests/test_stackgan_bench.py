"""benchmarks/stackgan.py: its --pretrain path imports what it calls (it once named a function that had moved)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gankit import pretrain
from gankit.nets import text

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "stackgan.py"


def test_the_benchmark_loads_and_pretrains_with_the_library_functions():
    spec = importlib.util.spec_from_file_location("bench_stackgan", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.pretrain_text_encoder is pretrain.pretrain_text_encoder
    assert bench.save_text_encoder is text.save_text_encoder
