"""Training diagnostics: D's accuracy and histograms, mode coverage, the alarm rules on crafted sequences
(they fire when they should and stay quiet on healthy runs), and a real run: files written, training
untouched (bit-identical with and without the callback), resume truncation and replay."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gankit import api
from gankit.errors import ConfigError
from gankit.train.diagnostics import (
    AlarmRules,
    Diagnostics,
    default_every,
    discriminator_accuracy,
    mean_pairwise_distance,
    mode_coverage,
    score_histograms,
)
from gankit.train.stats import read_jsonl
from gankit.viz.curves import D_WINS_ACC


# --------------------------------------------------------------------------------------- accuracy
def test_accuracy_of_a_perfect_a_constant_and_an_inverted_discriminator():
    real, fake = torch.full((30,), 6.0), torch.full((50,), -6.0)  # logits
    perfect = discriminator_accuracy(real, fake, torch.sigmoid)
    assert perfect == {"d_acc": 1.0, "d_acc_real": 1.0, "d_acc_fake": 1.0, "threshold": 0.5}
    # D(x) = 1/2 everywhere (logit 0): at the threshold, each sample counts half
    constant = discriminator_accuracy(torch.zeros(30), torch.zeros(50), torch.sigmoid)
    assert constant["d_acc"] == constant["d_acc_real"] == constant["d_acc_fake"] == 0.5
    # a constant D that says "real" to everything is right on the real half only
    says_real = discriminator_accuracy(torch.full((40,), 3.0), torch.full((40,), 3.0), torch.sigmoid)
    assert (says_real["d_acc"], says_real["d_acc_real"], says_real["d_acc_fake"]) == (0.5, 1.0, 0.0)
    assert discriminator_accuracy(fake, real, torch.sigmoid)["d_acc"] == 0.0  # sign flipped: all wrong
    # unequal batches are weighted by their sizes: 30 of 30 real, 25 of 50 fake
    half_fake = torch.cat([torch.full((25,), -1.0), torch.full((25,), 1.0)])
    assert discriminator_accuracy(real, half_fake, torch.sigmoid)["d_acc"] == pytest.approx(55 / 80)


def test_critic_threshold_is_the_midpoint_of_the_means_and_ignores_the_offset():
    real, fake = torch.tensor([10.0, 11.0, 12.0]), torch.tensor([0.0, 1.0, 2.0])
    acc = discriminator_accuracy(real, fake)
    assert acc["threshold"] == pytest.approx(6.0) and acc["d_acc"] == 1.0
    shifted = discriminator_accuracy(real + 1000, fake + 1000)  # a critic's offset means nothing
    assert shifted["threshold"] == pytest.approx(1006.0) and shifted["d_acc"] == 1.0
    # overlapping scores, both means 2: one right and one wrong on each side
    mixed = discriminator_accuracy(torch.tensor([0.0, 4.0]), torch.tensor([1.0, 3.0]))
    assert mixed["threshold"] == pytest.approx(2.0) and mixed["d_acc"] == 0.5
    # a critic that scores fakes higher is below chance, not silently flipped
    assert discriminator_accuracy(fake, real)["d_acc"] == 0.0


# ------------------------------------------------------------------------------------- histograms
def test_histograms_count_every_sample_on_fixed_or_observed_bins():
    rng = np.random.default_rng(0)
    real = np.r_[rng.uniform(0, 1, 200), 0.0, 1.0]  # both ends of [0, 1] included
    fake = rng.uniform(0, 1, 99)
    h = score_histograms(real, fake, probability=True, bins=40)
    assert h["hist_edges"][0] == 0.0 and h["hist_edges"][-1] == 1.0 and len(h["hist_edges"]) == 41
    assert sum(h["hist_real"]) == 202 and sum(h["hist_fake"]) == 99
    assert h["hist_real"][0] >= 1 and h["hist_real"][-1] >= 1

    scores = rng.normal(5.0, 3.0, 300)
    h = score_histograms(scores[:100], scores[100:], probability=False, bins=10)
    assert h["hist_edges"][0] == pytest.approx(scores.min(), abs=1e-5)
    assert h["hist_edges"][-1] == pytest.approx(scores.max(), abs=1e-5)
    assert sum(h["hist_real"]) == 100 and sum(h["hist_fake"]) == 200
    # infinite scores land in the end bins, NaN is not counted, equal scores get a bin of width 1
    h = score_histograms(np.array([1.0, np.inf, np.nan]), np.array([-np.inf, 2.0]), probability=False, bins=4)
    assert h["hist_real"] == [1, 0, 0, 1] and h["hist_fake"] == [1, 0, 0, 1]  # range: the finite 1 .. 2
    h = score_histograms(np.full(7, 3.0), np.full(5, 3.0), probability=False, bins=4)
    assert (h["hist_edges"][0], h["hist_edges"][-1]) == (2.5, 3.5) and sum(h["hist_real"]) == 7


def test_mode_coverage_and_diversity():
    means = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    rng = np.random.default_rng(0)
    # 300 samples on each of three modes, 2 stray samples on the fourth, 100 far away
    fake = np.concatenate([means[k] + 0.01 * rng.normal(size=(300, 2)) for k in range(3)]
                          + [means[3] + 0.01 * rng.normal(size=(2, 2)), np.full((100, 2), 5.0)])
    cov = mode_coverage(fake, means, 0.01 * 1.5)
    assert cov["modes"] == 4 and cov["modes_held"] == 3 and cov["modes_total"] == 4
    assert cov["hq"] == pytest.approx(100 * 902 / 1002, abs=2.0)

    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert mean_pairwise_distance(x) == pytest.approx(5.0)
    assert mean_pairwise_distance(torch.zeros(10, 3, 4, 4)) == 0.0 and mean_pairwise_distance(x[:1]) == 0.0


def test_default_interval():
    assert default_every(500, 50) == 100  # ring8: five recordings per sample interval
    assert default_every(0, 5) == 50  # no samples: every 10 log intervals
    assert default_every(250, 30) == 60  # a multiple of log_every: the logged grad norms are current
    assert default_every(10, 50) == 50  # never more often than the log


# ----------------------------------------------------------------------------------------- alarms
def _replay(records, rules=None):
    rules = rules or AlarmRules()
    alarms = []
    for i, r in enumerate(records):
        alarms += rules.update({"step": 100 * (i + 1), **r})
    return alarms


def _kinds(alarms):
    return [(a["step"], a["kind"]) for a in alarms]


def test_modes_dropped_fires_once_after_two_records_below_the_best_and_again_only_after_clearing():
    held = [2, 5, 8, 8, 7, 6, 6, 5, 5, 8, 8, 6, 6]
    alarms = _replay([{"modes": 8, "modes_held": m, "modes_total": 8} for m in held])
    assert _kinds(alarms) == [(600, "modes-dropped"), (1300, "modes-dropped")]
    assert "fell from 8 to 6 of 8" in alarms[0]["message"]
    # healthy: rising coverage and one-record dips are no alarm (the protocol's flickering
    # "modes" count is not what the alarm reads)
    healthy = [{"modes": m, "modes_held": h} for m, h in zip([0, 3, 8, 6, 8, 7, 8, 5, 8], [0, 2, 5, 8, 7, 8, 8, 7, 8])]
    assert _replay(healthy) == []


def test_diversity_low_fires_on_a_fall_not_on_a_slow_start():
    assert _kinds(_replay([{"diversity": d} for d in [0.1, 0.4, 0.9, 0.95, 0.4, 0.3, 0.3]])) == [(600, "diversity-low")]
    assert _replay([{"diversity": d} for d in [0.05, 0.1, 0.2, 0.3, 0.6, 0.9, 1.1, 0.95, 1.0, 0.6]]) == []
    # fell to less than half its best, though still above 1/2 of the real data's
    assert _kinds(_replay([{"diversity": d} for d in [2.0, 0.9, 0.9]])) == [(300, "diversity-low")]


def test_d_wins_needs_three_records_in_a_row_and_a_probability():
    acc = [0.6, 0.995, 1.0, 1.0, 1.0, 1.0, 0.9, 1.0, 1.0]
    alarms = _replay([{"d_acc": a, "scale": "probability"} for a in acc])
    assert _kinds(alarms) == [(400, "d-wins")]
    assert _replay([{"d_acc": a, "scale": "score"} for a in acc]) == []  # a separating critic is its job
    healthy = [0.99, 0.5, 0.995, 0.999, 0.7, 1.0, 0.991, 0.6]
    assert _replay([{"d_acc": a, "scale": "probability"} for a in healthy]) == []
    assert AlarmRules().d_wins_acc == D_WINS_ACC  # curves.png draws the same line


def test_gradients_exploded_on_a_jump_or_a_non_finite_norm():
    g = [1.0, 1.2, 0.9, 1.1, 500.0, 400.0, 1.0, float("nan")]
    alarms = _replay([{"g_grad_norm": v, "d_grad_norm": 2.0} for v in g])
    assert _kinds(alarms) == [(500, "gradients-exploded"), (800, "gradients-exploded")]
    assert "g_grad_norm = 500" in alarms[0]["message"]
    rng = np.random.default_rng(0)  # healthy: noisy over a factor 10 in both directions, and a slow rise
    noisy = [{"d_grad_norm": float(10 ** rng.uniform(-1, 0) * (1 + i / 10)),
              "g_grad_norm": float(10 ** rng.uniform(0, 1))} for i in range(60)]
    assert _replay(noisy) == []
    assert _replay([{"d_grad_norm": v} for v in [1e-3, 1.0, 1e3]]) == []  # no median yet: no verdict


def test_diverged_on_runaway_losses_but_not_on_a_critics_drifting_g_loss():
    assert _kinds(_replay([{"d_loss": 1.3, "g_loss": 0.7}, {"d_loss": 1.3, "g_loss": 5e3}])) == [(200, "diverged")]
    critic = [{"scale": "score", "d_loss": -3.0, "g_loss": -5e3}, {"scale": "score", "d_loss": -2e3, "g_loss": 0.0}]
    assert _kinds(_replay(critic)) == [(200, "diverged")]
    assert _kinds(_replay([{"d_loss": math.inf}])) == [(100, "diverged")]


def test_a_healthy_run_raises_nothing_and_json_nulls_are_ignored():
    rng = np.random.default_rng(1)
    healthy = [{"scale": "probability", "d_acc": 0.55 + 0.1 * rng.random(), "d_loss": 1.3 + 0.1 * rng.normal(),
                "g_loss": 0.8 + 0.1 * rng.normal(), "d_grad_norm": 1 + rng.random(), "g_grad_norm": 2 + rng.random(),
                "modes": 8, "modes_held": 8, "modes_total": 8} for _ in range(40)]
    assert _replay(healthy) == []
    nulls = [{"d_acc": None, "modes": None, "diversity": None, "d_loss": None, "g_grad_norm": None}] * 3
    assert _replay(json.loads(json.dumps(nulls))) == []


# -------------------------------------------------------------------------------------- real runs
def _gen_weights(run):
    return torch.load(run.checkpoint, weights_only=True)["recipe"]["modules"]


def test_run_writes_diagnostics_alarms_and_figure_without_moving_training(tiny):
    on = api.train(tiny("run.name=diag", "train.diagnostics_every=5", "train.ema=0.9"))
    records = read_jsonl(on.diagnostics)
    assert [r["step"] for r in records] == [5, 10, 15, 20]
    for r in records:
        assert r["scale"] == "probability" and 0 <= r["d_acc"] <= 1 and r["threshold"] == 0.5
        assert sum(r["hist_real"]) == 512 and sum(r["hist_fake"]) == 512 and len(r["hist_edges"]) == 41
        assert r["modes_total"] == 8 and 0 <= r["modes_held"] <= r["modes"] <= 8 and 0 <= r["hq"] <= 100
        assert {"d_grad_norm", "g_grad_norm", "d_loss", "g_loss"} <= set(r) and r["ema"] is True
    assert on.alarms.is_file() and on.diagnostics_png.is_file()  # alarms.jsonl may be empty
    off = api.train(tiny("run.name=nodiag", "train.diagnostics_every=0", "train.ema=0.9"))
    assert not off.diagnostics.exists() and not off.alarms.exists() and not off.diagnostics_png.exists()
    a, b = _gen_weights(on), _gen_weights(off)
    for net in a:
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs"
    with pytest.raises(ConfigError, match="train.diagnostics_every must be >= -1"):
        tiny("train.diagnostics_every=-2")


def test_resume_truncates_and_replays_to_the_same_records(tiny):
    straight = api.train(tiny("run.name=straight", "train.steps=15", "train.diagnostics_every=5"))
    run = api.train(tiny("run.name=cut", "train.steps=10", "train.diagnostics_every=5", "train.checkpoint_every=5"))
    with run.diagnostics.open("a") as f:  # a crashed run recorded past its last checkpoint
        f.write(json.dumps({"step": 999, "d_acc": 1.0}) + "\n")
    with run.alarms.open("a") as f:
        f.write(json.dumps({"step": 999, "kind": "d-wins", "message": "stale"}) + "\n")
    api.resume(run.root, ["train.steps=15"])
    assert read_jsonl(run.alarms) == read_jsonl(straight.alarms)
    assert read_jsonl(run.diagnostics) == read_jsonl(straight.diagnostics)  # private seeds per step


def test_replay_carries_alarm_state_across_a_resume(tmp_path):
    """A resumed run neither forgets the best mode count nor raises an alarm already raised."""
    class FakeRun:
        diagnostics, alarms = tmp_path / "diagnostics.jsonl", tmp_path / "alarms.jsonl"

    class FakeTrainer:
        run = FakeRun()

    lines = [{"step": 100, "modes_held": 8}, {"step": 200, "modes_held": 6}, {"step": 300, "modes_held": 6}]
    FakeRun.diagnostics.write_text("".join(json.dumps(r) + "\n" for r in lines))
    FakeRun.alarms.write_text(json.dumps({"step": 300, "kind": "modes-dropped", "message": "m"}) + "\n")
    diag = Diagnostics(every=100)
    diag.on_start(FakeTrainer())
    assert diag.rules.active == {"modes-dropped"} and len(diag.alarms) == 1
    assert diag.rules.update({"step": 400, "modes_held": 6}) == []  # still the same drop
    assert diag.rules.update({"step": 500, "modes_held": 8}) == []  # cleared


def test_image_run_records_diversity(tiny):
    cfg = tiny("run.name=img", "train.steps=4", "train.log_every=2", "train.diagnostics_every=2",
               "data.batch_size=16", "generator.width=8", "discriminator.width=8", "eval.metrics=[]",
               preset="dcgan-digits")
    run = api.train(cfg)
    records = read_jsonl(run.diagnostics)
    assert [r["step"] for r in records] == [2, 4]
    assert all(r["diversity"] > 0 and "modes" not in r and sum(r["hist_real"]) == 512 for r in records)
    assert run.diagnostics_png.is_file()


def test_a_streamed_data_set_is_left_to_training(tiny, monkeypatch):
    """A streamed image folder's sample() takes images off the training stream: the fixed real set stands in."""
    cfg = tiny()
    trainer = api.build_trainer(cfg, api.run_dir_for(cfg), callbacks=[])
    monkeypatch.setattr(trainer.dataset, "streamed", True, raising=False)
    monkeypatch.setattr(trainer.dataset, "sample", lambda *a, **k: pytest.fail("sampled the training stream"))
    record = Diagnostics(5).measure(trainer, 5)
    assert sum(record["hist_real"]) == 512 and record["modes_total"] == 8


