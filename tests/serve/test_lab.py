"""gankit lab's session and API (issue 18): single steps move exactly one net, live changes land in the
optimisers and stats.jsonl, the lab trains exactly as `gankit train`, bad input gets a message, a saved run
resumes with the CLI."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import torch

from gankit import api, cli
from gankit import config as config_mod
from gankit.errors import ConfigError, DataError, GankitError
from gankit.serve.lab import Lab, LabSession, build_config, check_settings, make_lab_server
from gankit.serve.server import Dashboard, url_of
from gankit.train.stats import read_jsonl

TINY_LAB = {"generator.width": 16, "generator.depth": 2, "discriminator.width": 16, "discriminator.depth": 2,
            "data.batch_size": 64, "train.steps": 30}


def params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture
def session(tmp_path: Path) -> LabSession:
    return LabSession(TINY_LAB, tmp_path / "work")


def test_one_d_step_moves_d_only_and_one_g_step_g_only(session: LabSession) -> None:
    rec = session.trainer.recipe
    g0, d0 = params(rec.generator), params(rec.discriminator)
    out = session.single("d")
    g1, d1 = params(rec.generator), params(rec.discriminator)
    assert same(g0, g1) and not same(d0, d1)
    assert (session.trainer.step, session.trainer.d_updates) == (0, 1)
    assert out["event"] == "d_step" and out["d_updates"] == 1 and out["d_loss"] > 0
    session.single("g")
    assert not same(g1, params(rec.generator)) and same(d1, params(rec.discriminator))
    assert (session.trainer.step, session.trainer.d_updates) == (1, 1)
    events = [(r["event"], r["step"], r["d_updates"]) for r in read_jsonl(session.run.stats)]
    assert events == [("d_step", 0, 1), ("g_step", 1, 1)]


def test_live_changes_reach_the_optimisers_and_the_log(session: LabSession) -> None:
    for _ in range(2):
        session.iterate()
    rec = session.set({"g_optim.lr": 0.004, "train.d_steps": 3, "model.objective": "wgan", "reg.clip": 0.01})
    assert rec == {"step": 2, "event": "set", "d_updates": 2, "g_optim.lr": 0.004, "train.d_steps": 3,
                   "model.objective": "wgan", "reg.clip": 0.01}
    assert [g["lr"] for g in session.trainer.recipe.optimizers["g"].param_groups] == [0.004]
    assert session.trainer.recipe.optimizers["d"].param_groups[0]["lr"] == 1e-3
    assert session.trainer.recipe.objective.name == "wgan"
    session.iterate()
    assert (session.trainer.step, session.trainer.d_updates) == (3, 5)  # k = 3 from now on
    assert max(p.abs().max() for p in session.trainer.recipe.discriminator.parameters()) <= 0.01  # clipping is on
    assert config_mod.load(session.run.config).model.objective == "wgan"
    assert read_jsonl(session.run.stats)[0] == rec


@pytest.mark.parametrize("changes, words", [
    ({"data.name": "moons"}, "cannot change while training"),
    ({"g_optim.lr": 1e6}, "not a learning rate"),
    ({"d_optim.lr": 0}, "not a learning rate"),
    ({"train.d_steps": "3"}, "must be a number"),
    ({"reg.label_smoothing": 0.1, "model.objective": "wgan"}, "cross-entropy objective"),
    ({}, "JSON object"),
])
def test_refused_changes_change_nothing(session: LabSession, changes: dict[str, Any], words: str) -> None:
    before = json.dumps(session.settings)
    with pytest.raises(ConfigError, match=words):
        session.set(changes)
    assert json.dumps(session.settings) == before and session.trainer.recipe.objective.name == "nsgan"
    assert not session.run.stats.exists() or read_jsonl(session.run.stats) == []


@pytest.mark.parametrize("settings, error, words", [
    ({"data.name": "points"}, DataError, "fewer than 2 points"),
    ({"data.name": "points", "points": []}, DataError, "fewer than 2 points"),
    ({"data.name": "points", "points": [[0, 0], [1, float("nan")]]}, DataError, "finite"),
    ({"data.name": "points", "points": [[0, 0], [0, 0]]}, DataError, "all at one place"),
    ({"data.name": "points", "points": [[0, 0], [1]]}, DataError, "same length"),
    ({"discriminator.norm": "batch", "reg.gradient_penalty": 10.0}, ConfigError, "without batch norm"),
    ({"g_optim.lr": 1e9}, ConfigError, "not a learning rate"),
    ({"model.objective": "nope"}, ConfigError, "unknown value 'nope'"),
    ({"data.name": "mnist"}, ConfigError, "the lab offers"),
    ({"run.out_dir": "/etc"}, ConfigError, "unknown lab setting"),
    ({"generator.width": True}, ConfigError, "must be a number"),
])
def test_bad_settings_get_one_sentence(settings: dict[str, Any], error: type, words: str, tmp_path: Path) -> None:
    with pytest.raises(error, match=words):
        build_config(check_settings({**TINY_LAB, **settings}), tmp_path)


def test_the_lab_trains_exactly_as_gankit_train(tmp_path: Path) -> None:
    """Ten lab iterations (with views and metrics between them) give gankit train's weights to the bit."""
    lab = Lab(tmp_path / "runs", tmp_path / "work")
    try:
        lab.setup({**TINY_LAB, "train.steps": 10, "model.objective": "hinge", "train.d_steps": 2})
        for _ in range(10):
            lab.command({"cmd": "step"})
            lab.state()
        cfg = build_config(check_settings({**TINY_LAB, "train.steps": 10, "model.objective": "hinge",
                                           "train.d_steps": 2}), tmp_path / "other")
        cfg.run.out_dir = str(tmp_path / "trained")
        trained = api.train(cfg, callbacks=[])
        state = torch.load(trained.checkpoint, weights_only=True)["recipe"]["modules"]
        for name, net in lab.session.trainer.recipe.modules().items():
            for k, v in net.state_dict().items():
                assert torch.equal(v, state[name][k]), f"{name}.{k} differs"
    finally:
        lab.close()


