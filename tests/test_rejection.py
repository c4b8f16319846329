"""Discriminator rejection sampling: exact on a known density ratio, calibration, errors, end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from gankit import api
from gankit.errors import ConfigError
from gankit.rejection import acceptance_logit, calibrate, check_applies, rejection_sample


def _wide_normal(gen: torch.Generator):
    return lambda k: 2.0 * torch.randn(k, 1, generator=gen)


def _true_logit(x: torch.Tensor) -> torch.Tensor:
    """log N(x; 0, 1) - log N(x; 0, 2²) = log 2 - 3 x² / 8: the optimal D's logit for p = N(0,1), q = N(0,4)."""
    return math.log(2.0) - 3.0 * x.reshape(-1) ** 2 / 8.0


def test_acceptance_is_exp_of_logit_minus_bound_and_gamma_accepts_more():
    logits = torch.tensor([-5.0, -1.0, -0.1, 0.0, 0.7])
    p = torch.sigmoid(acceptance_logit(logits, bound=0.7))
    expected = torch.exp(logits.double() - 0.7)
    assert torch.allclose(p[:-1], expected[:-1], rtol=1e-5)
    assert p[-1] > 0.999  # l = M: accepted (up to ε)
    shifted = torch.sigmoid(acceptance_logit(logits, bound=0.7, gamma=-1.0))
    assert (shifted > p).all()  # F - γ with γ < 0 raises every acceptance... and γ > 0 lowers it
    assert (torch.sigmoid(acceptance_logit(logits, bound=0.7, gamma=1.0)) < p).all()


def test_exact_ratio_turns_the_wide_normal_into_the_narrow_one():
    prop = torch.Generator().manual_seed(0)
    res = rejection_sample(_wide_normal(prop), _true_logit, 20_000, torch.Generator().manual_seed(1))
    x = res.samples.reshape(-1).numpy()
    assert len(x) == 20_000
    assert abs(x.mean()) < 0.03 and abs(x.std() - 1.0) < 0.02
    assert stats.kstest(x, "norm").pvalue > 0.01
    assert stats.kstest(x, "norm", args=(0, 2)).pvalue < 1e-10  # and no longer the proposal
    # acceptance = E_q[p/q] / e^M = 1 / e^{log 2}: one half
    assert res.bound == pytest.approx(math.log(2.0), abs=1e-3)
    assert res.acceptance == pytest.approx(0.5, abs=0.01)


def test_quantile_bound_samples_the_capped_ratio_and_accepts_more():
    """q < 1: M is the burn-in quantile, fixed; samples follow min(p, e^M q) normalised, acceptance
    E_q[min(1, e^{l-M})]."""
    exact = rejection_sample(_wide_normal(torch.Generator().manual_seed(0)), _true_logit, 20_000,
                             torch.Generator().manual_seed(1))
    res = rejection_sample(_wide_normal(torch.Generator().manual_seed(0)), _true_logit, 20_000,
                           torch.Generator().manual_seed(1), quantile=0.5)
    # the median logit of q = N(0, 4): l = log 2 - 3 x²/8 at the median of |x| (2 * 0.6745)
    median_l = math.log(2.0) - 3.0 * (2.0 * stats.norm.ppf(0.75)) ** 2 / 8.0
    assert res.bound == pytest.approx(median_l, abs=0.05)
    assert res.bound < exact.bound
    # expected acceptance and law of the kept samples, by quadrature on a grid
    xs = np.linspace(-12, 12, 200_001)
    q = stats.norm.pdf(xs, scale=2.0)
    accept = np.minimum(1.0, np.exp(math.log(2.0) - 3.0 * xs**2 / 8.0 - res.bound))
    expected_acceptance = np.trapezoid(q * accept, xs)
    assert res.acceptance == pytest.approx(expected_acceptance, abs=0.01)
    assert res.acceptance > exact.acceptance + 0.1  # the point of the option
    target = q * accept / expected_acceptance
    cdf = np.cumsum(target) * (xs[1] - xs[0])
    x = res.samples.reshape(-1).numpy()
    assert stats.kstest(x, lambda v: np.interp(v, xs, cdf)).pvalue > 0.01
    assert x.std() > 1.05  # wider than p = N(0, 1): the capped ratio keeps some of q's tails


def test_quantile_outside_the_unit_interval_is_refused():
    for q in (0.0, 1.5):
        with pytest.raises(ConfigError, match="quantile"):
            rejection_sample(_wide_normal(torch.Generator()), _true_logit, 10, torch.Generator(), quantile=q)


def test_same_seeds_same_samples():
    def run():
        return rejection_sample(_wide_normal(torch.Generator().manual_seed(3)), _true_logit, 500,
                                torch.Generator().manual_seed(4)).samples
    assert torch.equal(run(), run())


