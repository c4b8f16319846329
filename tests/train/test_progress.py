"""Feedback while waiting: the duration estimate, progress lines without a terminal, evaluation steps."""

from __future__ import annotations

import logging
import sys

import pytest

from gankit import api
from gankit.errors import ConfigError
from gankit.train.progress import Announcer, TrainingProgress, duration
from gankit.train.stats import read_jsonl


class FakeClock:
    """Each call advances time by ``tick`` seconds."""

    def __init__(self, tick: float) -> None:
        self.t, self.tick = 1000.0, tick

    def __call__(self) -> float:
        self.t += self.tick
        return self.t


def test_duration():
    assert [duration(s) for s in (0, 44.6, 60, 125, 3599, 3600, 4800, -3)] == \
        ["0s", "45s", "1m00s", "2m05s", "59m59s", "1h00m", "1h20m", "0s"]


def test_estimate_after_the_first_steps_names_the_duration_and_how_to_cut_it():
    out: list[str] = []
    clock = FakeClock(0.0)
    p = TrainingProgress(5000, 0, out.append, lines=False, every_s=30, final_eval="the final evaluation",
                         clock=clock)
    clock.tick = 10.0  # the first step took 10 s (warm-up): not counted in the speed
    p.update(1, {})
    clock.tick = 0.5  # then 2 steps/s
    for step in range(2, 11):
        p.update(step, {})
    assert out == []  # the speed is timed over >= 5 s after the first step
    p.update(11, {})
    assert len(out) == 1
    line = out[0]
    # 4989 steps left at 2 steps/s = 2494.5 s; 15 s have passed since the session began
    assert line.startswith("5,000 steps at 2 steps/s take about 41m50s here (41m34s left), then the final evaluation")
    assert "train.time_limit=MINUTES" in line and "train.steps=N" in line and "time_limit=20" not in line
    assert "on the way" not in line  # no periodic evaluation
    for step in range(13, 200):
        p.update(step, {})
    assert len(out) == 1  # said once


def test_estimate_names_the_time_limit_that_will_stop_the_run_and_short_runs_get_none():
    out: list[str] = []
    clock = FakeClock(1.0)
    p = TrainingProgress(10_000, 0, out.append, lines=False, every_s=0, time_limit_min=20, clock=clock)
    for step in range(1, 10):
        p.update(step, {})
    # 1 step/s from a session start at t = 1001: the estimate at step 6, t = 1007, 6 s in; the limit stops it
    # 1194 s later, near step 6 + 1194 = 1200 (it counted 20 min from the estimate, near step 1,206, before)
    assert "train.time_limit=20 stops it after 20 min near step 1,200 (--resume continues)" in out[0]

    # a limit just longer than what is left from the estimate but shorter than the whole session still stops it
    out.clear()
    p = TrainingProgress(1300, 0, out.append, lines=False, every_s=0, time_limit_min=21.6, clock=FakeClock(1.0))
    for step in range(1, 10):
        p.update(step, {})
    # 1294 s left at step 6 and 6 s gone: 1300 s in all > 1296 s of limit: it stops near step 6 + 1290
    assert "train.time_limit=21.6 stops it after 21.6 min near step 1,296 " in out[0]

    out.clear()
    p = TrainingProgress(60, 0, out.append, lines=False, every_s=0, clock=FakeClock(0.5))
    for step in range(1, 61):
        p.update(step, {})
    assert out == []  # 30 s in all: no estimate


def _estimate_line(total: int, eval_every: int) -> str:
    out: list[str] = []
    p = TrainingProgress(total, 0, out.append, lines=False, every_s=0, eval_every=eval_every, clock=FakeClock(1.0))
    for step in range(1, 7):  # the estimate at step 6
        p.update(step, {})
    assert len(out) == 1
    return out[0]


def test_estimate_counts_the_periodic_evaluations_still_to_come():
    # every 2,500 of 5,000: one on the way (the one at step 5,000 is the final evaluation)
    assert "(1h23m left) plus 1 evaluation on the way (train.eval_every); " in _estimate_line(5000, 2500)
    # every 1,000 of 5,001: steps 1,000 to 5,000, all before the last step
    assert " plus 5 evaluations on the way " in _estimate_line(5001, 1000)
    # every 5 steps: the one at step 5 is behind the estimate (step 6), 10 .. 195 are on the way
    assert " plus 38 evaluations on the way " in _estimate_line(200, 5)
    assert "on the way" not in _estimate_line(5000, 5000)  # the only one is the final evaluation


