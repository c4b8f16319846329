"""The wasserstein-estimate check's machinery on a tiny budget (the claim itself is recorded by the CLI run)."""

from __future__ import annotations

import torch

from gankit.theory.wasserstein_estimate import _checks, _train


def test_probes_record_both_estimators_and_leave_the_rng_alone(tmp_path):
    state = torch.get_rng_state()
    rows = _train(tmp_path, steps=30, every=30, refine=150, fresh_steps=150, warmup=False)
    assert torch.equal(state, torch.get_rng_state())
    assert [r["step"] for r in rows] == [1, 30]
    first = rows[0]
    # at the start the samples sit far from the ring: a refined critic estimates W1 within 25 %,
    # while the fresh discriminator separates perfectly and reports JS = log 2
    assert abs(first["critic estimate"] - first["W1 (POT)"]) < 0.25 * first["W1 (POT)"]
    assert first["D accuracy"] > 0.99 and abs(first["JS estimate"] - 0.6931) < 0.01
    again = _train(tmp_path / "again", steps=30, every=30, refine=150, fresh_steps=150, warmup=False)
    assert rows == again


# Probes of quick-mode runs (600 steps, a probe every 100): (W1, critic estimate, JS estimate) per probe.
QUICK_SEED0 = [(0.965, 1.034, 0.6931), (0.478, 0.260, 0.652), (0.403, 0.174, 0.575), (0.352, 0.252, 0.649),
               (0.286, 0.158, 0.559), (0.240, 0.170, 0.545), (0.197, 0.151, 0.526)]


def _rows(probes):
    return [{"step": 1 if i == 0 else 100 * i, "W1 (POT)": w, "critic estimate": c, "JS estimate": js,
             "D accuracy": 1.0} for i, (w, c, js) in enumerate(probes)]


def _failed(probes):
    return [name for name, ok in _checks(_rows(probes)).items() if not ok]


def test_quick_run_of_the_issue_passes():
    # this run's JS estimate dips to 0.575 at W1 0.40 and 0.559 at W1 0.29: the old check (the smallest
    # estimate while W1 > 0.25 within 15 % of log 2) failed it, although W1 had fallen from 0.965 to 0.352
    # by a probe where the estimate still read 0.649
    assert _failed(QUICK_SEED0) == []
    name = next(k for k in _checks(_rows(QUICK_SEED0)) if "saturates" in k)
    assert "W1 falls by 64%" in name


def test_a_js_estimate_that_tracks_w1_is_not_saturation():
    # JS falling in proportion to W1 (what the critic does) leaves log 2's band at the first probe
    tracking = [(w, c, 0.6931 * w / 0.965) for w, c, _ in QUICK_SEED0]
    assert _failed(tracking) == [next(k for k in _checks(_rows(tracking)) if "saturates" in k)]


def test_a_js_estimate_stuck_at_log2_fails_the_overlap_check():
    stuck = [(w, c, 0.6931) for w, c, _ in QUICK_SEED0]
    failed = _failed(stuck)
    assert len(failed) == 1 and "not stuck" in failed[0] and "fallen 0%" in failed[0]


def test_a_critic_that_does_not_follow_w1_fails():
    flat_critic = [(w, 1.0 + 0.01 * i, js) for i, (w, _, js) in enumerate(QUICK_SEED0)]
    failed = _failed(flat_critic)
    assert len(failed) == 2 and all("critic" in k for k in failed)
