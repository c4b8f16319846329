"""``gankit theory all --quick`` through the CLI: every check's quick mode holds (exit 0, every JSON passed)."""

from __future__ import annotations

import json

import pytest

from gankit.cli import main
from gankit.registry import THEORY


@pytest.mark.slow
def test_theory_all_quick_exits_0(tmp_path, capsys):
    code = main(["theory", "all", "--quick", "-o", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "checks failed" not in err and "- [ ]" not in out
    for name in THEORY.names():
        report = json.loads((tmp_path / f"{name}.json").read_text())
        assert report["passed"] is True and report["checks"], name
