"""The critic's Wasserstein estimate tracks the true distance; the discriminator's JS estimate does not.

Arjovsky, Chintala, Bottou, "Wasserstein GAN" (2017), figures 3-4; Hung-yi Lee, GAN lecture (ATDL 14)
("Evaluating JS divergence": the discriminator's loss stays ~0, i.e. JS ~ log 2, whatever the generator)
and Lai 2017, GAN survey slides (WGAN).

One WGAN-GP training on ring8. At each probe, with the generator frozen, both estimators are taken near
their optimum, as the theory assumes:

- Ŵ = E[D(x)] - E[D(G(z))] from a copy of the current critic refined for a few more critic steps (the
  Kantorovich-Rubinstein dual with a ~1-Lipschitz critic), next to the exact Wasserstein-1 distance
  between data and samples (POT's exact solver on 1,000 + 1,000 points);
- JŜ = (Ṽ + 2 log 2) / 2 from a fresh discriminator trained on the same samples with the cross-entropy
  loss (V(G, D*) = -2 log 2 + 2 JSD, Hung-yi Lee, Theory behind GAN).

The claim: Ŵ falls with W1 (rank correlation near 1), while JŜ saturates at log 2 as long as the samples are
far from the data (their supports barely overlap), however much W1 falls meanwhile: the discriminator's
value tells the generator nothing about how far it still has to go. The saturation check asks how far W1
has fallen by the last probe whose JS estimate is still within 10 % of log 2 (at least half). It does
not take the smallest JS estimate over a window defined by W1: the estimate is a noisy lower bound (a
finitely trained discriminator scored on 2,000 + 2,000 held-out points), and the boundary of "far" is not
sharp — the estimate starts to fall once the samples reach the ring (W1 below ~0.3 here). Measured, not
assumed: once the samples overlap the modes, the true JS falls too, and so does the estimate; the last
check asks for that, so a JS estimate stuck at log 2 would fail.

Quick mode (600 generator steps, a probe every 100) covers the far phase and the samples' arrival at the
ring (W1 ~0.2 at the end), which is all the checks need; full mode (3,000 steps) also shows the estimates
converging as W1 falls below 0.1. Measured over run seeds 0-3 in quick mode: W1 had fallen by 62-67 %
while the JS estimate was still within 10 % of log 2, the estimate's final fall from log 2 was 24-47 %,
Spearman 0.93-1.0; seed 0 in full mode: 71 %, 70 %, 0.95.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from gankit import config as config_mod
from gankit.metrics.divergences import wasserstein_points
from gankit.nets.mlp import MLPDiscriminator
from gankit.objectives.minimax import discriminator_loss, game_value
from gankit.registry import THEORY
from gankit.theory.base import TheoryReport
from gankit.train.build import build_trainer
from gankit.train.callbacks import Callback
from gankit.train.rundir import RunDir

LOG2 = math.log(2.0)
JS_BAND = 0.10  # "reads log 2": within 10 % of it


def _fresh_js_estimate(real: torch.Tensor, fake: torch.Tensor, steps: int, seed: int) -> tuple[float, float]:
    """Train a new discriminator on (real, fake) and return (JS estimate, accuracy) on held-out halves."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        d = MLPDiscriminator(real.shape[1], width=128, depth=3, act="relu")
        opt = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.999))
        n = len(real) // 2
        tr_r, te_r, tr_f, te_f = real[:n], real[n:], fake[:n], fake[n:]
        for _ in range(steps):
            i = torch.randint(n, (256,))
            j = torch.randint(n, (256,))
            loss = discriminator_loss(d(tr_r[i]), d(tr_f[j]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            sr, sf = d(te_r), d(te_f)
            v = float(game_value(sr, sf))
            acc = float(((sr > 0).float().mean() + (sf < 0).float().mean()) / 2)
    return (v + 2 * LOG2) / 2, acc


def _refined_critic_estimate(recipe, dataset, real: torch.Tensor, fake: torch.Tensor, steps: int, seed: int) -> float:
    """Ŵ from a copy of the current critic trained ``steps`` more critic steps against the frozen generator."""
    from gankit.objectives.wasserstein import wgan_d_loss
    from gankit.regularizers import gradient_penalty

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = copy.deepcopy(recipe.discriminator)
        opt = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
        for _ in range(steps):
            x = dataset.sample(256)
            with torch.no_grad():
                g = recipe.generator(recipe.generator.sample_noise(256))
            loss = wgan_d_loss(critic(x), critic(g)) + gradient_penalty(critic, x, g, weight=10.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return float(critic(real).mean() - critic(fake).mean())


class _Probe(Callback):
    def __init__(self, every: int, refine: int, fresh_steps: int) -> None:
        self.every, self.refine, self.fresh_steps = every, refine, fresh_steps
        self.rows: list[dict[str, float]] = []

    def on_step(self, trainer, step: int) -> None:
        if step % self.every and step != 1:
            return
        gen = torch.Generator().manual_seed(step)
        fake = trainer.recipe.sample(4000, generator=gen).float()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(10_000 + step)
            real = trainer.dataset.sample(4000)
        w1 = wasserstein_points(fake.numpy()[:1000].astype(np.float64), real.numpy()[:1000].astype(np.float64))
        w_hat = _refined_critic_estimate(trainer.recipe, trainer.dataset, real, fake, self.refine, seed=step)
        js, acc = _fresh_js_estimate(real, fake, self.fresh_steps, seed=step)
        self.rows.append({"step": step, "W1 (POT)": w1, "critic estimate": w_hat, "JS estimate": js, "D accuracy": acc})


def _train(out_dir: Path, steps: int, every: int, refine: int, fresh_steps: int,
           warmup: bool = True) -> list[dict[str, float]]:
    cfg = config_mod.resolve("ring8-wgan-gp", overrides=[
        f"train.d_steps_schedule={'wgan' if warmup else 'constant'}",
        f"train.steps={steps}", "train.sample_every=0", "train.progress=false", "train.ema=0",
        f"run.out_dir={out_dir}", "eval.metrics=wasserstein", f"train.checkpoint_every={steps}",
    ])
    probe = _Probe(every, refine, fresh_steps)
    run = RunDir(Path(out_dir) / cfg.run.name)
    with torch.random.fork_rng(devices=[]):
        trainer = build_trainer(cfg, run, callbacks=[probe])
        run.root.mkdir(parents=True, exist_ok=True)
        config_mod.save(cfg, run.config)
        trainer.fit()
    return probe.rows


def _checks(rows: list[dict[str, float]]) -> dict[str, bool]:
    """The claim's assertions on the probes' table (first row: step 1)."""
    w = np.array([r["W1 (POT)"] for r in rows])
    c = np.array([r["critic estimate"] for r in rows])
    js = np.array([r["JS estimate"] for r in rows])
    rho = float(spearmanr(c, w).statistic)
    flat = np.abs(js - LOG2) <= JS_BAND * LOG2  # probes whose JS estimate still reads ~log 2
    w_flat = float((w[0] - w[flat].min()) / w[0]) if flat.any() else 0.0  # how far W1 had fallen by then
    js_end = (LOG2 - js[-1]) / LOG2
    return {
        f"exact W1 falls during training ({w[0]:.3f} -> {w[-1]:.3f}, at least halved)": bool(w[-1] < 0.5 * w[0]),
        f"critic estimate rank-correlates with exact W1 (Spearman {rho:.2f} >= 0.8)": rho >= 0.8,
        f"critic estimate falls with W1 ({c[0]:.3f} -> {c[-1]:.3f}, at least halved)": bool(c[-1] < 0.5 * c[0]),
        f"W1 falls by {w_flat:.0%} (at least half) while the JS estimate still reads log 2 within {JS_BAND:.0%} "
        f"(>= {(1 - JS_BAND) * LOG2:.3f}): it saturates while the samples are far": w_flat >= 0.5,
        f"once the samples reach the modes (W1 {w[-1]:.3f} at the last probe), the JS estimate has fallen "
        f"{js_end:.0%} from log 2 (at least 15 %): it is not stuck": bool(js_end >= 0.15),
    }


@THEORY.register("wasserstein-estimate",
                 description="WGAN critic tracks exact W1 (POT); a GAN discriminator's JS estimate stays flat")
def check(out_dir: Path, quick: bool = False) -> TheoryReport:
    out_dir = Path(out_dir)
    steps, every, refine, fresh = (600, 100, 300, 1000) if quick else (3000, 300, 500, 3000)
    with tempfile.TemporaryDirectory(prefix="gankit-west-") as tmp:  # the training run itself is not a result
        rows = _train(Path(tmp), steps, every, refine, fresh)
    checks = _checks(rows)
    fig_path = out_dir / "wasserstein-estimate.png"
    _figure(rows, fig_path)
    return TheoryReport(
        name="wasserstein-estimate",
        title=("The critic's estimate tracks the Wasserstein distance; the discriminator's JS estimate saturates "
               "while the samples are far"),
        claim=("A (near) 1-Lipschitz critic's E[D(x)] - E[D(G(z))] follows W(P_data, P_G) as training improves G, "
               "while a discriminator trained to optimality reports JS ≈ log 2 for supports that barely overlap "
               "(Hung-yi Lee, GAN lecture (ATDL 14), 'Evaluating JS divergence'; Lai 2017, GAN survey slides, WGAN)."),
        rows=rows, checks=checks, figures=[fig_path],
        notes=("The JS estimate is a lower bound (a discriminator trained for finitely many steps); it stays at log 2 "
               "while the samples are far and falls once they overlap the modes. "
               f"WGAN-GP on ring8 (modes of std 0.01), {steps} generator steps, a probe every {every}: the critic copy "
               f"is refined {refine} steps and a fresh 128x3 discriminator trained {fresh} steps on each probe's "
               "samples."
               + (" Quick mode covers the far phase and the samples' arrival at the ring; the full run (3,000 steps) "
                  "also shows both estimates converging as W1 falls below 0.1." if quick else "")),
    )


def _figure(rows: list[dict[str, float]], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(steps, [r["W1 (POT)"] for r in rows], "k-o", label="exact W1 (POT)")
    ax.plot(steps, [r["critic estimate"] for r in rows], "C0-s", label="critic estimate E D(x) - E D(G(z))")
    ax.plot(steps, [r["JS estimate"] for r in rows], "C3-^", label="JS estimate (V + 2 log 2)/2, fresh D")
    ax.axhline(LOG2, color="C3", ls="--", lw=1, label="log 2")
    ax.set_xlabel("generator step (WGAN-GP on ring8)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