# ------------------------------------------------------------------- every recipe with a discriminator
DIGITS_2D = ["data.name=digits", "generator.noise_dim=2", "data.batch_size=16", "eval.metrics=[]"]
RECIPE_RUNS = {  # name: (preset, overrides, discriminator calls per recording (2 for StackGAN's two stages))
    "gan": ("ring8", [], 1),
    "cgan": ("ring8", ["data.name=digits", "model.recipe=cgan", "data.batch_size=16", "eval.metrics=[]"], 1),
    "lapgan": ("lapgan-digits", ["data.batch_size=16", "eval.metrics=[]"], 1),
    "stackgan": ("stackgan-shapes", ["generator.width=8", "discriminator.width=8", "generator.depth=1",
                                     "data.batch_size=8", "eval.metrics=[]", "model.caption_prior_steps=5"], 2),
    "aae": ("ring8", ["model.recipe=aae", *DIGITS_2D], 1),
    "aae-labelled-prior": ("ring8", ["model.recipe=aae", "generator.prior=mixture", "model.prior_labels=true",
                                     *DIGITS_2D], 1),
    "vae": ("ring8", ["model.recipe=vae", *DIGITS_2D], 0),
    "ae": ("ring8", ["model.recipe=ae", *DIGITS_2D], 0),
}