def test_a_non_finite_loss_pauses_with_a_message(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "runs", tmp_path / "work")
    try:
        lab.setup(TINY_LAB)
        rec = lab.session.trainer.recipe
        real = rec.d_step
        rec.d_step = lambda b: {**real(b), "d_loss": torch.tensor(float("nan"))}
        lab.command({"cmd": "play"})
        end = time.monotonic() + 10
        while lab.playing and time.monotonic() < end:
            time.sleep(0.02)
        assert not lab.playing and "non-finite loss" in lab.session.error
        assert lab.state()["session"]["error"] == lab.session.error
        with pytest.raises(GankitError, match="non-finite"):
            lab.command({"cmd": "step-d"})
        lab.command({"cmd": "reset"})  # a fresh start with the same settings
        assert lab.session.error == "" and lab.session.trainer.step == 0
    finally:
        lab.close()


def test_save_as_run_is_a_normal_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = Lab(tmp_path / "runs", tmp_path / "work")
    try:
        lab.setup({**TINY_LAB, "data.name": "points", "points": [[0, 0], [1, 1], [1, 0], [0.5, 2]]})
        for _ in range(4):
            lab.command({"cmd": "step"})
        lab.command({"cmd": "set", "changes": {"d_optim.lr": 0.002}})
        lab.command({"cmd": "step-d"})
        out = lab.command({"cmd": "save", "name": "mine"})
        with pytest.raises(ConfigError, match="already a run 'mine'"):
            lab.command({"cmd": "save", "name": "mine"})
        with pytest.raises(ConfigError, match="run name"):
            lab.command({"cmd": "save", "name": "../out"})
    finally:
        lab.close()
    run = Path(out["run"])
    assert run == (tmp_path / "runs" / "mine").resolve()
    cfg = config_mod.load(run / "config.yaml")
    assert cfg.d_optim.lr == 0.002 and cfg.data.path == str(run / "points.npy") and cfg.train.steps == 30
    assert Dashboard(tmp_path / "runs").summary("mine")["kind"] == "toy"
    assert cli.main(["train", "--resume", str(run), "train.steps=7", "train.sample_every=0",
                     "eval.num_samples=100"]) == 0
    stats = read_jsonl(run / "stats.jsonl")
    assert [r["event"] for r in stats if "event" in r] == ["set", "d_step"]
    assert max(r["step"] for r in stats) == 7
    assert cli.main(["eval", str(run), "-n", "100", "--no-floor"]) == 0
    assert "w1" in capsys.readouterr().out