def test_lines_every_interval_with_rate_eta_and_losses():
    out: list[str] = []
    p = TrainingProgress(100, 40, out.append, lines=True, every_s=30, clock=FakeClock(10.0))
    record = {"d_loss": 1.23456, "g_loss": 0.5, "d_grad_norm": 3.0}
    for step in range(41, 51):
        p.update(step, record)
    lines = [x for x in out if x.startswith("step ")]
    # time 1010 at the start (step 40), +10 s per step: a line at steps 43, 46, 49
    assert lines == [f"step {s}/100 ({s}%) 0.1 steps/s eta {duration((100 - s) * 10)} d_loss 1.235 g_loss 0.500"
                     for s in (43, 46, 49)]
    out.clear()
    p = TrainingProgress(100, 0, out.append, lines=False, every_s=30, clock=FakeClock(10.0))
    for step in range(1, 50):
        p.update(step, record)
    assert not [x for x in out if x.startswith("step ")]  # a bar shows: no lines


def test_announcer_prefixes_and_times():
    out: list[str] = []
    a = Announcer("eval", out.append, clock=FakeClock(2.0))
    a("fid (1/2): 10 samples vs 10 real")
    a.done()
    assert out == ["eval: fid (1/2): 10 samples vs 10 real", "eval: done in 2s"]


def _train(cfg, clock):
    run = api.run_dir_for(cfg)
    run.root.mkdir(parents=True)
    trainer = api.build_trainer(cfg, run)
    trainer.clock = clock
    trainer.fit()
    return run


def _messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "gankit"]


def test_without_a_terminal_training_prints_lines_the_estimate_and_the_evaluation_steps(tiny, caplog):
    caplog.set_level(logging.INFO, logger="gankit")
    assert not sys.stderr.isatty()  # pytest captures it
    cfg = tiny("train.progress=true", "train.progress_every_s=30", "train.steps=20", "train.eval_every=10")
    run = _train(cfg, FakeClock(10.0))
    msgs = _messages(caplog)
    # the periodic evaluation: one short line, each metric with its direction, no interval or count keys
    periodic = next(m for m in msgs if m.startswith("step 10: "))
    assert periodic.startswith("step 10: kl_data_model ") and "modes " in periodic and " ↑" in periodic
    assert periodic.endswith("(all of it in metrics.jsonl)") and "_n " not in periodic
    lines = [m for m in msgs if m.startswith("step ") and "/20 (" in m]
    # every 30 fake seconds (3 steps); losses once logged (train.log_every=5)
    assert lines[0] == "step 3/20 (15%) 0.1 steps/s eta 2m50s"
    assert lines[1].startswith("step 6/20 (30%) 0.1 steps/s eta 2m20s d_loss ") and len(lines) == 6
    assert [m for m in msgs if m.startswith("20 steps at 0.1 steps/s take about")], msgs
    # the evaluation after the last step announces every step, in order, then its duration
    ev = [m for m in msgs if m.startswith("evaluation at step 20: ")]
    names = ["kl-js", "modes", "set-distance", "sliced-wasserstein", "wasserstein"]
    assert ev == ["evaluation at step 20: generating 300 samples (eval.num_samples)",
                  *[f"evaluation at step 20: {n} ({i}/5): 300 samples vs 300 real" for i, n in enumerate(names, 1)],
                  "evaluation at step 20: real-vs-real floor: two independent samples of the training data",
                  *[f"evaluation at step 20: floor {n} ({i}/5): 300 samples vs 300 real"
                    for i, n in enumerate(names, 1)],
                  ev[-1]]
    assert ev[-1].startswith("evaluation at step 20: done in ")
    assert msgs.index(ev[0]) > msgs.index(lines[-1])
    final = read_jsonl(run.metrics)[-1]
    assert final["floor"]["kind"] == "two independent samples of the training data" and final["floor"]["modes"] == 8


def test_on_a_terminal_the_bar_shows_and_no_lines(tiny, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="gankit")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    _train(tiny("train.progress=true", "train.progress_every_s=30", "train.steps=20", "eval.floor=false"),
           FakeClock(10.0))
    msgs = _messages(caplog)
    assert not [m for m in msgs if m.startswith("step ") and "/20 (" in m]
    assert [m for m in msgs if m.startswith("20 steps at 0.1 steps/s take about")]  # the estimate still
    assert not [m for m in msgs if "floor" in m]  # eval.floor=false: none


def test_progress_false_is_quiet_and_bad_interval_is_a_config_error(tiny, caplog):
    caplog.set_level(logging.INFO, logger="gankit")
    run = _train(tiny("train.progress_every_s=1", "eval.floor=false"), FakeClock(10.0))
    assert _messages(caplog) == []
    assert "floor" not in read_jsonl(run.metrics)[-1]
    with pytest.raises(ConfigError, match="train.progress_every_s must be >= 0"):
        tiny("train.progress_every_s=-1")
