"""gankit lab in headless Chromium: draw, pick an objective, play, pause, single steps, a learning-rate change
mid-run, bad input, save as run and resume it with the CLI, the snapshot PNG and the URL (issue 18)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from gankit import cli
from gankit.serve.lab import make_lab_server
from gankit.serve.server import url_of
from gankit.train.stats import read_jsonl

TINY_LAB = {"generator.width": 16, "generator.depth": 2, "discriminator.width": 16, "discriminator.depth": 2,
            "data.batch_size": 64, "train.steps": 60}
HASH = "&".join(f"{k}={v}" for k, v in TINY_LAB.items())


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[Any]:
    server = make_lab_server(tmp_path / "runs", port=0, settings=TINY_LAB, workdir=tmp_path / "work")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    server.lab.close()


def counter(page: Any) -> dict[str, str]:
    return page.eval("({...document.querySelector('#counter').dataset})")


def set_field(page: Any, name: str, value: Any) -> None:
    """Set a form field as a user would and fire its change event."""
    page.eval(f"""(() => {{ const e = document.querySelector('#setup').elements[{json.dumps(name)}];
        if (e.type === 'checkbox') e.checked = {json.dumps(bool(value))}; else e.value = {json.dumps(str(value))};
        e.dispatchEvent(new Event('change', {{ bubbles: true }})); }})()""")


def message(page: Any) -> str:
    return page.eval("document.querySelector('#message').hidden ? '' : document.querySelector('#message').textContent")


def drag(page: Any, points: list[tuple[float, float]]) -> None:
    """A real mouse stroke over the view canvas through the points (fractions of its width and height)."""
    r = page.eval("(() => { const b = document.querySelector('#view').getBoundingClientRect(); "
                  "return [b.left, b.top, b.width, b.height]; })()")
    xy = [(r[0] + fx * r[2], r[1] + fy * r[3]) for fx, fy in points]
    page.call("Input.dispatchMouseEvent", type="mousePressed", x=xy[0][0], y=xy[0][1], button="left", clickCount=1)
    for x, y in xy[1:]:
        page.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left")
    page.call("Input.dispatchMouseEvent", type="mouseReleased", x=xy[-1][0], y=xy[-1][1], button="left", clickCount=1)


def test_lab_in_the_browser(lab_server: Any, page: Any, tmp_path: Path) -> None:
    lab = lab_server.lab
    page.goto(url_of(lab_server) + "#" + HASH)
    page.wait_for("document.querySelector('#counter').dataset.step === '0'")

    # an empty drawing gets a message, and the server keeps the old experiment
    set_field(page, "data.name", "points")
    page.wait_for("!document.querySelector('#message').hidden")
    assert "fewer than 2 points" in message(page)
    assert lab.session.settings["data.name"] == "ring8"

    # draw a stroke: the session trains on exactly those points, saved as a points file
    drag(page, [(0.2 + 0.03 * i, 0.3 + 0.02 * i) for i in range(12)])
    page.wait_for("document.querySelector('#counter').dataset.step === '0' && "
                  "document.querySelector('#setup').elements['data.name'].value === 'points' && "
                  "document.querySelector('#message').hidden")
    assert lab.session.settings["data.name"] == "points"
    drawn = lab.session.settings["points"]
    assert 8 <= len(drawn) <= 12 and Path(lab.session.cfg.data.path).is_file()
    assert "points=" in page.eval("location.hash") and "generator.width=16" in page.eval("location.hash")

    # pick an objective (a live change, noted in stats.jsonl)
    set_field(page, "model.objective", "hinge")
    page.wait_for("JSON.stringify(window.labStats)"
                  " && document.querySelector('#setup').elements['model.objective'].value === 'hinge'")
    deadline = time.monotonic() + 20  # the select shows the value at once; the server applies it on its POST
    while lab.session.trainer.recipe.objective.name != "hinge" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lab.session.trainer.recipe.objective.name == "hinge"

    # play, then pause
    page.eval("document.querySelector('#play').click()")
    page.wait_for("+document.querySelector('#counter').dataset.step >= 5", timeout=20)
    page.eval("document.querySelector('#pause').click()")
    page.wait_for("document.querySelector('#counter').dataset.playing === 'false'")

    # one D step: exactly one D update, no G step (the counter and the stats say so)
    before = counter(page)
    page.eval("document.querySelector('#step-d').click()")
    page.wait_for(f"+document.querySelector('#counter').dataset.dUpdates === {int(before['dUpdates']) + 1}")
    after = counter(page)
    assert after["step"] == before["step"]
    last = read_jsonl(lab.session.run.stats)[-1]
    assert last["event"] == "d_step" and last["d_updates"] == int(before["dUpdates"]) + 1
    assert last["step"] == int(before["step"])

    # the learning rate changed mid-run: stats.jsonl notes it at this step, the optimiser uses it
    set_field(page, "g_optim.lr", 0.0025)
    page.wait_for("location.hash.includes('g_optim.lr=0.0025')")
    changes = [r for r in read_jsonl(lab.session.run.stats) if r.get("event") == "set" and "g_optim.lr" in r]
    assert changes == [{"step": int(after["step"]), "event": "set", "d_updates": int(after["dUpdates"]),
                        "g_optim.lr": 0.0025}]
    assert lab.session.trainer.recipe.optimizers["g"].param_groups[0]["lr"] == 0.0025

    # bad input: an absurd learning rate, and the gradient penalty with a batch-norm D, get a message
    set_field(page, "d_optim.lr", 1e6)
    page.wait_for("document.querySelector('#message').textContent.includes('not a learning rate')")
    assert page.eval("document.querySelector('#setup').elements['d_optim.lr'].value") == "0.001"
    set_field(page, "discriminator.norm", "batch")
    page.wait_for("document.querySelector('#message').hidden && "
                  "document.querySelector('#setup').elements['discriminator.norm'].value === 'batch'")
    page.wait_for("document.querySelector('#counter').dataset.step === '0'")
    set_field(page, "reg.gradient_penalty", 10)
    page.wait_for("document.querySelector('#message').textContent.includes('without batch norm')")
    assert lab.session.cfg.reg.gradient_penalty == 0

    # a few steps, then save as run and resume it with `gankit train --resume`
    for _ in range(3):
        page.eval("document.querySelector('#step').click()")
    page.wait_for("document.querySelector('#counter').dataset.step === '3'")
    page.eval("document.querySelector('#run-name').value = 'drawn'; document.querySelector('#save').click()")
    page.wait_for("document.querySelector('#message').textContent.includes('saved as')")
    run = tmp_path / "runs" / "drawn"
    assert (run / "points.npy").is_file() and (run / "checkpoints" / "last.pt").is_file()
    assert (run / "generator.safetensors").is_file() and (run / "snapshots" / "step-000003.json").is_file()
    assert cli.main(["train", "--resume", str(run), "train.steps=8", "train.sample_every=0",
                     "eval.num_samples=100"]) == 0
    steps = [r["step"] for r in read_jsonl(run / "stats.jsonl") if "event" not in r]
    assert steps[-1] == 8

    # the snapshot button writes a PNG
    page.eval("document.querySelector('#snapshot').click()")
    snap = page.wait_for("window.labStats.snapshot")
    assert snap["type"] == "image/png" and snap["bytes"] > 1000 and snap["name"] == "gankit-lab-step-3.png"


def test_a_link_opens_the_same_experiment(lab_server: Any, page: Any) -> None:
    """The URL's fragment holds the settings and the drawing: opening it sets the same experiment up."""
    points = "0.1,0.2;0.5,0.5;-0.3,0.8;0.9,-0.4"
    page.goto(url_of(lab_server) + f"#{HASH}&data.name=points&model.objective=wgan&reg.clip=0.01&points={points}")
    page.wait_for("document.querySelector('#counter').dataset.step === '0' && "
                  "document.querySelector('#setup').elements['model.objective'].value === 'wgan'")
    s = lab_server.lab.session
    assert s.settings["points"] == [[0.1, 0.2], [0.5, 0.5], [-0.3, 0.8], [0.9, -0.4]]
    assert s.cfg.reg.clip == 0.01 and s.cfg.generator.width == 16
    assert torch.equal(s.trainer.dataset.points, torch.tensor([[0.1, 0.2], [0.5, 0.5], [-0.3, 0.8], [0.9, -0.4]]))