def test_calibration_learns_the_log_density_ratio():
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    losses = calibrate(disc, lambda k: 2.0 * torch.randn(k, 1), lambda k: torch.randn(k, 1), steps=600,
                       batch_size=512, lr=3e-3)
    grid = torch.linspace(-1.5, 1.5, 13).reshape(-1, 1)
    with torch.no_grad():
        err = (disc(grid).reshape(-1) - _true_logit(grid)).abs()
    assert float(err.max()) < 0.25
    # the optimum of the loss: 2 log 2 - 2 JSD(p, q) < 2 log 2 (a D that knows nothing)
    assert np.mean(losses[-50:]) < 2 * math.log(2) - 0.05 < np.mean(losses[:5]) + 0.05


def test_a_discriminator_that_rejects_everything_gets_a_clear_error():
    calls = []

    def logit(x):  # the burn-in saw a logit of 0, every later sample scores e^-20 below it
        calls.append(1)
        return torch.full((len(x),), 0.0 if len(calls) == 1 else -20.0)

    with pytest.raises(ConfigError, match="accepted 0 of"):
        rejection_sample(lambda k: torch.randn(k, 1), logit, 1000, torch.Generator().manual_seed(0),
                         burn_in=16, min_acceptance=0.01)
    with pytest.raises(ConfigError, match="> 0"):
        rejection_sample(lambda k: torch.randn(k, 1), _true_logit, 0, torch.Generator())


@pytest.mark.parametrize("overrides, match", [
    (["model.objective=wgan"], "critic"),
    (["model.pack=2"], "pack"),
])
def test_critics_and_packed_discriminators_are_refused(tiny, overrides, match):
    cfg = tiny(*overrides)
    trainer = api.build_trainer(cfg, api.run_dir_for(cfg), callbacks=[])
    with pytest.raises(ConfigError, match=match):
        check_applies(trainer.recipe)


def test_end_of_training_drs_metrics_leave_the_training_state_alone(tiny):
    plain = api.train(tiny("run.name=plain"))
    drs = api.train(tiny("run.name=drs", "eval.rejection=50"))
    a, b = torch.load(plain.checkpoint, weights_only=True), torch.load(drs.checkpoint, weights_only=True)
    for net in a["recipe"]["modules"]:
        for k, v in a["recipe"]["modules"][net].items():
            assert torch.equal(v, b["recipe"]["modules"][net][k])
    line = json.loads(drs.metrics.read_text().splitlines()[-1])
    plain_line = json.loads(plain.metrics.read_text().splitlines()[-1])
    assert 0 < line["drs_acceptance"] <= 1
    assert {"drs_modes", "drs_hq", "drs_w1"} <= set(line)
    assert line["modes"] == plain_line["modes"] and line["hq"] == plain_line["hq"]
    assert not any(k.startswith("drs_") for k in plain_line)


def test_bad_rejection_settings_are_config_errors(tiny):
    with pytest.raises(ConfigError, match="eval.rejection"):
        tiny("eval.rejection=-1")
    with pytest.raises(ConfigError, match="rejection_gamma"):
        tiny("eval.rejection_gamma=-0.5")
    with pytest.raises(ConfigError, match="rejection_quantile"):
        tiny("eval.rejection_quantile=0")


def test_cli_sample_and_eval_with_rejection(tiny, tmp_path, capsys):
    from gankit.cli import main

    run = api.train(tiny("run.name=r"))
    out = tmp_path / "x.npy"
    assert main(["sample", str(run.root), "-n", "200", "-o", str(out), "--rejection", "30"]) == 0
    # the calibration takes a while: it is announced on stderr before it starts
    err = capsys.readouterr().err
    assert "rejection sampling: calibrating the discriminator for 30 steps, then 200 accepted" in err
    x = np.load(out)
    assert x.shape == (200, 2)
    again = tmp_path / "y.npy"
    main(["sample", str(run.root), "-n", "200", "-o", str(again), "--rejection", "30"])
    assert np.array_equal(x, np.load(again))  # seeded: same samples
    assert main(["eval", str(run.root), "-n", "300", "--no-floor", "--rejection", "30"]) == 0
    out, err = capsys.readouterr()
    assert "rejection" in out and "eval: discriminator rejection sampling: calibrating D for 30 steps" in err
    line = json.loads(run.metrics.read_text().splitlines()[-1])
    assert line["sampler"].startswith("rejection") and 0 < line["acceptance"] <= 1


def test_a_failed_rejection_at_the_end_warns_and_keeps_the_run(tiny, monkeypatch, caplog):
    import gankit.rejection as rej

    def give_up(*args, **kwargs):
        def draw(n):
            raise ConfigError("rejection sampling accepted 0 of 100 samples")
        return draw

    monkeypatch.setattr(rej, "recipe_sampler", give_up)
    run = api.train(tiny("run.name=gives-up", "eval.rejection=5"))
    line = json.loads(run.metrics.read_text().splitlines()[-1])
    assert line["drs_acceptance"] == 0.0 and "drs_modes" not in line and "modes" in line
    assert run.generator.is_file()
    assert any("no rejection-sampling metrics" in r.getMessage() for r in caplog.records)
