"""Limits on what a config, a YAML text or a request may make gankit allocate (README, "Reliability").

One class of hostile or absurd input per section: YAML alias bombs, numbers beyond Python's 4,300-digit
conversion limit, configs (from a file, an override, a checkpoint or an export) whose networks or
batches exceed the machine, and sample counts beyond memory. Where allocation is the danger the commands
run in a subprocess under an address-space limit (``RLIMIT_AS``): a regression fails the check instead of
exhausting the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import TINY
from gankit import api, budget
from gankit import config as config_mod
from gankit.cli import MAX_PLOT_POINTS, main
from gankit.errors import ConfigError
from gankit.registry import RECIPES
from gankit.train.stats import parse_record
from gankit.yamlio import MAX_ALIASES, MAX_BYTES, read_yaml

SRC = str(Path(api.__file__).resolve().parents[1])

LAUGHS = "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip(["", "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi")
)  # 9^9 = 387 million leaves in ~350 bytes
FLOW_LAUGHS = "[&a [1,1,1,1,1,1,1,1,1], " + ", ".join(
    f"&{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefg", "bcdefgh")) + "]"
DIGITS = "1" * 4301


# ------------------------------------------------------------------------------------- YAML alias bombs


@pytest.mark.parametrize("text", [LAUGHS, f"x: {FLOW_LAUGHS}\n"])
def test_an_alias_bomb_is_refused_in_well_under_a_second_without_its_value(text):
    assert len(text) < 600
    start = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        read_yaml(text, "bomb.yaml")
    assert time.perf_counter() - start < 1.0
    msg = str(exc.value)
    assert "bomb.yaml is refused" in msg and "100,000 values" in msg and "lol" not in msg and len(msg) < 200


def test_aliases_within_the_limits_still_work_and_merge_keys_may_override():
    data = read_yaml("base: &b {lr: 0.001, betas: [0.5, 0.9]}\ng: {<<: *b, lr: 0.002}\nd: *b\n", "ok")
    assert data["g"] == {"lr": 0.002, "betas": [0.5, 0.9]} and data["d"] == {"lr": 0.001, "betas": [0.5, 0.9]}
    many = lambda k: "l: &l [1]\nm: [" + ", ".join(["*l"] * k) + "]\n"  # noqa: E731
    assert len(read_yaml(many(MAX_ALIASES), "ok")["m"]) == MAX_ALIASES
    with pytest.raises(ConfigError, match=f"more than {MAX_ALIASES} aliases"):
        read_yaml(many(MAX_ALIASES + 1), "x")


@pytest.mark.parametrize("text, message", [
    ("train: {steps: 1, steps: 2}\n", "key 'steps' appears twice"),
    ("train:\n  steps: 1\ntrain:\n  d_steps: 2\n", "(line 3): key 'train' appears twice"),
    ("a: &x [1, *x]\n", "an alias refers to a value that contains it"),
    ("x" * (MAX_BYTES + 1), "more than 1 MiB"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
])
def test_duplicate_keys_self_reference_size_and_depth_are_refused(text, message):
    with pytest.raises(ConfigError, match=r"refused") as exc:
        read_yaml(text, "f.yaml")
    assert message in str(exc.value)


def test_every_yaml_reader_of_gankit_goes_through_the_bounded_one():
    offenders = []
    for path in Path(SRC, "gankit").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name != "yamlio.py" and any(s in text for s in ("safe_load", "yaml.load", "SafeLoader", "full_load")):
            offenders.append(path.name)
    assert offenders == []


# ------------------------------------------------------------------- numbers beyond Python's digit limit


@pytest.mark.parametrize("key, message", [
    ("run.name", "run.name: each folder name must be at most 255 bytes"),
    ("train.steps", "train.steps must be an integer of at most 19 digits, got a 4301-character number"),
    ("g_optim.lr", "g_optim.lr must be a finite number"),
    ("eval.seed", "eval.seed must be an integer of at most 19 digits"),
])
def test_a_4301_digit_number_names_its_key_from_an_override_and_a_file(capsys, tmp_path, key, message):
    assert main(["train", "--dry-run", f"{key}={DIGITS}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Exceeds the limit" not in err
    section, name = key.split(".")
    (tmp_path / "c.yaml").write_text(f"{section}:\n  {name}: {DIGITS}\n")
    assert main(["train", "--dry-run", "-c", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_huge_numbers_in_json_lines_and_messages_never_raise():
    assert parse_record('{"step": ' + DIGITS + "}") is None  # a damaged line, skipped like any other
    assert parse_record('{"step": 3, "loss": 1e999}') == {"step": 3, "loss": float("inf")}
    with pytest.raises(ConfigError,
                       match="train.steps must be an integer of at most 19 digits, got a 7226-digit integer"):
        config_mod.from_dict({"train": {"steps": 7**8549}})  # an int Python can hold but not print


# ---------------------------------------------------------------------- memory estimate before building


def test_the_footprint_counts_parameters_exactly_without_allocating(tiny):
    cfg = tiny("generator.width=48", "generator.depth=3")
    fp = api.fits(cfg, (2,))
    recipe = RECIPES.get("gan")(cfg, (2,), "cpu")
    real = {k: sum(p.numel() for p in m.parameters()) for k, m in recipe.modules().items()}
    assert fp.params == sum(real.values()) and fp.g_params == real["generator"]
    # one linear layer per hidden layer plus the output: per-sample outputs >= width * depth
    assert fp.g_acts >= 48 * 3
    b = cfg.data.batch_size
    assert budget.training_bytes(cfg, fp, (2,)) == 4 * (4 * fp.params + max(b * (fp.g_acts + 2 * fp.d_acts),
                                                                           3 * cfg.eval.num_samples * 2))
    huge = budget.footprint(budget.on_meta(lambda: {"generator": torch.nn.Linear(10**6, 10**6)}), (2,), forward=False)
    assert huge.params == 10**12 + 10**6


@pytest.mark.parametrize("override, message", [
    ("generator.width=1000000", "would need about"),
    ("data.batch_size=1000000000000", "data.batch_size=1000000000000"),
    ("eval.num_samples=1000000000000", "eval.num_samples=1000000000000"),
    ("run.max_memory_gb=0.000001", "set by run.max_memory_gb"),
])
def test_a_run_beyond_the_memory_bound_is_refused_before_anything_is_written(capsys, tmp_path, override, message):
    out = tmp_path / "runs"
    assert main(["train", "ring8", *TINY, f"run.out_dir={out}", override]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "run.max_memory_gb=N" in err
    assert not out.exists()


def test_the_bound_is_overridable_both_ways(tiny, monkeypatch):
    cfg = tiny()
    api.fits(cfg, (2,))  # fits the machine
    monkeypatch.setenv(budget.ENV, "0.000001")
    with pytest.raises(ConfigError, match="set by GANKIT_MAX_MEMORY_GB"):
        api.fits(cfg, (2,))
    cfg.run.max_memory_gb = 1.0  # the config's own key wins over the environment
    api.fits(cfg, (2,))
    monkeypatch.setenv(budget.ENV, "lots")
    with pytest.raises(ConfigError, match="GANKIT_MAX_MEMORY_GB must be a number of GB > 0, got 'lots'"):
        budget.limit()


@pytest.mark.parametrize("key, value, message", [
    ("generator.depth", 1001, "network depth must be at most 1000 layers"),
    ("generator.levels", 11, "generator.levels must be at most 10"),
    ("data.image_size", 1025, "data.image_size must be at most 1024 pixels"),
    ("run.max_memory_gb", -1, "run.max_memory_gb must be >= 0"),
])
def test_structural_limits(key, value, message):
    with pytest.raises(ConfigError, match=message):
        config_mod.resolve("ring8", overrides=[f"{key}={value}"])
    config_mod.resolve("ring8", overrides=[f"{key}={value - 1 if value > 0 else 0}"])  # the bound itself passes


# --------------------------------------------------------------------------------- samples beyond memory


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("limits")
    return api.train(config_mod.resolve("ring8", overrides=[*TINY, f"run.out_dir={out}", "run.name=r"])).root


def test_streamed_files_equal_the_samples_drawn_at_once(trained, tmp_path, capsys):
    n = budget.SAMPLE_CHUNK + 100  # two chunks
    assert main(["sample", str(trained), "-n", str(n), "-o", str(tmp_path / "s.npy"), "--seed", "3"]) == 0
    assert main(["sample", str(trained), "-n", "50", "-o", str(tmp_path / "s.csv"), "--seed", "3"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), api.sample(trained, n, seed=3))
    np.testing.assert_allclose(np.loadtxt(tmp_path / "s.csv", delimiter=","), api.sample(trained, 50, seed=3),
                               rtol=1e-5, atol=1e-6)  # %.6g
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_file_that_would_not_fit_on_disk_is_refused_first(trained, tmp_path, capsys):
    out = tmp_path / "big.npy"
    assert main(["sample", str(trained), "-n", "1000000000000000", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "on disk" in err and "draw fewer (-n)" in err
    assert list(tmp_path.iterdir()) == []


def test_a_png_shows_a_capped_number_of_samples_and_says_so(trained, tmp_path, capsys):
    assert main(["sample", str(trained), "-n", str(MAX_PLOT_POINTS + 1), "-o", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert f"a .png shows at most {MAX_PLOT_POINTS}; -o FILE.npy writes all {MAX_PLOT_POINTS + 1}" in out


@pytest.mark.parametrize("argv, message", [
    (["eval", "RUN", "-n", "1000000000000"], "score fewer samples"),
    (["sample", "RUN", "-n", "1000000000000", "-o", "x.npy", "--rejection", "5"], "draw fewer samples (-n)"),
    (["sample", "RUN", "--interpolate", "linear", "-n", "100000", "--steps", "10000000", "-o", "x.npy"], "--steps"),
])
def test_samples_kept_in_memory_are_checked_against_it(trained, tmp_path, capsys, argv, message):
    argv = [str(trained) if a == "RUN" else str(tmp_path / a) if a == "x.npy" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "would need about" in err and message in err and "GANKIT_MAX_MEMORY_GB" in err


# ---------------------------------------------------- the dangerous cases under an address-space limit

HEADROOM = 96 << 20  # address space the commands may add after the imports
STREAMED = 14_000_000  # 2-D samples: a 112 MB .npy, more than HEADROOM (drawn at once: twice that)

PRELUDE = """
import json, resource, sys, time, io, contextlib
import numpy, torch
torch.set_num_threads(1)
import gankit
from gankit import api, cli, config, budget
from gankit.serve.server import Dashboard
from gankit.viz import plot_points
vm = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize')).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + HEADROOM, resource.RLIM_INFINITY))
results = {}
def cli_case(name, argv):
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = cli.main(argv)
        except BaseException as exc:
            rc, err = -1, io.StringIO(repr(exc)[:300])
    results[name] = {"rc": rc, "err": err.getvalue(), "seconds": time.perf_counter() - start}