@pytest.mark.parametrize("name", list(RECIPE_RUNS))
def test_every_recipe_with_a_discriminator_records_its_accuracy_and_histograms(tiny, name):
    """Issue 13: cGAN's diagnostics had no D accuracy or histograms (its D needs the class). Every recipe
    with a D now scores through Recipe.discriminator_scores; the AE and the VAE have none to record."""
    preset, overrides, calls = RECIPE_RUNS[name]
    cfg = tiny(f"run.name={name}", "train.steps=2", "train.log_every=1", *overrides, preset=preset)
    trainer = api.build_trainer(cfg, api.run_dir_for(cfg), callbacks=[Diagnostics(2, n=32, plot=False)])
    trainer.fit()
    (record,) = read_jsonl(trainer.run.diagnostics)
    d_keys = {"d_acc", "d_acc_real", "d_acc_fake", "hist_edges", "hist_real", "hist_fake", "d_real_mean", "scale"}
    if calls == 0:
        assert not d_keys & set(record) and record["diversity"] > 0
        return
    assert d_keys <= set(record) and record["scale"] == "probability" and 0 <= record["d_acc"] <= 1
    assert sum(record["hist_real"]) == sum(record["hist_fake"]) == 32 * calls
    # the same D accuracy in training's stats (StackGAN and the AAE did not log it)
    assert all(0 <= r["d_acc"] <= 1 for r in read_jsonl(trainer.run.stats))


