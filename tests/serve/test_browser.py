"""The dashboard in a real headless Chromium: it loads, lists runs, and follows a run as it writes files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from gankit.serve import server as server_mod
from gankit.serve.server import Limits


def _append_stats(run: Path, *steps: int) -> None:
    with open(run / "stats.jsonl", "a", encoding="utf-8") as f:
        for s in steps:
            f.write(json.dumps({"step": s, "d_loss": 1.3, "g_loss": 0.7, "d_real": 0.55, "d_fake": 0.45}) + "\n")


def _canvas_ink(page, selector: str) -> float:
    """Mean alpha of a canvas's pixels (0: nothing drawn)."""
    return page.eval(f"""(() => {{ const c = document.querySelector({json.dumps(selector)});
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = 0; for (let i = 3; i < d.length; i += 4) s += d[i]; return s / (d.length / 4); }})()""")


def test_page_lists_the_run_and_follows_new_steps(served, runs_dir: Path, page) -> None:
    page.goto(served.url)
    assert page.wait_for("document.querySelector('#run-list li[data-run=\"ring8\"] .name')?.textContent") == "ring8"
    # the first run opens by itself and shows the steps trained so far (tiny run: 20 steps, logged every 5)
    # (the total comes with the config, which may arrive after the first stats: wait for both)
    assert page.wait_for("document.querySelector('#pane-0').dataset.step === '20' && "
                         "document.querySelector('#pane-0 h2 .step').textContent === 'step 20 / 20'") is True
    assert page.eval("document.querySelectorAll('#pane-0 .charts canvas').length") >= 3
    assert _canvas_ink(page, "#pane-0 canvas[data-chart=loss]") > 0

    _append_stats(runs_dir / "ring8", 25, 30)  # the run keeps training
    assert page.wait_for("document.querySelector('#pane-0').dataset.step === '30' && "
                         "document.querySelector('#pane-0 h2 .step').textContent === 'step 30 / 20'") is True
    # a torn line (being written) is not shown until it is complete
    with open(runs_dir / "ring8" / "stats.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 35, "d_loss": 1.')
    page.eval("new Promise(r => setTimeout(r, 1500))")
    assert page.eval("document.querySelector('#pane-0').dataset.step") == "30"
    with open(runs_dir / "ring8" / "stats.jsonl", "a", encoding="utf-8") as f:
        f.write('2, "g_loss": 0.8}\n')
    page.wait_for("document.querySelector('#pane-0').dataset.step === '35'")

    # metrics: the trainer's final record, then one from `gankit eval` with the real-vs-real floor
    first = json.loads((runs_dir / "ring8" / "metrics.jsonl").read_text().splitlines()[0])
    table = "document.querySelector('#pane-0 table.metrics')?.textContent"
    assert f"{first['w1']:.4g}" in page.wait_for(table)
    with open(runs_dir / "ring8" / "metrics.jsonl", "a", encoding="utf-8") as f:
        record = {"step": 35, "source": "gankit eval", "w1": 0.123456,
                  "floor": {"kind": "two samples", "w1": 0.0314159}}
        f.write(json.dumps(record) + "\n")
    # (the trainer's own last record carries a floor too now: wait for the eval record itself)
    text = page.wait_for(f"{table}.includes('step 35') && {table}")
    assert "step 35 (gankit eval)" in text and "0.1235" in text and "0.03142" in text


def test_toy_view_draws_snapshots_and_follows_new_ones(served, runs_dir: Path, page) -> None:
    page.goto(served.url + "#a=ring8")
    assert page.wait_for("document.querySelector('#pane-0 canvas.toy')?.dataset.step") == "20"
    assert page.eval("document.querySelector('#pane-0 .toy-view').hidden") is False
    assert page.eval("document.querySelector('#pane-0 .samples').hidden") is True  # toy runs: the live view instead
    assert _canvas_ink(page, "#pane-0 canvas.toy") > 100  # the heatmap covers the canvas
    legend = page.eval("document.querySelector('#pane-0 .legend').textContent")
    assert "real" in legend and "fake" in legend and "D(x)" in legend

    snaps = runs_dir / "ring8" / "snapshots"
    snap = json.loads((snaps / "step-000020.json").read_text())
    snap["step"] = 40
    (snaps / "step-000040.json").write_text(json.dumps(snap))
    page.wait_for("document.querySelector('#pane-0 canvas.toy').dataset.step === '40'")
    assert page.eval("document.querySelector('#pane-0 .snapshot-slider').max") == "2"  # steps 10, 20, 40
    # moving the slider back shows an earlier snapshot and stops following
    page.eval("(() => { const r = document.querySelector('#pane-0 .snapshot-slider'); r.value = 0;"
              " r.dispatchEvent(new Event('input')); })()")
    page.wait_for("document.querySelector('#pane-0 canvas.toy').dataset.step === '10'")
    (snaps / "step-000050.json").write_text(json.dumps({**snap, "step": 50}))
    page.wait_for("document.querySelector('#pane-0 .snapshot-slider').max === '3'")
    assert page.eval("document.querySelector('#pane-0 canvas.toy').dataset.step") == "10"


def test_image_run_sample_slider_and_side_by_side(served, runs_dir: Path, page) -> None:
    img = runs_dir / "digits"
    (img / "samples").mkdir(parents=True)
    (img / "config.yaml").write_text("run:\n  name: digits\ndata:\n  name: digits\ntrain:\n  steps: 300\n")
    _append_stats(img, 100)
    for step in (100, 200):
        Image.fromarray(np.full((8, 8), step // 2, np.uint8)).save(img / "samples" / f"step-{step:06d}.png")
    page.goto(served.url + "#a=digits")
    assert page.wait_for("document.querySelector('#pane-0 .sample-step')?.textContent") == "200"
    assert "step-000200.png" in page.eval("document.querySelector('#pane-0 img.sample').src")
    page.wait_for("document.querySelector('#pane-0 img.sample').complete && "
                  "document.querySelector('#pane-0 img.sample').naturalWidth === 8")
    page.eval("(() => { const r = document.querySelector('#pane-0 .sample-slider'); r.value = 0;"
              " r.dispatchEvent(new Event('input')); })()")
    assert "step-000100.png" in page.wait_for("document.querySelector('#pane-0 img.sample').src.includes('000100') && "
                                              "document.querySelector('#pane-0 img.sample').src")

    # the ⇆ button opens a second run beside the first
    page.eval("document.querySelector('#run-list li[data-run=\"ring8\"] button').click()")
    page.wait_for("!document.querySelector('#pane-1').hidden"
                  " && document.querySelector('#pane-1').dataset.step === '20'")
    assert page.eval("document.querySelector('#pane-0').dataset.run") == "digits"
    assert "b=ring8" in page.eval("location.hash")
    page.eval("document.querySelector('#pane-1 h2 button').click()")
    page.wait_for("document.querySelector('#pane-1').hidden")


def test_a_new_run_appears_and_a_rewritten_stats_file_is_reread(served, runs_dir: Path, page) -> None:
    page.goto(served.url + "#a=ring8")
    page.wait_for("document.querySelector('#pane-0').dataset.step === '20'")
    shutil.copytree(runs_dir / "ring8", runs_dir / "sweep" / "runs" / "seed1")
    page.wait_for("!!document.querySelector('#run-list li[data-run=\"sweep/runs/seed1\"]')")
    # a resumed run rewrites stats.jsonl (truncated at its checkpoint): the page starts over from it
    stats = runs_dir / "ring8" / "stats.jsonl"
    lines = stats.read_text().splitlines(keepends=True)[:2]
    tmp = stats.with_suffix(".tmp")
    tmp.write_text("".join(lines))
    tmp.replace(stats)
    page.wait_for("document.querySelector('#pane-0').dataset.step === '10'")


def test_the_page_follows_every_page_of_a_big_run(runs_dir: Path, serve_folder, page, monkeypatch) -> None:
    """Stats over several 1 MiB answers with a 2 MB damaged line inside, runs and frames one per answer."""
    monkeypatch.setattr(server_mod, "RUNS_PAGE", 1)
    monkeypatch.setattr(server_mod, "FRAMES_PAGE", 1)
    shutil.copytree(runs_dir / "ring8", runs_dir / "ring8-b")
    with open(runs_dir / "ring8" / "stats.jsonl", "a", encoding="utf-8") as f:
        for s in range(25, 60_025, 5):  # 12,000 rows, about 3 MB
            f.write(json.dumps({"step": s, "d_loss": 1.3, "g_loss": 0.7, "pad": "p" * 200}) + "\n")
        f.write('{"step": 60025, "junk": "' + "x" * (2 << 20) + '"}\n')
        f.write(json.dumps({"step": 60030, "d_loss": 1.2}) + "\n")
    served = serve_folder(runs_dir, Limits(page=1 << 20, line=1 << 18))
    page.goto(served.url + "#a=ring8")
    assert page.wait_for("document.querySelector('#pane-0').dataset.step === '60030' && "
                         "document.querySelector('#pane-0 h2 .step').textContent", timeout=20) == \
        "step 60030 / 20 (1 damaged or oversized log line skipped)"
    assert page.wait_for("document.querySelectorAll('#run-list li').length") == 2
    page.wait_for("document.querySelector('#pane-0 .snapshot-slider').max === '1'")  # steps 10 and 20, a page each


def test_a_rate_decaying_to_zero_gets_no_negative_ticks(served, runs_dir: Path, page) -> None:
    """The learning-rate chart padded its axis below 0 and showed negative rates."""
    with open(runs_dir / "ring8" / "stats.jsonl", "a", encoding="utf-8") as f:
        for step, lr in ((25, 1e-4), (30, 0.0)):
            f.write(json.dumps({"step": step, "d_loss": 1.3, "g_loss": 0.7, "lr_g": lr, "lr_d": lr}) + "\n")
    page.goto(served.url + "#a=ring8")
    page.wait_for("document.querySelector('#pane-0').dataset.step === '30'")
    ticks = page.wait_for("document.querySelector('#pane-0 canvas[data-chart=lr]')?.dataset.ticks").split()
    assert len(ticks) == 5 and float(ticks[0]) == 0.0 and all(float(t) >= 0 for t in ticks)
    loss = page.eval("document.querySelector('#pane-0 canvas[data-chart=loss]').dataset.ticks").split()
    assert float(loss[0]) > 0  # a series well above 0 keeps its own range
