"""Python-ecosystem basics of the CLI: --version, -v/-q/GANKIT_LOG_LEVEL, help text, no torch before parsing."""

import argparse
import json
import logging
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from gankit import cli
from gankit.errors import ConfigError

SRC = Path(__file__).resolve().parents[1] / "src"

PROBE = """
import io, json, sys, contextlib
from gankit import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        rc = cli.main(sys.argv[1:])
    except SystemExit as e:
        rc = e.code
heavy = sorted(m for m in ("torch", "numpy", "scipy", "matplotlib", "sklearn") if m in sys.modules)
print(json.dumps({"rc": rc, "heavy": heavy, "lines": len(out.getvalue().splitlines())}))
"""


def probe(*argv: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["list", "metrics"], ["--version"], ["train", "--help"]])
def test_parsing_and_listing_import_no_torch(argv):
    result = probe(*argv)
    assert result["rc"] == 0 and result["lines"] >= 1
    assert result["heavy"] == []


def test_the_probe_sees_torch_when_a_command_needs_it():
    """The check above can fail: a command that trains (here: resolves a config for training) imports torch."""
    result = probe("train", "--dry-run", "train.steps=5")
    assert result["rc"] == 0 and "torch" in result["heavy"]


def test_version_is_the_installed_metadata(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"gankit {version('gankit')}"


@pytest.mark.parametrize("quiet, verbose, env, level", [
    (False, False, None, logging.INFO), (True, False, "DEBUG", logging.WARNING), (False, True, "ERROR", logging.DEBUG),
    (False, False, "debug", logging.DEBUG), (False, False, " warning ", logging.WARNING),
    (False, False, "", logging.INFO),
])
def test_log_level_flags_beat_the_environment(quiet, verbose, env, level):
    assert cli.log_level(quiet, verbose, env) == level


def test_a_bad_log_level_is_one_line(monkeypatch, capsys):
    with pytest.raises(ConfigError, match="GANKIT_LOG_LEVEL='loud' is not a log level"):
        cli.log_level(False, False, "loud")
    monkeypatch.setenv("GANKIT_LOG_LEVEL", "loud")
    assert cli.main(["list", "presets"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: GANKIT_LOG_LEVEL='loud'") and err.count("\n") == 1


def test_quiet_and_verbose_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["-q", "-v", "list"])
    assert e.value.code == 2


def test_every_positional_argument_has_help():
    def positionals(parser: argparse.ArgumentParser, path: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from positionals(sub, f"{path} {name}")
            elif not action.option_strings:
                yield path, action

    found = list(positionals(cli.build_parser(), "gankit"))
    assert len(found) >= 10
    missing = [f"{path} {a.dest}" for path, a in found if not a.help]
    assert missing == []


def test_py_typed_marker_ships():
    import gankit

    assert (Path(gankit.__file__).parent / "py.typed").is_file()


def test_import_gankit_is_light_and_a_registry_fills_itself_on_first_use():
    code = ("import sys, gankit; light = 'torch' not in sys.modules; "
            "print(light, 'ring8' in gankit.DATASETS, 'torch' in sys.modules, 'nsgan' in gankit.OBJECTIVES.names())")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.split() == ["True", "True", "True", "True"], r.stderr
