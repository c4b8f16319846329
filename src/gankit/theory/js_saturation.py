"""JS saturates at log 2 on disjoint low-dimensional supports; the earth mover distance does not.

Hung-yi Lee, GAN lecture (ATDL 14) ("Evaluating JS divergence", "Discriminator", "Evaluation"): the
discriminator's loss should measure the JS divergence, but in practice it reaches ~0 (accuracy 100 %)
for every generator, good or bad, because P_data and P_G are low-dimensional manifolds of a
high-dimensional space that barely overlap ("two lines in 2-D"), so JS = log 2 and tells the generator
nothing about how close it is. Arjovsky, Chintala & Bottou, "Wasserstein GAN" (ICML 2017), Example 1,
and docs/protocols.md ("Worked examples"): P = (0, U[0, 1]), Q_θ = (θ, U[0, 1]) has

    JS(P, Q_θ) = log 2,  KL(P ‖ Q_θ) = KL(Q_θ ‖ P) = ∞,  W(P, Q_θ) = |θ|   for θ ≠ 0, all 0 at θ = 0.

The check computes these three ways: the closed forms; independent numerical estimates from samples
(2-D histograms fed to :func:`js_divergence_grid` / :func:`kl_divergence_grid`, and POT's exact earth
mover LP between point clouds); and a fresh MLP discriminator trained with the cross-entropy loss for
each θ, whose accuracy stays ~100 % and loss ~0 — a flat JS estimate — while W shrinks with θ. It repeats
the discriminator experiment on a second family of 1-D manifolds in the plane: a segment and a copy
rotated by a small angle about a point off the segment (disjoint supports again).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gankit.metrics.divergences import js_divergence_grid, kl_divergence_grid, wasserstein_1d_exact, wasserstein_points
from gankit.registry import THEORY
from gankit.theory.base import TheoryReport
from gankit.theory.optimal_discriminator import logits_of, train_discriminator

LN2 = math.log(2.0)
SEED = 0
Sampler = Callable[[int, np.random.Generator], np.ndarray]

ACC_MIN = 0.99
"""Held-out accuracy the discriminator must reach for every θ ≠ 0."""
LOSS_MAX = 0.02
"""Held-out cross-entropy (nats, both halves summed: 2 log 2 ≈ 1.386 at chance) allowed for θ ≠ 0."""
D_LR = 0.02
"""Adam learning rate of the discriminators (a strong classifier: separating x = 0 from x = 0.01 with a
confident margin needs large weights, which a small learning rate takes thousands of steps to grow)."""


def parallel_line(theta: float) -> Sampler:
    """(θ, U[0, 1]): n points as an (n, 2) array."""
    return lambda n, rng: np.column_stack([np.full(n, float(theta)), rng.random(n)])


def rotated_segment(alpha: float) -> Sampler:
    """The segment {(t, 0): t ∈ [0, 1]} rotated by ``alpha`` radians about the pivot (-1, 0).

    The pivot is not on the segment, so for alpha ≠ 0 the two segments lie on different rays from the
    pivot and never meet: disjoint supports, like the parallel lines.
    """
    c, s = math.cos(alpha), math.sin(alpha)
    return lambda n, rng: _rotate(rng.random(n), c, s)


def _rotate(t: np.ndarray, c: float, s: float) -> np.ndarray:
    r = 1.0 + t  # distance from the pivot
    return np.column_stack([-1.0 + r * c, r * s])


def closed_form(theta: float) -> dict[str, float]:
    """JS, KL (both ways) and W for P = (0, U[0,1]) and Q = (θ, U[0,1]).

    For θ ≠ 0 the supports {x = 0} and {x = θ} are disjoint: on supp P, q = 0, so p log(2p / (p + q)) =
    p log 2 and JS = ½ log 2 + ½ log 2; KL integrates p log(p / 0) = ∞. Every coupling moves each point at
    least |θ| horizontally and the translation (0, y) -> (θ, y) moves it exactly |θ|, so W = |θ|.
    """
    if theta == 0.0:
        return {"js": 0.0, "kl": 0.0, "w": 0.0}
    return {"js": LN2, "kl": math.inf, "w": abs(theta)}


def histogram_divergences(
    theta: float, n: int, bin_x: float, rng: np.random.Generator, bins_y: int = 10
) -> tuple[float, float]:
    """JS and KL(P ‖ Q) from 2-D histograms of n samples of each distribution.

    x-bins of width ``bin_x`` are centred on multiples of ``bin_x`` (so x = 0 sits in the middle of a
    bin); y is cut into ``bins_y`` bins on [0, 1]. The histograms are densities on the same grid, fed to
    the grid helpers.
    """
    xp, xq = parallel_line(0.0)(n, rng), parallel_line(theta)(n, rng)
    lo = -1.5 - 0.5 * bin_x
    nx = int(round(3.0 / bin_x)) + 1
    edges_x = lo + bin_x * np.arange(nx + 1)
    edges_y = np.linspace(0.0, 1.0, bins_y + 1)
    hp, _, _ = np.histogram2d(xp[:, 0], xp[:, 1], bins=[edges_x, edges_y], density=True)
    hq, _, _ = np.histogram2d(xq[:, 0], xq[:, 1], bins=[edges_x, edges_y], density=True)
    cell = bin_x * (1.0 / bins_y)
    return js_divergence_grid(hp, hq, cell), kl_divergence_grid(hp, hq, cell)


def _discriminator_stats(real: Sampler, fake: Sampler, steps: int, n_eval: int, seed: int) -> dict[str, float]:
    """Train a fresh MLP discriminator; held-out accuracy, cross-entropy and the JS it implies."""
    net = train_discriminator(real, fake, 2, steps, lr=D_LR, seed=seed)
    rng = np.random.default_rng(seed + 1000)  # held-out samples
    s_real, s_fake = logits_of(net, real(n_eval, rng), 2), logits_of(net, fake(n_eval, rng), 2)
    loss = float(np.mean(np.logaddexp(0.0, -s_real)) + np.mean(np.logaddexp(0.0, s_fake)))  # -Ṽ
    acc = 0.5 * float(np.mean(s_real > 0)) + 0.5 * float(np.mean(s_fake < 0))
    # max_D V = -2 log 2 + 2 JS and Ṽ = -loss: the discriminator's JS estimate (a lower bound).
    return {"acc": acc, "loss": loss, "js_d": LN2 - 0.5 * loss}


def _line_case(checks: dict[str, bool], theta: float, n_hist: int, bin_x: float, n_w: int,
               rng: np.random.Generator) -> dict[str, Any]:
    """Step 1, parallel lines θ apart: JS and KL in closed form and from histograms, W by POT on quantile points
    and on random samples; adds the checks, returns the table row (with θ and the y-samples' W1)."""
    cf = closed_form(theta)
    js_h, kl_h = histogram_divergences(theta, n_hist, bin_x, rng)
    # W two ways: (a) quantile points y_i = (i + ½)/n for both lines (the midpoint discretisation of
    # U[0,1]); (b) independent random samples, for which |θ| <= Ŵ <= |θ| + W1(y-samples) exactly.
    yq = (np.arange(n_w) + 0.5) / n_w
    on_q, on_p = np.column_stack([np.full(n_w, theta), yq]), np.column_stack([np.zeros(n_w), yq])
    w_quant = wasserstein_points(on_q, on_p, n_w)
    a, b = parallel_line(0.0)(n_w, rng), parallel_line(theta)(n_w, rng)
    w_rand = wasserstein_points(b, a, n_w)
    w_y = wasserstein_1d_exact(a[:, 1], b[:, 1])
    row: dict[str, object] = {
        "family": "parallel lines", "θ / angle": theta,
        "JS": cf["js"], "JS (histogram)": js_h, "KL": cf["kl"], "KL (histogram)": kl_h,
        "W": cf["w"], "W (POT, quantile pts)": w_quant, "W (POT, random)": w_rand,
    }
    out = {"theta": theta, "w_y": w_y, **row}
    if theta != 0.0:
        checks[f"θ={theta:g}: JS histogram estimate {js_h:.6f} = log 2 (±1e-9), KL estimate = ∞"] = (
            abs(js_h - LN2) <= 1e-9 and math.isinf(kl_h)
        )
    else:
        what = f"θ=0: JS histogram estimate {js_h:.1e} and KL estimate {kl_h:.1e} ≈ 0 (<= 0.01)"
        checks[what] = js_h <= 0.01 and kl_h <= 0.01
    what = f"θ={theta:g}: POT W on quantile points {w_quant:.10f} = |θ| (±1e-9)"
    checks[what] = abs(w_quant - abs(theta)) <= 1e-9
    what = (
        f"θ={theta:g}: |θ| <= POT W on random samples {w_rand:.4f} <= |θ| + W1(y samples) "
        f"= {abs(theta) + w_y:.4f}"
    )
    checks[what] = (
        abs(theta) - 1e-9 <= w_rand <= abs(theta) + w_y + 1e-9
    )
    return out


def _line_discriminator(checks: dict[str, bool], theta: float, steps: int, n_eval: int) -> dict[str, float]:
    """Step 2, one θ: a fresh MLP discriminator separates the lines perfectly (θ ≠ 0) or sits at chance (θ = 0)."""
    st = _discriminator_stats(parallel_line(0.0), parallel_line(theta), steps, n_eval, SEED)
    if theta == 0.0:
        what = (
            f"θ=0 (control): D at chance, accuracy {st['acc']:.3f} <= 0.55, "
            f"loss {st['loss']:.4f} >= 2 log 2 - 0.01"
        )
        checks[what] = (
            st["acc"] <= 0.55 and st["loss"] >= 2 * LN2 - 0.01
        )
    else:
        checks[f"θ={theta:g}: D accuracy {st['acc']:.4f} >= {ACC_MIN}, loss {st['loss']:.2e} <= {LOSS_MAX}"] = (
            st["acc"] >= ACC_MIN and st["loss"] <= LOSS_MAX
        )
    return st


def _segment_case(report: TheoryReport, checks: dict[str, bool], alpha_deg: float, steps: int, n_eval: int,
                  n_w: int) -> dict[str, float]:
    """Step 3, a segment and its rotation by ``alpha_deg``: W within its bounds, D separates them; adds the
    checks and the table row, returns the figure's numbers."""
    alpha = math.radians(alpha_deg)
    st = _discriminator_stats(rotated_segment(0.0), rotated_segment(alpha), steps, n_eval, SEED)
    tq = (np.arange(n_w) + 0.5) / n_w
    w_q = wasserstein_points(_rotate(tq, math.cos(alpha), math.sin(alpha)), _rotate(tq, 1.0, 0.0), n_w)
    lo_b, hi_b = 1.5 * math.sin(alpha), 3.0 * math.sin(alpha / 2)
    # Lower bound: the 1-Lipschitz f(x, y) = y has E_Q f - E_P f = mean(1 + t) sin α = 1.5 sin α;
    # upper bound: rotating back moves a point at radius 1 + t by 2 (1 + t) sin(α/2).
    what = (
        f"segment rotated {alpha_deg:g}°: POT W {w_q:.5f} in [1.5 sin α, 3 sin(α/2)] "
        f"= [{lo_b:.5f}, {hi_b:.5f}]"
    )
    checks[what] = (
        lo_b - 1e-9 <= w_q <= hi_b + 1e-9
    )
    what = (
        f"segment rotated {alpha_deg:g}°: D accuracy {st['acc']:.4f} >= {ACC_MIN}, "
        f"loss {st['loss']:.2e} <= {LOSS_MAX}"
    )
    checks[what] = (
        st["acc"] >= ACC_MIN and st["loss"] <= LOSS_MAX
    )
    report.rows.append({
        "family": "rotated segment", "θ / angle": f"{alpha_deg:g}°",
        "JS": LN2, "JS (histogram)": "", "KL": math.inf, "KL (histogram)": "",
        "W": f"[{lo_b:.4g}, {hi_b:.4g}]", "W (POT, quantile pts)": w_q, "W (POT, random)": "",
        "D accuracy": st["acc"], "D loss": st["loss"], "JS from D": st["js_d"],
    })
    return {"alpha": alpha_deg, "w": w_q, "lo": lo_b, "hi": hi_b, **st}


@THEORY.register(
    "js-saturation",
    description="parallel lines: JS = log 2, KL = ∞, W = |θ|; a trained D is ~100% accurate for every θ ≠ 0",
)
def check(out_dir: Path, quick: bool = False) -> TheoryReport:
    """Run the JS-saturation check (see the module docstring); the figure goes to ``out_dir``."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    if quick:
        thetas = [0.0, 0.01, 0.1, 0.5, 1.0]
        angles_deg = [20.0, 5.0, 1.0]
        n_hist, n_w, steps, n_eval = 20_000, 300, 150, 20_000
    else:
        thetas = [-0.5, 0.0, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0]
        angles_deg = [20.0, 5.0, 1.0, 0.5]
        n_hist, n_w, steps, n_eval = 100_000, 1_000, 500, 50_000
    bin_x = 0.002  # finer than the smallest |θ| = 0.01: the histogram can tell the lines apart
    d_thetas = [t for t in thetas if t in (0.0, 0.01, 0.1, 0.5, 1.0)]

    report = TheoryReport(
        name="js-saturation",
        title="JS saturates at log 2 on disjoint supports; the earth mover distance shrinks with θ",
        claim=(
            "For P = (0, U[0,1]) and Q_θ = (θ, U[0,1]): KL = ∞ both ways, JS = log 2 and W = |θ| for θ ≠ 0, "
            "all 0 "
            "at θ = 0 (docs/protocols.md; Arjovsky et al. 2017, Example 1). So a discriminator trained to the JS "
            "reaches ~100 % accuracy and loss ~0 for every θ ≠ 0 and its JS estimate stays flat at log 2 while "
            "the generator improves (Hung-yi Lee, GAN lecture (ATDL 14), 'Evaluating JS divergence'; the lecture's "
            "two lines in 2-D)."
        ),
    )
    checks = report.checks
    rng = np.random.default_rng(SEED)
    results: list[dict[str, Any]] = []

    for theta in thetas:
        results.append(_line_case(checks, theta, n_hist, bin_x, n_w, rng))

    # The histogram only sees the gap when its bins are finer than the gap (the JS of a finite-resolution
    # view is either ~0 or exactly log 2): the resolution sweep of the figure.
    sweep_bins = [0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
    sweep = {
        th: [histogram_divergences(th, n_hist // 4, h, np.random.default_rng(SEED + 7))[0] for h in sweep_bins]
        for th in (0.01, 0.1)
    }

    # Discriminators: a fresh MLP per θ, and per rotation angle of the segment.
    d_stats: dict[float, dict[str, float]] = {}
    for theta in d_thetas:
        d_stats[theta] = _line_discriminator(checks, theta, steps, n_eval)
    for r in results:
        st = d_stats.get(float(r["theta"]))
        r.update({
            "D accuracy": st["acc"] if st else "", "D loss": st["loss"] if st else "",
            "JS from D": st["js_d"] if st else "",
        })
    js_d = [d_stats[t]["js_d"] for t in d_thetas if t != 0.0]
    what = f"JS estimate from D flat while θ shrinks 100x: range {min(js_d):.4f}..{max(js_d):.4f} within 0.01 of log 2"
    checks[what] = (
        max(abs(v - LN2) for v in js_d) <= 0.01
    )

    seg_rows = []
    for alpha_deg in angles_deg:
        seg_rows.append(_segment_case(report, checks, alpha_deg, steps, n_eval, n_w))
    report.rows[:0] = [{k: v for k, v in r.items() if k not in ("theta", "w_y")} for r in results]

    report.notes = (
        f"Histograms: {n_hist:,} samples per distribution, x-bins {bin_x:g} wide centred on multiples of {bin_x:g}, "
        f"10 y-bins. W: POT exact EMD (Euclidean cost) between {n_w:,} quantile points y_i = (i+½)/n per line "
        f"(equals |θ| exactly) and between {n_w:,} independent random samples per line (then |θ| <= Ŵ <= |θ| + "
        "W1 of the y-samples, a sandwich that holds exactly). Discriminators: a fresh MLP 64x2 LeakyReLU per case, "
        f"Adam lr {D_LR:g}, {steps} steps of 256 + 256 fresh samples; accuracy and loss on {n_eval:,} held-out samples "
        "of each; 'JS from D' = log 2 - loss/2 (from max_D V = -2 log 2 + 2 JS). Rotated segments: "
        "{(t, 0): t in [0, 1]} vs its rotation about (-1, 0), disjoint for every angle ≠ 0, so JS = log 2 and "
        "KL = ∞ there too; W has no simple closed form but lies in [1.5 sin α, 3 sin(α/2)] (≈ 1.5 α). "
        "Histogram resolution sweep (JS estimate for bin widths "
        + ", ".join(f"{h:g}" for h in sweep_bins) + "): "
        + "; ".join(f"θ={th:g}: " + ", ".join(f"{v:.3f}" for v in vals) for th, vals in sweep.items())
        + " — any view fine enough to see the gap sees exactly log 2. "
        f"Runtime {time.perf_counter() - t0:.1f} s."
    )
    report.figures.append(_figure(out_dir / "js-saturation.png", results, d_stats, seg_rows, sweep_bins, sweep))
    report.checks = {k: bool(v) for k, v in report.checks.items()}  # numpy bools are not JSON
    return report


def _figure(
    path: Path, results: list[dict], d_stats: dict, seg_rows: list[dict], sweep_bins: list[float], sweep: dict
) -> Path:
    from gankit.viz.toy import _new_figure, _save_png

    fig = _new_figure((12, 8.5))
    (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
    th = np.array([r["theta"] for r in results], dtype=float)
    order = np.argsort(th)
    th = th[order]
    res = [results[i] for i in order]
    ax1.plot(th, [r["JS"] for r in res], "o", color="#1f77b4", label="JS (closed form)")
    ax1.plot(th, [r["JS (histogram)"] for r in res], "x", color="#1f77b4", ms=11, label="JS (2-D histogram estimate)")
    ax1.plot(th, [r["W"] for r in res], "s-", color="#2ca02c", label="W = |θ| (closed form)")
    ax1.plot(th, [r["W (POT, random)"] for r in res], "^", color="#2ca02c", label="W (POT, random samples)")
    inf_th = [t for t, r in zip(th, res) if math.isinf(float(r["KL"]))]
    ax1.plot(
        inf_th, [1.08] * len(inf_th), ls="none", marker=r"$\infty$", ms=13, color="#d62728", label="KL = ∞ (θ ≠ 0)"
    )
    ax1.plot([0.0], [0.0], "D", color="#d62728", label="KL = 0 (θ = 0)")
    ax1.axhline(LN2, color="gray", ls=":", lw=1)
    ax1.set_ylim(-0.05, 1.18)
    ax1.set_xlabel("θ")
    ax1.set_title("parallel lines: divergences against θ")
    ax1.legend(fontsize=8, loc="center right")

    dt = sorted(t for t in d_stats if t != 0.0)
    acc_style = {"color": "#9467bd", "ms": 11, "mfc": "none", "label": "D accuracy (held out)"}
    ax2.semilogx(dt, [d_stats[t]["acc"] for t in dt], "o-", **acc_style)
    ax2.semilogx(dt, [d_stats[t]["js_d"] / LN2 for t in dt], "s--", color="#1f77b4", label="JS from D / log 2")
    ax2.semilogx(dt, dt, "^-", color="#2ca02c", label="W = |θ|")
    if 0.0 in d_stats:
        acc0 = d_stats[0.0]["acc"]
        ax2.axhline(acc0, color="#9467bd", ls=":", lw=1, label=f"D accuracy at θ = 0: {acc0:.2f}")
    ax2.set_xlabel("θ (log scale)")
    ax2.set_ylim(-0.05, 1.1)
    ax2.set_title("a fresh discriminator per θ: flat at 100 %")
    ax2.legend(fontsize=8, loc="center left")

    al = [r["alpha"] for r in seg_rows]
    ax3.semilogx(al, [r["acc"] for r in seg_rows], "o-", **acc_style)
    ax3.semilogx(al, [r["js_d"] / LN2 for r in seg_rows], "s--", color="#1f77b4", label="JS from D / log 2")
    ax3.semilogx(al, [r["w"] for r in seg_rows], "^-", color="#2ca02c", label="W (POT)")
    ax3.set_xlabel("rotation angle of the segment (degrees, log scale)")
    ax3.set_ylim(-0.05, 1.1)
    ax3.set_title("segment vs rotated segment")
    ax3.legend(fontsize=8, loc="center left")

    for t, vals in sweep.items():
        ax4.semilogx(sweep_bins, vals, "o-", label=f"θ = {t:g}")
    ax4.axhline(LN2, color="gray", ls=":", label="log 2")
    ax4.invert_xaxis()
    ax4.set_xlabel("histogram bin width in x (finer →)")
    ax4.set_ylabel("JS estimate")
    ax4.set_title("a view fine enough to see the gap sees log 2")
    ax4.legend(fontsize=8)
    fig.tight_layout()
    _save_png(fig, path)
    return path