"""


def _tampered_export(run: Path, dest: Path, **changes: dict[str, int]) -> Path:
    """A copy of ``run`` whose generator export's metadata says ``changes`` (its tensors unchanged)."""
    import shutil

    shutil.copytree(run, dest)
    path = dest / "generator.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    for section, values in changes.items():
        cfg[section].update(values)
    save_file(load_file(str(path)), str(path), metadata={**meta, "config": json.dumps(cfg)})
    return dest


@pytest.fixture(scope="module")
def limited(trained, tmp_path_factory) -> dict[str, dict]:
    """Run every dangerous case in one subprocess under RLIMIT_AS; their results by name."""
    root = tmp_path_factory.mktemp("limited")
    (root / "bomb.yaml").write_text(LAUGHS)
    served = root / "served"
    served.mkdir()
    import shutil

    shutil.copytree(trained, served / "good")
    (served / "bomb").mkdir()
    (served / "bomb" / "config.yaml").write_text(LAUGHS)
    deep = _tampered_export(trained, root / "deep", generator={"depth": 10_000_000})
    wide = _tampered_export(trained, root / "wide", generator={"width": 10_000_000})
    code = PRELUDE.replace("HEADROOM", str(HEADROOM)) + textwrap.dedent(f"""
        cli_case("file", ["train", "--dry-run", "-c", {str(root / "bomb.yaml")!r}])
        cli_case("override", ["train", "--dry-run", "g_optim.betas=" + {FLOW_LAUGHS!r}])
        start = time.perf_counter()
        runs = Dashboard({str(served)!r}).runs()["runs"]
        results["serve"] = {{"ids": sorted(r["id"] for r in runs), "json": len(json.dumps(runs)),
                            "seconds": time.perf_counter() - start}}
        cli_case("digits", ["train", "--dry-run", "train.steps=" + "1" * 4301])
        cli_case("export-depth", ["sample", {str(deep)!r}, "-n", "10", "-o", {str(root / "d.npy")!r}])
        cli_case("export-width", ["sample", {str(wide)!r}, "-n", "10", "-o", {str(root / "w.npy")!r}])
        cli_case("batch", ["train", "ring8", *{TINY!r}, "run.out_dir={root / "runs"}", "data.batch_size=1000000000000"])
        cli_case("width", ["train", "ring8", *{TINY!r}, "run.out_dir={root / "runs"}", "generator.width=100000"])
        cli_case("stream", ["sample", {str(trained)!r}, "-n", "{STREAMED}", "-o", {str(root / "big.npy")!r}])
        cli_case("in-memory", ["sample", {str(trained)!r}, "-n", "{STREAMED}", "-o", {str(root / "big2.npy")!r},
                               "--rejection", "1"])
        print(json.dumps(results))
    """)
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "GANKIT_MAX_MEMORY_GB": ""}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["_root"] = str(root)
    return out


