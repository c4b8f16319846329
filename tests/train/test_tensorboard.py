"""TensorBoard mirror of a run (train.tensorboard, gankit export tensorboard): the event files read back
through TensorBoard's own EventAccumulator hold exactly the run's logged numbers."""

import sys

import numpy as np
import pytest

from extras import require

require("tensorboard", "gankit[tensorboard]")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from gankit import api, cli  # noqa: E402
from gankit.errors import GankitError  # noqa: E402
from gankit.train import tensorboard as tb  # noqa: E402
from gankit.train.stats import read_jsonl  # noqa: E402


def events(folder):
    """{tag: [(step, value), ...]} and the image tags' steps, as TensorBoard reads them."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    images = {tag: [e.step for e in acc.Images(tag)] for tag in acc.Tags()["images"]}
    return scalars, images


def logged(run):
    """The same shape from the run's own files (float32: TensorBoard stores scalars as 32-bit floats)."""
    want: dict[str, list] = {}
    for prefix, path in (("stats", run.stats), ("metrics", run.metrics)):
        for record in read_jsonl(path):
            groups = [(prefix, record)]
            if prefix == "metrics" and "floor" in record:
                groups.append(("floor", record["floor"]))
            for tag, values in groups:
                for k, v in values.items():
                    if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                        want.setdefault(f"{tag}/{k}", []).append((record["step"], float(np.float32(v))))
    return want


def test_live_mirror_holds_the_stats_metrics_and_sample_grids(tiny):
    run = api.train(tiny("train.tensorboard=true", "train.sample_every=10", "run.name=tb"))
    scalars, images = events(run.root / "tensorboard")
    want = logged(run)
    assert scalars == want
    assert [s for s, _ in scalars["stats/d_loss"]] == [5, 10, 15, 20]  # every stats line, once
    assert any(t.startswith("metrics/") for t in scalars) and any(t.startswith("floor/") for t in scalars)
    assert images == {"samples": [s for s, _ in run.sample_frames()]} and images["samples"] == [10, 20]


def test_export_replays_a_run_trained_without_it_and_a_resume_keeps_each_step_once(tiny, capsys):
    run = api.train(tiny("run.name=plain", "train.steps=10", "train.checkpoint_every=5"))
    assert not (run.root / "tensorboard").exists()
    assert cli.main(["export", "tensorboard", str(run.root)]) == 0
    assert f"to {run.root / 'tensorboard'}" in capsys.readouterr().out
    assert events(run.root / "tensorboard")[0] == logged(run)
    api.resume(run.root, ["train.steps=20", "train.tensorboard=true"])  # the live mirror takes over the folder
    scalars, _ = events(run.root / "tensorboard")
    assert scalars == logged(run)
    assert [s for s, _ in scalars["stats/g_loss"]] == [5, 10, 15, 20]
    assert len(list((run.root / "tensorboard").glob(tb.EVENTS))) == 1  # old event files replaced, not added to
    other = run.root.parent / "elsewhere"
    assert cli.main(["export", "tensorboard", str(run.root), "-o", str(other)]) == 0
    assert events(other)[0] == scalars


def test_numbers_keep_ints_and_floats_only():
    record = {"step": 3, "a": 1, "b": 2.5, "ok": True, "kind": "x", "floor": {"w1": 1}}
    assert tb.numbers(record) == {"a": 1.0, "b": 2.5}


def test_missing_package_and_empty_run_are_one_line(tiny, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.yaml").write_text("{}\n")
    assert cli.main(["export", "tensorboard", str(empty)]) == 1
    assert capsys.readouterr().err.startswith(f"gankit: error: '{empty}' has no stats.jsonl or metrics.jsonl")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the extra were not installed
    with pytest.raises(GankitError, match=r"pip install 'gankit\[tensorboard\]'"):
        tb.summary_writer()
    cfg = tiny("train.tensorboard=true", "run.name=nopkg")
    with pytest.raises(GankitError, match="needs the tensorboard package"):
        api.build_trainer(cfg, api.RunDir(tmp_path / "never"))
    assert not (tmp_path / "never").exists()  # refused before anything was written
