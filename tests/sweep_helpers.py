"""Helpers shared by the sweep tests (tests/test_sweep.py, tests/test_sweep_launchers.py)."""

from __future__ import annotations

import csv
import sys

from gankit.cli import main


def run(capsys, *argv):
    """``gankit ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def python(code: str) -> list[str]:
    """A command line running ``code`` in this Python."""
    return [sys.executable, "-c", code]