def _rng_state():
    return torch.random.get_rng_state()


def test_conditional_scores_use_the_batch_classes_and_the_private_rng(tiny):
    """cGAN: D(x̂, ĉ) on the data and D(G(z, ĉ), ĉ) on samples for the same classes; the global RNG stays."""
    from gankit.data import build_dataset
    from gankit.models.cgan import CGAN

    cfg = tiny("data.name=digits", "model.recipe=cgan")
    ds = build_dataset(cfg.data)
    CGAN.prepare_config(cfg, ds)
    torch.manual_seed(0)
    recipe = CGAN(cfg, ds.shape, "cpu")
    x, y = ds.sample_with_labels(16)
    before = _rng_state()
    s_real, s_fake = recipe.discriminator_scores((x, y), generator=torch.Generator().manual_seed(3))
    assert torch.equal(_rng_state(), before) and s_real.shape == s_fake.shape == (16,)
    recipe.discriminator.eval()
    with torch.no_grad():
        assert torch.allclose(s_real, recipe.discriminator(x, y))
        assert not torch.allclose(s_real, recipe.discriminator(x, (y + 1) % 10))  # the class matters
        z = recipe.generator.sample_noise(16, generator=torch.Generator().manual_seed(3), labels=y)
        assert torch.allclose(s_fake, recipe.discriminator(recipe.generator.eval()(z), y))
    assert recipe.discriminator.training is False  # left as it was found


