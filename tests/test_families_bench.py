"""benchmarks/families.py on fake results: which runs a rerun skips, the expected duration, the mean ± s.e.
rows and the table (a real run trains every preset for its default budget: that is the lead's, not a test's)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))  # the script imports its sibling toy.py as a script would
_spec = importlib.util.spec_from_file_location("bench_families", BENCH / "families.py")
assert _spec is not None and _spec.loader is not None
families = importlib.util.module_from_spec(_spec)
sys.modules["bench_families"] = families  # its dataclass looks its module up while the module runs
_spec.loader.exec_module(families)


def fake(preset: str, seed: int, **metrics: float) -> dict:
    return {"preset": preset, "family": families.PRESETS[preset].name, "seed": seed, "budget": "5,000 steps",
            "steps": 5000, "wall_seconds": 300.0 + 60 * seed, "metrics": metrics,
            "floor": {"fid": 0.5, "is": 9.8}, "load_before": 0.1 * seed, "load_after": 1.0 + seed,
            "command": "python benchmarks/families.py --seeds 2"}


def save(out: Path, tag: str, result: dict) -> None:
    path = families.result_path(out, tag, result["preset"], result["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))


def test_budget_tags_keep_capped_runs_apart_from_the_default():
    assert families.budget_tag(0, 0) == "default"
    assert families.budget_tag(0.2, 0) == "0.2min"
    assert families.budget_tag(0.2, 300) == "0.2min-n300"
    assert families.budget_tag(0, 300) == "n300"


def test_a_rerun_skips_finished_runs_unless_forced(tmp_path):
    save(tmp_path, "default", fake("dcgan-mnist", 0, fid=3.0))
    save(tmp_path, "0.2min", fake("cgan-mnist", 1, fid=3.0))  # another budget's result does not count
    presets = ["dcgan-mnist", "cgan-mnist"]
    todo = families.pending(tmp_path, "default", presets, 2, force=False)
    assert todo == [("cgan-mnist", 0), ("dcgan-mnist", 1), ("cgan-mnist", 1)]  # seed-major, the finished run left out
    assert len(families.pending(tmp_path, "default", presets, 2, force=True)) == 4


def test_expected_seconds_follow_the_budget_and_the_evaluations():
    measured = {"rate": 10.0, "startup": 5.0, "score_s_per_sample": 0.01}

    def cfg(steps: int, limit: float, eval_every: int, n: int) -> SimpleNamespace:
        return SimpleNamespace(train=SimpleNamespace(steps=steps, time_limit=limit, eval_every=eval_every),
                               eval=SimpleNamespace(num_samples=n))

    # 1,000 steps at 10 steps/s = 100 s; the final evaluation (with its floor) scores 1,000 samples: 10 s
    assert families.expected_seconds(cfg(1000, 0, 0, 1000), measured) == pytest.approx(5 + 100 + 10)
    # a 1-minute time limit stops it first, at step 600: one periodic evaluation (step 500) at half the cost
    assert families.expected_seconds(cfg(1000, 1.0, 500, 1000), measured) == pytest.approx(5 + 60 + 10 + 5)
    # periodic evaluations every 250 steps of 1,000: steps 250, 500, 750 (the last step's is the final one)
    assert families.expected_seconds(cfg(1000, 0, 250, 1000), measured) == pytest.approx(5 + 100 + 10 + 15)


def test_final_record_is_the_last_training_evaluation(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [{"step": 2500, "fid": 9.0}, {"step": 5000, "fid": 4.0, "floor": {"fid": 0.5}},
             {"step": 5000, "source": "gankit eval", "fid": 4.2}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert families.final_record(path) == lines[1]
    path.write_text(json.dumps(lines[2]) + "\n")
    with pytest.raises(RuntimeError, match="no end-of-training evaluation"):
        families.final_record(path)


def test_rows_give_mean_and_standard_error_over_seeds_in_preset_order():
    results = [fake("vae-mnist", 0, code_mmd2=0.01, code_w1=0.2, fid=30.0, **{"is": 5.0}),
               fake("dcgan-mnist", 1, recall=0.5, precision=0.7, fid=5.0, **{"is": 9.0}),
               fake("dcgan-mnist", 0, recall=0.3, precision=0.9, fid=3.0, **{"is": 8.0}),
               fake("stacked-mnist-dcgan", 0, modes=990.0, mode_kl=0.1, rand_fid=12.0)]
    rows = families.summarise(results)
    assert [r["preset"] for r in rows] == ["dcgan-mnist", "stacked-mnist-dcgan", "vae-mnist"]
    dcgan = rows[0]
    # FID 3 and 5: mean 4, s.e. = sd / sqrt(2) = sqrt(2) / sqrt(2) = 1
    assert dcgan["seeds"] == 2 and dcgan["fid"] == "4 ± 1" and dcgan["is"] == "8.5 ± 0.5"
    assert dcgan["measure"] == "recall 0.4 ± 0.1; precision 0.8 ± 0.1"
    assert dcgan["wall_min"] == "5.5 ± 0.5" and dcgan["floor"] == "0.5 ± 0 / 9.8 ± 0"
    assert dcgan["load"] == "0.10 / 2.00"  # the worst load of its runs, before and after
    stacked = rows[1]
    assert stacked["fid"] == "12" and stacked["is"] == "–" and stacked["extractor"] == "random embedding"
    assert rows[2]["measure"] == "code-prior MMD² 0.01; code-prior W1 0.2"  # one seed: no ± at all
    md = families.table(rows).splitlines()
    assert len(md) == 2 + 3 and md[0].count("|") == len(families.COLUMNS) + 1
    assert "12 (random embedding)" in md[3] and "(random embedding)" not in md[2]


def test_table_mode_writes_the_saved_results_without_training(tmp_path, capsys):
    for seed in (0, 1):
        save(tmp_path, "default", fake("cgan-mnist", seed, class_accuracy=0.9 + 0.02 * seed, fid=4.0, **{"is": 9.0}))
    assert families.main(["--table", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "families.md").read_text()
    assert text.startswith("`python benchmarks/families.py --seeds 2`")
    assert "| cgan-mnist | 5,000 steps | 2 | 5000 ± 0 | 5.5 ± 0.5 | class accuracy 0.91 ± 0.01 |" in text
    saved = json.loads((tmp_path / "families.json").read_text())
    assert len(saved["runs"]) == 2 and saved["rows"][0]["preset"] == "cgan-mnist"
    assert "cgan-mnist" in capsys.readouterr().out
    assert not (tmp_path / "families" / "default" / "runs").exists()  # nothing trained


TOY_PRESETS = {"gauss1d", "grid25", "grid25-drs", "points", "ring8", "ring8-mmgan", "ring8-pacgan", "ring8-wgan",
               "ring8-wgan-gp"}  # points, not images: not in the table


def test_the_table_covers_every_image_preset_readme_trains():
    import re

    readme = (BENCH.parent / "README.md").read_text()
    trained = set(re.findall(r"gankit train ([a-z][a-z0-9-]+)", readme)) | set(re.findall(r"runs/([a-z][a-z0-9-]+)",
                                                                                          readme))
    presets = {p.stem for p in (BENCH.parent / "src" / "gankit" / "presets").glob("*.yaml")}
    images = (trained & presets) - TOY_PRESETS - {"dcgan-folder"}  # dcgan-folder trains on the user's own folder
    assert images <= set(families.PRESETS), images - set(families.PRESETS)
    assert set(families.PRESETS) <= presets and all(p in readme for p in families.PRESETS)


def test_every_family_names_metrics_the_registry_knows():
    from gankit import metrics as metrics_mod
    from gankit.errors import ConfigError

    for fam in set(families.PRESETS.values()):
        for name in fam.metrics:
            metrics_mod.METRICS.get(name)
    with pytest.raises(ConfigError):  # what the loop above relies on: an unknown name is refused
        metrics_mod.METRICS.get("no-such-metric")