def request(url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, text.decode()


def test_http_api_and_its_guards(tmp_path: Path) -> None:
    server = make_lab_server(tmp_path / "runs", port=0, settings=TINY_LAB, workdir=tmp_path / "work")
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = url_of(server)
    try:
        status, state = request(url + "api/lab/state")
        assert status == 200 and state["session"]["step"] == 0 and state["snap"]["dim"] == 2
        assert state["snap"]["manifold"]["x"]["shape"] == [22, 41, 2]
        assert state["snap"]["grid"]["d"]["shape"] == [40, 40]
        assert request(url + "api/lab/command", {"cmd": "step-d"})[1]["record"]["d_updates"] == 1
        status, answer = request(url + "api/lab/setup", {"settings": {"data.name": "points", "points": []}})
        assert status == 400 and "fewer than 2 points" in answer["error"]
        status, answer = request(url + "api/lab/command", {"cmd": "explode"})
        assert status == 400 and "unknown lab command" in answer["error"]
        assert request(url + "api/lab/command", {"cmd": "play"}, {"Content-Type": "text/plain"})[0] == 415
        assert request(url + "api/lab/command", {"cmd": "play"}, {"Origin": "http://evil.example"})[0] == 403
        assert request(url + "api/lab/command", b"[1, 2")[0] == 400
        assert request(url + "api/lab/state?since=x")[0] == 400
        assert request(url + "api/lab/state", headers={"Host": "evil.example"})[0] == 403
        status, state = request(url + "api/lab/state")  # the server and the session live on
        assert status == 200 and state["session"]["d_updates"] == 1
    finally:
        server.shutdown()
        server.server_close()
        server.lab.close()


@pytest.mark.parametrize("settings", [
    {"data.name": "gauss1d", "generator.noise_dim": 1, "generator.prior": "uniform"},
    {"data.name": "bimodal1d", "model.objective": "fgan-kl"},
    {"data.name": "grid25", "model.pack": 2, "discriminator.minibatch": "std", "discriminator.spectral_norm": True,
     "train.ema": 0.9},
    {"data.name": "swissroll", "model.objective": "wgan", "reg.gradient_penalty": 1.0, "model.unroll": 1},
    {"data.name": "parallel-lines", "reg.r1": 1.0, "reg.instance_noise": 0.1, "reg.label_smoothing": 0.1},
])
def test_every_family_draws(settings: dict[str, Any], tmp_path: Path) -> None:
    """The data sets, noise, objectives and remedies the page offers set up, step and draw (with D* and metrics)."""
    s = LabSession({**TINY_LAB, **settings}, tmp_path / "work")
    s.iterate()
    state = s.take()
    snap = s.picture(state)
    m = s.measure(state, snap)
    assert snap["grid"] is not None and snap["arrows"].shape == snap["fake"].shape
    assert snap["manifold"]["x"].shape == ((1 if s.cfg.generator.noise_dim == 1 else 22), 41, snap["dim"])
    assert 0 <= m["js"] <= 0.7 and m["w1"] > 0
    assert (s.metrics.get("dstar") is not None) == (s.trainer.recipe.objective.d_loss_targets is not None)
    if snap["dim"] == 1:
        assert len(s.metrics.get("dstar", {"d": [0] * 200})["d"]) == 200


def test_a_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot listen on 127.0.0.1:99999"):
        make_lab_server(tmp_path / "runs", port=99999, settings=TINY_LAB, workdir=tmp_path / "work")
