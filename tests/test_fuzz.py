"""Property-based tests (hypothesis): whatever text, bytes or arrays arrive, the config parser and the data
loaders give a valid result or their one-line error (ConfigError, DataError), never another exception,
and nothing in the input is ever executed.

Deterministic (``derandomize``, no example database) and small, so the file runs in seconds and CI
sees the same examples every time.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import pickle
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from gankit import config as C
from gankit import config_validate
from gankit.data.images import build_folder, encode_idx, load_numpy_pickle, read_idx
from gankit.data.toy import load_points
from gankit.errors import ConfigError, DataError
from gankit.train.stats import read_jsonl, truncate_after

MARKER = Path(tempfile.gettempdir()) / "gankit-fuzz-payload-ran"


def fuzz(n: int):
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _one_line(exc: Exception) -> None:
    text = str(exc)
    assert text and "\n" not in text and len(text) < 600, text


def _keys(cls: type = C.Config, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = config_validate._fields(cls)[f.name][1]
        out += _keys(tp, key + ".") if dataclasses.is_dataclass(tp) else [key]
    return out


KEYS = _keys()
HOSTILE = [
    "", "=", "==", " ", "~", "null", "[]", "{}", "{a: 1}", "[1, [2]]", "!!python/object/apply:os.system ['touch "
    f"{MARKER}']", f"!!python/object/new:os.system ['touch {MARKER}']", "!!binary aGk=", "&a [*a]", "*b", "? [a]",
    ".nan", ".inf", "-.inf", "nan", "inf", "1e400", "-0", "0x1F", "0o17", "1_000", "9" * 40, "-" + "9" * 40, "1e3",
    "2024-05-01", "12:30:00", "yes", "no", "on", "\u00e9t\u00e9", "\u2603", "a\nb", "a\x00b", "\t", "'quoted'",
    '"\\x00"', "---\n---", "[" * 300, "a: b: c", "%YAML 1.1", "@", "`", "|\n  block", "..", "../..", "/abs",
]
VALUES = st.one_of(
    st.sampled_from(HOSTILE), st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.lists(st.integers(-3, 3).map(str) | st.sampled_from(["auto", "fid", "w1", "x"]), max_size=4).map(",".join),
)


def _check_resolve(overrides: list[str]) -> None:
    """Resolve: a valid Config that round-trips through YAML, or one ConfigError line."""
    try:
        cfg = C.resolve("ring8", overrides=overrides)
    except ConfigError as exc:
        _one_line(exc)
    else:
        assert C.from_dict(yaml.safe_load(C.dump(cfg))) == cfg
    assert not MARKER.exists(), "an override ran code"


@fuzz(150)
@given(st.text(max_size=60))
def test_any_override_text_is_a_config_or_one_config_error(text):
    _check_resolve([text])


@fuzz(200)
@given(st.lists(st.tuples(st.sampled_from(KEYS + ["train", "nosuch.key", "train.steps.x", "a..b", ""]), VALUES),
                min_size=1, max_size=3))
def test_hostile_values_for_every_key_are_a_config_or_one_config_error(pairs):
    _check_resolve([f"{key}={value}" for key, value in pairs])


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from([h for h in HOSTILE if len(h) < 100]))
NESTED = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                      max_leaves=8)
FIELD_NAMES = sorted({k.split(".")[-1] for k in KEYS})
SECTIONS = st.dictionaries(
    st.sampled_from([f.name for f in dataclasses.fields(C.Config)] + ["bogus"]),
    st.dictionaries(st.sampled_from(FIELD_NAMES + ["bogus"]), NESTED, max_size=4) | NESTED, max_size=4)


@fuzz(120)
@given(SECTIONS)
def test_yaml_files_of_any_structure_are_a_config_or_one_config_error(tmp_path, data):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        cfg = C.resolve(file=path)
    except ConfigError as exc:
        _one_line(exc)
    else:
        assert C.from_dict(yaml.safe_load(C.dump(cfg))) == cfg


@fuzz(250)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.lists(st.sampled_from(["train:", "  steps: 5", "data: {name: grid25", "- x", "  - y", ": :",
                                           "run: !!python/object/apply:os.system ['touch " + str(MARKER) + "']",
                                           "&a x", "*a", "\t", "key: [1, 2", "'", '"\\', "? x"]),
                          max_size=6).map(lambda ls: "\n".join(ls).encode())))
def test_any_bytes_as_a_config_file_are_a_config_or_one_config_error(tmp_path, raw):
    path = tmp_path / "c.yaml"
    path.write_bytes(raw)
    try:
        C.resolve(file=path)
    except ConfigError as exc:
        _one_line(exc)
    assert not MARKER.exists(), "a config file ran code"


# ------------------------------------------------------------------------------------- point files


def _points_or_error(path: Path) -> np.ndarray | None:
    try:
        arr = load_points(path)
    except DataError as exc:
        _one_line(exc)
        return None
    assert arr.dtype == np.float64 and arr.ndim == 2 and arr.size > 0 and np.isfinite(arr).all()
    return arr


@fuzz(200)
@given(st.binary(max_size=300), st.sampled_from([".npy", ".csv", ".txt"]))
def test_any_bytes_as_a_point_file_are_points_or_one_data_error(tmp_path, raw, suffix):
    path = tmp_path / f"p{suffix}"
    path.write_bytes(raw)
    _points_or_error(path)


@fuzz(200)
@given(st.lists(st.lists(st.sampled_from(["0", "1.5", "-2e3", "nan", "inf", "", " ", "x", "1,2", "1e999", "0x10"]),
                         min_size=1, max_size=4), max_size=6))
def test_csv_files_are_exactly_their_finite_rows_or_one_data_error(tmp_path, rows):
    path = tmp_path / "p.csv"
    text = "\n".join(",".join(r) for r in rows)
    path.write_text(text)
    arr = _points_or_error(path)
    if arr is not None:  # then every line was a row of the same number of finite numbers
        expect = [[float(v) for v in line.split(",")] for line in text.splitlines() if line.strip()]
        assert arr.tolist() == expect


DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.uint8, np.bool_, np.complex64, "U3",
                          "M8[s]"])


@fuzz(200)
@given(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)))
def test_npy_arrays_load_exactly_when_they_are_finite_numeric_tables(tmp_path, arr):
    path = tmp_path / "p.npy"
    np.save(path, arr)
    got = _points_or_error(path)
    numeric = arr.dtype.kind in "biuf"
    valid = numeric and arr.ndim in (1, 2) and arr.size > 0 and bool(np.isfinite(arr.astype(np.float64)).all())
    assert (got is not None) == valid
    if valid:
        assert np.array_equal(got, arr.reshape(len(arr), -1).astype(np.float64))


# --------------------------------------------------------------------------------- image folders


def _png(seed: int, size: int = 12) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


GOOD = _png(0)


def _decodes(raw: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
        return True
    except Exception:
        return False


DAMAGED = st.one_of(
    st.binary(max_size=200),
    st.integers(0, len(GOOD) - 1).map(lambda n: GOOD[:n]),  # truncated
    st.tuples(st.integers(0, len(GOOD) - 1), st.binary(min_size=1, max_size=8)).map(  # overwritten bytes
        lambda t: GOOD[: t[0]] + t[1] + GOOD[t[0] + len(t[1]):]),
    st.binary(max_size=100).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
    st.binary(max_size=100).map(lambda b: b"\xff\xd8\xff\xe0" + b),
)


@fuzz(60)
@given(st.lists(st.tuples(DAMAGED, st.sampled_from([".png", ".jpg", ".jpeg", ".PNG"])), min_size=1, max_size=4),
       st.booleans(), st.booleans())
def test_damaged_images_are_skipped_and_counted_never_a_crash(tmp_path_factory, caplog, files, with_good, stream):
    folder = tmp_path_factory.mktemp("imgs")
    if with_good:
        (folder / "good.png").write_bytes(GOOD)
    for i, (raw, suffix) in enumerate(files):
        (folder / f"f{i}{suffix}").write_bytes(raw)
    readable = int(with_good) + sum(_decodes(raw) for raw, _ in files)
    cfg = SimpleNamespace(path=str(folder), image_size=8, channels=1, labels=False, workers=0,
                          memory_mb=0 if stream else 1024, batch_size=4)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gankit"):
        try:
            ds = build_folder(cfg)
            x = ds.sample(6)
        except DataError as exc:
            _one_line(exc)
            assert readable == 0
            return
    assert readable >= 1 and tuple(x.shape) == (6, 1, 8, 8) and bool(x.isfinite().all())
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    if not stream:  # decoded up front: exactly the readable files, the rest counted in one warning
        assert len(ds) == readable
        total = len(files) + int(with_good)
        warned = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
        assert len(warned) == (readable < total)
        assert all(w.startswith(f"skipped {total - readable} unreadable image file(s) of {total} in ") for w in warned)


# --------------------------------------------------------------------------- IDX files and pickles


@fuzz(200)
@given(st.one_of(st.binary(max_size=64),
                 st.tuples(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]), st.integers(0, 4),
                           st.lists(st.integers(0, 6), max_size=4), st.binary(max_size=64)).map(
                     lambda t: bytes([0, 0, t[0], t[1]]) + b"".join(d.to_bytes(4, "big") for d in t[2]) + t[3])),
       st.booleans())
def test_any_bytes_as_an_idx_file_are_an_array_or_one_data_error(tmp_path, raw, gz):
    import gzip

    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    try:
        arr = read_idx(path)
    except DataError as exc:
        _one_line(exc)
    else:  # then the (decompressed) bytes were exactly the IDX encoding of the array
        payload = gzip.decompress(path.read_bytes()) if path.read_bytes()[:2] == b"\x1f\x8b" else raw
        assert arr.ndim == payload[3] and encode_idx(arr) == payload


@fuzz(100)
@given(hnp.arrays(st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
                  hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
def test_idx_round_trips(tmp_path, arr):
    path = tmp_path / "a.idx"
    path.write_bytes(encode_idx(arr))
    got = read_idx(path)
    assert got.dtype == arr.dtype and got.shape == arr.shape and np.array_equal(got, arr, equal_nan=True)


PLAIN = st.recursive(
    st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.text(max_size=5), st.binary(max_size=5),
              st.none(), hnp.arrays(st.sampled_from([np.uint8, np.int64, np.float32]), hnp.array_shapes(max_dims=2,
                                                                                                        max_side=3))),
    lambda c: st.lists(c, max_size=3) | st.tuples(c, c) | st.dictionaries(st.binary(max_size=3), c, max_size=3),
    max_leaves=6)


def _depth(obj) -> int:
    if isinstance(obj, (list, tuple)):
        return 1 + max(map(_depth, obj), default=0)
    if isinstance(obj, dict):
        return 1 + max(map(_depth, obj.values()), default=0)
    return 0


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        nan = a.dtype.kind == "f"
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=nan)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


@fuzz(150)
@given(PLAIN, st.sampled_from([2, 3, 4]))
def test_data_pickles_of_plain_data_round_trip(obj, protocol):
    assume(_depth(obj) <= 8)  # deeper nesting is refused on purpose
    assert _same(load_numpy_pickle(pickle.dumps(obj, protocol=protocol), "fuzz"), obj)


@fuzz(300)
@given(st.one_of(st.binary(max_size=120),
                 st.binary(max_size=120).map(lambda b: b"\x80\x02" + b),
                 PLAIN.map(lambda o: pickle.dumps(o, protocol=2)).flatmap(
                     lambda raw: st.integers(0, len(raw)).map(lambda n: raw[:n]))))
def test_any_bytes_as_a_data_pickle_are_data_or_one_data_error(raw):
    try:
        load_numpy_pickle(raw, "fuzz")
    except DataError as exc:
        _one_line(exc)


# ------------------------------------------------------------------------------------- JSON lines


@fuzz(200)
@given(st.lists(st.one_of(st.text(max_size=30), st.integers(0, 20).map(lambda s: f'{{"step": {s}, "x": 1.5}}'),
                          st.sampled_from(['{"step": "3"}', '{"step": true}', "[1]", "null", '{"step": 2', "{}"])),
                max_size=8))
def test_json_lines_logs_keep_exactly_their_valid_records(tmp_path, lines):
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    records = read_jsonl(path)
    assert all(isinstance(r, dict) and type(r.get("step", 0)) is int for r in records)
    truncate_after(path, 10)
    again = read_jsonl(path)
    assert again == [r for r in records if r.get("step", 0) <= 10]
    assert path.read_text().endswith("\n") or not again


@pytest.mark.parametrize("override", ["train.steps=" + "9" * 25, "model.pack=0", "run.name=..", "run.name=a/../../b",
                                      "run.name=/etc", "run.name=a\x00b", "data.path=a\x00b",
                                      "train.steps=" + "[" * 1200, "g_optim.lr=1e400", "g_optim.betas=[.nan, 0.9]",
                                      "eval.num_samples=-.inf"])
def test_found_by_fuzzing(override):
    """Inputs that used to crash or do harm (ZeroDivisionError, RecursionError, run.name=.. with --overwrite
    deleting the folder above run.out_dir) are now one ConfigError line."""
    with pytest.raises(ConfigError) as info:
        C.resolve("ring8", overrides=[override])
    _one_line(info.value)


def test_dates_and_numbers_given_for_strings_are_strings_and_1e3_is_an_integer():
    cfg = C.resolve("ring8",
                    overrides=["run.name=2024-05-01", "data.path=12", "train.steps=1e3", "train.log_every=5.0"])
    assert (cfg.run.name, cfg.data.path, cfg.train.steps, cfg.train.log_every) == ("2024-05-01", "12", 1000, 5)
    with pytest.raises(ConfigError, match="train.steps must be an integer, got '1e400'"):
        C.resolve("ring8", overrides=["train.steps=1e400"])


@pytest.mark.parametrize("argv,message", [
    (["train", "a.b=!!python/object/apply:os.system ['touch " + str(MARKER) + "']"], "unknown key 'a'"),
    (["train", "train.steps=!!python/object/apply:os.system ['touch " + str(MARKER) + "']"],
     "train.steps must be an integer"),
    (["train", "="], "override key '' must be dotted names"),
    (["train", "ring8", "train.steps=nan"], "train.steps must be an integer, got 'nan'"),
    (["train", "ring8", "g_optim.lr=inf"], "g_optim.lr must be a finite number"),
    (["train", "ring8", "train.steps=" + "9" * 30], "at most 19 digits"),
    (["train", "ring8", "run.name=a\nb\x1b[2J"], "got 'a\\nb\\x1b[2J'"),
    (["train", "ring8", "model.recipe=\x1b[31mred"], "unknown value '\\x1b[31mred'"),
    (["train", "ring8", "d\u00e4ta.name=ring8"], "unknown key 'd\u00e4ta'"),
    (["train", "ring8", "run.name=.."], "run.name must be a folder name under run.out_dir"),
])
def test_hostile_command_lines_exit_2_with_one_line_and_run_nothing(capsys, tmp_path, monkeypatch, argv, message):
    from gankit.cli import main

    monkeypatch.chdir(tmp_path)
    code = main([*argv, f"run.out_dir={tmp_path}/runs"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("gankit: error: ") and err.count("\n") == 1, err
    assert message in err and "\x1b" not in err
    assert not (tmp_path / "runs").exists() and not MARKER.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text,message", [
    ("train: {steps: [1, 2\n", "is not valid YAML (line 2)"),
    ("train:\n  steps: 5\n steps: 6\n", "is not valid YAML (line 3)"),
    ("\x00\x01", "is not valid YAML: unacceptable character"),
    ("- 1\n- 2\n", "must hold a mapping of sections, got list"),
    ("train: 5\n", "section 'train' must be a mapping"),
    ("run: {name: !!python/object/apply:os.system ['touch " + str(MARKER) + "']}\n",
     "could not determine a constructor"),
    ("a: &x [*x]\n", "an alias refers to a value that contains it"),  # refused before it could recurse
    ("train: {steps: 2.5}\n", "train.steps must be an integer, got 2.5"),
])
def test_malformed_config_files_exit_2_with_one_line(capsys, tmp_path, text, message):
    from gankit.cli import main

    path = tmp_path / "mine.yaml"
    path.write_text(text)
    code = main(["train", "--config", str(path), f"run.out_dir={tmp_path}/runs"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("gankit: error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "runs").exists() and not MARKER.exists()