def test_adversarial_autoencoder_scores_prior_draws_against_codes(tiny):
    """The AAE's D judges codes: its "real" side is draws from p(z), its "fake" side the codes of the data."""
    from gankit.data import build_dataset
    from gankit.models.autoencoder import AAE
    from gankit.nets import priors

    cfg = tiny("model.recipe=aae", *DIGITS_2D)
    ds = build_dataset(cfg.data)
    torch.manual_seed(0)
    recipe = AAE(cfg, ds.shape, "cpu")
    x = ds.sample(16)
    s_real, s_fake = recipe.discriminator_scores(x, generator=torch.Generator().manual_seed(4))
    assert recipe.encoder.training and recipe.discriminator.training  # train mode restored
    with torch.no_grad():
        prior = priors.sample_prior("normal", 16, 2, generator=torch.Generator().manual_seed(4))
        assert torch.allclose(s_real, recipe.discriminator.eval()(prior))
        assert torch.allclose(s_fake, recipe.discriminator(recipe.encoder.eval()(x)))


def test_a_streamed_labelled_data_set_is_read_by_index_not_from_the_stream(tiny, monkeypatch):
    """cGAN on a streamed folder: D's real side comes from files decoded by index with their labels."""
    cfg = tiny("data.name=digits", "model.recipe=cgan")
    trainer = api.build_trainer(cfg, api.run_dir_for(cfg), callbacks=[])
    monkeypatch.setattr(trainer.dataset, "streamed", True, raising=False)
    for name in ("sample", "sample_with_labels"):
        monkeypatch.setattr(trainer.dataset, name, lambda *a, **k: pytest.fail("sampled the training stream"))
    before = torch.random.get_rng_state()
    record = Diagnostics(5, n=64).measure(trainer, 5)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert sum(record["hist_real"]) == 64 and 0 <= record["d_acc"] <= 1