def _one_line(case: dict, rc: int, *needles: str) -> None:
    assert case["rc"] == rc, case
    assert case["err"].startswith("gankit: error: ") and case["err"].count("\n") == 1, case
    for needle in needles:
        assert needle in case["err"], case


def test_alias_bombs_under_a_memory_limit_file_and_override(limited):
    _one_line(limited["file"], 2, "is refused", "100,000 values")
    _one_line(limited["override"], 2, "override g_optim.betas is refused")
    assert limited["file"]["seconds"] < 1.0 and limited["override"]["seconds"] < 1.0


def test_a_served_bomb_config_breaks_only_its_own_run(limited):
    assert limited["serve"]["ids"] == ["bomb", "good"]
    assert limited["serve"]["json"] < 5000 and limited["serve"]["seconds"] < 1.0


def test_digits_under_a_memory_limit(limited):
    _one_line(limited["digits"], 2, "train.steps must be an integer of at most 19 digits")


def test_an_export_whose_metadata_asks_for_too_much_is_refused_before_building(limited):
    _one_line(limited["export-depth"], 2, "does not hold a generator its metadata can rebuild",
              "network depth must be at most 1000")
    _one_line(limited["export-width"], 2, "the generator of", "would need about", "GANKIT_MAX_MEMORY_GB=N")
    assert limited["export-depth"]["seconds"] < 5 and limited["export-width"]["seconds"] < 5


def test_runs_beyond_memory_are_refused_under_a_memory_limit(limited):
    _one_line(limited["batch"], 2, "would need about", "address-space limit")
    _one_line(limited["width"], 2, "would need about", "address-space limit")
    assert not Path(limited["_root"], "runs").exists()


def test_a_sample_file_larger_than_memory_is_streamed(limited):
    assert limited["stream"]["rc"] == 0, limited["stream"]
    x = np.load(Path(limited["_root"], "big.npy"), mmap_mode="r")
    assert x.shape == (STREAMED, 2) and np.isfinite(x[-1]).all()
    print({k: round(v.get("seconds", 0), 2) for k, v in limited.items() if isinstance(v, dict)})
    _one_line(limited["in-memory"], 2, "would need about")  # the same count held in memory is refused
