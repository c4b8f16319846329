"""The earth mover's distance: the lectures' four piles of dirt, and the 1-D closed form.

Utkin, GAN lecture (SPbPU) ("Wasserstein GAN (WGAN) (2)-(7)") and Lai 2017, GAN survey slides
("Earth Mover's Distance"), after Arjovsky, Chintala & Bottou, "Wasserstein GAN" (ICML 2017):

    W(P, Q) = min over plans γ with row sums P and column sums Q of Σ_ij γ_ij |x_i - y_j|.

Worked example (docs/protocols.md): piles P = (3, 2, 1, 4) and Q = (1, 2, 4, 3) one unit apart. The lecture
moves 2 shovels from pile 1 to 2, 2 from pile 2 to 3 and 1 from pile 4 to 3, and computes the same number
with δ_0 = 0, δ_{i+1} = δ_i + P_i - Q_i, W = Σ |δ_i| = 5.

The check solves the linear program exactly with POT (:func:`gankit.metrics.divergences.emd`), verifies
the plan's marginals and cost, certifies optimality with POT's dual potentials (a feasible dual of value 5
proves that no plan costs less), and prices other plans (the lecture's moves, the independent coupling,
random feasible plans). Then, on seeded random 1-D sample sets, POT's exact LP equals the 1-D closed
forms: sorted samples, ``scipy.stats.wasserstein_distance`` and the area ∫ |F_P - F_Q| between the CDFs.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from gankit.metrics.divergences import emd, wasserstein_1d_exact
from gankit.registry import THEORY
from gankit.theory.base import TheoryReport

SEED = 0
P_PILES = np.array([3.0, 2.0, 1.0, 4.0])
Q_PILES = np.array([1.0, 2.0, 4.0, 3.0])
POSITIONS = np.arange(1.0, 5.0)  # four adjacent piles, one unit apart
LECTURE_MOVES = [(1, 2, 2.0), (2, 3, 2.0), (4, 3, 1.0)]  # (from pile, to pile, shovels), 1-based
EXACT_TOL = 1e-9


def lecture_plan() -> np.ndarray:
    """The lecture's sequence of moves as a transport plan γ[i, j] (mass of P's pile i ending in Q's pile j).

    Moving 2 from pile 1 to 2 and then 2 from pile 2 to 3 is read as: 2 of pile 1's shovels stay in pile 2
    and 2 of pile 2's own shovels go on to pile 3 (same work, 1 + 1 per shovel, as the lecture counts it).
    """
    plan = np.zeros((4, 4))
    for i, j, amount in LECTURE_MOVES:
        plan[i - 1, j - 1] += amount
    stay = P_PILES - plan.sum(axis=1)  # what is not moved stays in place
    plan[np.arange(4), np.arange(4)] += stay
    return plan


def delta_recursion(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, float]:
    """The lecture's δ_i = δ_{i-1} + P_i - Q_i (dirt carried past pile i) and W = Σ |δ_i| (unit spacing)."""
    deltas = np.cumsum(p - q)
    return deltas, float(np.abs(deltas).sum())


def random_feasible_plans(p: np.ndarray, q: np.ndarray, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` random transport plans with marginals p and q (exactly, up to rounding).

    Half are vertices of the transport polytope: POT's optimal plan for a random cost matrix (feasible for
    the piles' problem, optimal for a different one). The other half are interior points: random convex
    combinations (Dirichlet weights) of three such vertices.
    """
    import ot  # lazy: see gankit.metrics.divergences.emd

    def vertex() -> np.ndarray:
        return np.asarray(ot.emd(p, q, rng.random((len(p), len(q)))))

    plans = []
    for k in range(n):
        if k % 2 == 0:
            plans.append(vertex())
        else:
            w = rng.dirichlet(np.ones(3))
            plans.append(sum(wi * vertex() for wi in w))
    return plans


def cdf_area(x: np.ndarray, y: np.ndarray, wx: np.ndarray | None = None, wy: np.ndarray | None = None) -> float:
    """∫ |F_x(t) - F_y(t)| dt, exactly: both CDFs are step functions, constant between merged sample points."""
    wx = np.full(len(x), 1.0 / len(x)) if wx is None else wx / wx.sum()
    wy = np.full(len(y), 1.0 / len(y)) if wy is None else wy / wy.sum()
    pts = np.concatenate([x, y])
    mass = np.concatenate([wx, -wy])  # F_x - F_y jumps by +wx at x's points and -wy at y's
    order = np.argsort(pts, kind="stable")
    pts, diff = pts[order], np.cumsum(mass[order])
    return float(np.sum(np.abs(diff[:-1]) * np.diff(pts)))


def _plan_rows(report: TheoryReport, plan: np.ndarray, lec: np.ndarray, M: np.ndarray, indep_cost: float,
               costs: np.ndarray) -> None:
    """The table: each move of POT's plan and of the lecture's, then the independent and random plans' totals."""
    n_random = len(costs)
    for name, g in (("POT exact (ot.emd)", plan), ("lecture's moves", lec)):
        for i in range(4):
            for j in range(4):
                if g[i, j] > 1e-12 and i != j:
                    report.rows.append({
                        "plan": name, "from pile": i + 1, "to pile": j + 1, "amount": float(g[i, j]),
                        "distance": float(M[i, j]), "work": float(g[i, j] * M[i, j]),
                    })
        report.rows.append({
            "plan": name, "from pile": "(stays)", "to pile": "", "amount": float(np.trace(g)),
            "distance": 0.0, "work": 0.0,
        })
        report.rows.append({
            "plan": name, "from pile": "total", "to pile": "", "amount": float(g.sum()), "distance": "",
            "work": float((g * M).sum()),
        })
    report.rows.append({
        "plan": "independent P⊗Q/10", "from pile": "total", "to pile": "", "amount": 10.0, "distance": "",
        "work": indep_cost,
    })
    report.rows.append({
        "plan": f"{n_random} random feasible plans", "from pile": "min / mean", "to pile": "", "amount": 10.0,
        "distance": "", "work": f"{costs.min():.4f} / {costs.mean():.3f}",
    })


def _random_1d_cases(checks: dict[str, bool],
                     quick: bool) -> tuple[list[tuple[Any, ...]], tuple[str, np.ndarray, np.ndarray]]:
    """Step 2: random 1-D cases, POT's exact LP against scipy, the CDF area and sorted samples; the cases'
    table rows and the first case's samples (for the figure)."""
    import ot  # lazy: see gankit.metrics.divergences.emd

    # --- random 1-D cases: exact LP = closed forms --------------------------------------------------------
    rng = np.random.default_rng(SEED + 1)  # its own stream: quick and full draw the same common cases
    cases = [
        ("N(0,1) vs N(1,1), n = m", 200, 200, False,
         lambda n: rng.standard_normal(n), lambda m: 1.0 + rng.standard_normal(m)),
        ("N(0,1) vs N(0,2²), n ≠ m", 150, 230, False,
         lambda n: rng.standard_normal(n), lambda m: 2.0 * rng.standard_normal(m)),
        ("uniform vs exponential, weighted", 120, 90, True, lambda n: rng.random(n), lambda m: rng.exponential(size=m)),
        ("integers with ties", 100, 100, False,
         lambda n: rng.integers(0, 6, n).astype(float), lambda m: rng.integers(0, 6, m).astype(float)),
        ("bimodal vs Gaussian", 300, 300, False,
         lambda n: np.where(rng.random(n) < 0.5, -2.0, 2.0) + 0.5 * rng.standard_normal(n),
         lambda m: 1.5 * rng.standard_normal(m)),
    ]
    if not quick:
        cases += [
            ("N(0,1) vs N(3,1), large", 800, 800, False,
             lambda n: rng.standard_normal(n), lambda m: 3.0 + rng.standard_normal(m)),
            ("Cauchy vs Cauchy, weighted", 400, 500, True,
             lambda n: rng.standard_cauchy(n), lambda m: rng.standard_cauchy(m)),
        ]
    case_rows = []
    shown: tuple[str, np.ndarray, np.ndarray] | None = None
    for label, n, m, weighted, draw_x, draw_y in cases:
        x, y = draw_x(n), draw_y(m)
        wx = rng.random(n) + 0.1 if weighted else np.full(n, 1.0)
        wy = rng.random(m) + 0.1 if weighted else np.full(m, 1.0)
        a, b = wx / wx.sum(), wy / wy.sum()
        w_lp = float(ot.emd2(a, b, np.abs(x[:, None] - y[None, :]), numItermax=10_000_000))
        w_scipy = wasserstein_1d_exact(x, y, a, b)
        w_cdf = cdf_area(x, y, a, b)
        w_sorted = float(np.mean(np.abs(np.sort(x) - np.sort(y)))) if (n == m and not weighted) else math.nan
        errs = [abs(w_lp - w_scipy), abs(w_lp - w_cdf)] + ([] if math.isnan(w_sorted) else [abs(w_lp - w_sorted)])
        err = max(errs)
        what = f"1-D case '{label}': POT LP {w_lp:.6f} = closed forms (max |diff| {err:.0e} <= {EXACT_TOL:g})"
        checks[what] = err <= EXACT_TOL
        case_rows.append((label, n, m, w_lp, w_scipy, w_cdf, w_sorted, err))
        if shown is None:
            shown = (label, x, y)
    assert shown is not None  # `cases` is never empty
    return case_rows, shown


@THEORY.register(
    "earth-mover", description="the lecture's piles: W = 5 with its plan (POT), and 1-D EMD = ∫|F_P - F_Q|"
)
def check(out_dir: Path, quick: bool = False) -> TheoryReport:
    """Run the earth mover check (see the module docstring); the figure goes to ``out_dir``."""
    import ot  # lazy: see gankit.metrics.divergences.emd

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    report = TheoryReport(
        name="earth-mover",
        title="Earth mover's distance: four piles of dirt (W = 5) and the 1-D closed form",
        claim=(
            "W(P, Q) is the least total work (amount × distance) of any plan that turns pile P into pile Q; "
            "for P = (3, 2, 1, 4), Q = (1, 2, 4, 3) on adjacent piles W = Σ|δ_i| = 5 "
            "(Utkin, GAN lecture (SPbPU), 'Wasserstein GAN (WGAN) (2)-(4)'; Lai 2017, GAN survey slides, "
            "'Earth Mover's Distance'; docs/protocols.md). In 1-D, W = ∫ |F_P - F_Q| (Arjovsky et al. 2017)."
        ),
    )
    checks = report.checks
    M = np.abs(POSITIONS[:, None] - POSITIONS[None, :])  # (4, 4) distance between piles

    # --- the lecture's piles ------------------------------------------------------------------------------
    cost, plan = emd(P_PILES, Q_PILES, M)
    _, log = ot.emd(P_PILES, Q_PILES, M, log=True)
    u, v = np.asarray(log["u"]), np.asarray(log["v"])
    dual_value = float(P_PILES @ u + Q_PILES @ v)
    dual_slack = float((M - u[:, None] - v[None, :]).min())
    deltas, w_delta = delta_recursion(P_PILES, Q_PILES)
    lec = lecture_plan()
    lec_cost = float((lec * M).sum())

    checks[f"POT exact EMD cost = {cost:g} = 5 (±{EXACT_TOL:g})"] = abs(cost - 5.0) <= EXACT_TOL
    checks["POT plan: row sums = P = (3, 2, 1, 4), column sums = Q = (1, 2, 4, 3), all entries >= 0"] = bool(
        np.allclose(plan.sum(axis=1), P_PILES, atol=1e-12)
        and np.allclose(plan.sum(axis=0), Q_PILES, atol=1e-12)
        and plan.min() >= 0
    )
    checks[
        f"optimality certificate: dual potentials feasible (min slack {dual_slack:.1e} >= 0) "
        f"with value {dual_value:g} = 5, "
        "so every plan costs >= 5"
    ] = dual_slack >= -1e-12 and abs(dual_value - 5.0) <= EXACT_TOL
    what = f"lecture's δ recursion: δ = {tuple(int(d) for d in deltas)}, Σ|δ_i| = {w_delta:g} = 5"
    checks[what] = abs(w_delta - 5.0) <= EXACT_TOL
    checks[f"lecture's moves (2: 1→2, 2: 2→3, 1: 4→3) form a feasible plan of cost {lec_cost:g} = 5"] = bool(
        np.allclose(lec.sum(axis=1), P_PILES) and np.allclose(lec.sum(axis=0), Q_PILES) and lec.min() >= 0
        and abs(lec_cost - 5.0) <= EXACT_TOL
    )
    rng = np.random.default_rng(SEED)
    n_random = 100 if quick else 1000
    randoms = random_feasible_plans(P_PILES, Q_PILES, n_random, rng)
    feas = max(max(np.abs(g.sum(axis=1) - P_PILES).max(), np.abs(g.sum(axis=0) - Q_PILES).max()) for g in randoms)
    costs = np.array([(g * M).sum() for g in randoms])
    indep = np.outer(P_PILES, Q_PILES) / P_PILES.sum()
    indep_cost = float((indep * M).sum())
    checks[
        f"{n_random} random feasible plans (marginal error {feas:.0e}) all cost >= 5: min {costs.min():.4f}, "
        f"mean {costs.mean():.3f}"
    ] = feas <= 1e-9 and costs.min() >= 5.0 - 1e-9
    checks[f"independent plan P⊗Q/10 costs {indep_cost:g} >= 5"] = indep_cost >= 5.0

    _plan_rows(report, plan, lec, M, indep_cost, costs)

    case_rows, shown = _random_1d_cases(checks, quick)

    lines = [
        "POT's optimal plan is not unique here (the lecture's moves are another optimal plan); both cost 5. "
        f"Dual potentials from ot.emd: u = {np.round(u, 6).tolist()}, v = {np.round(v, 6).tolist()}. "
        f"Random plans (seed {SEED}): {n_random - n_random // 2} vertices of the transport polytope (ot.emd optima "
        f"for random costs) and {n_random // 2} random convex combinations of three vertices.",
        "",
        "| 1-D case | n | m | POT exact LP | scipy wasserstein_distance | ∫\\|F_P - F_Q\\| | sorted samples "
        "| max \\|diff\\| |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, n, m, w_lp, w_scipy, w_cdf, w_sorted, err in case_rows:
        srt = "n/a" if math.isnan(w_sorted) else f"{w_sorted:.9f}"
        lines.append(f"| {label} | {n} | {m} | {w_lp:.9f} | {w_scipy:.9f} | {w_cdf:.9f} | {srt} | {err:.1e} |")
    lines += ["", f"Runtime {time.perf_counter() - t0:.1f} s."]
    report.notes = "\n".join(lines)
    report.figures.append(_figure(out_dir / "earth-mover.png", plan, lec, shown))
    report.checks = {k: bool(v) for k, v in report.checks.items()}  # numpy bools are not JSON
    return report


def _figure(path: Path, plan: np.ndarray, lec: np.ndarray, shown: tuple[str, np.ndarray, np.ndarray]) -> Path:
    from matplotlib.patches import FancyArrowPatch

    from gankit.viz.toy import _new_figure, _save_png

    fig = _new_figure((15, 4.3))
    ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.3, 1, 1.2]})
    w = 0.38
    ax1.bar(POSITIONS - w / 2, P_PILES, w, color="#1f77b4", label="P = (3, 2, 1, 4)")
    ax1.bar(POSITIONS + w / 2, Q_PILES, w, color="#ff7f0e", hatch="//", alpha=0.8, label="Q = (1, 2, 4, 3)")
    for i in range(4):
        for j in range(4):
            if i != j and plan[i, j] > 1e-12:
                arrow = FancyArrowPatch(
                    (POSITIONS[i] - w / 2, P_PILES[i] + 0.25), (POSITIONS[j] + w / 2, Q_PILES[j] + 0.25),
                    connectionstyle="arc3,rad=-0.35", arrowstyle="-|>", mutation_scale=14, color="k", lw=1.3,
                )
                ax1.add_patch(arrow)
                top = max(P_PILES[i], Q_PILES[j]) + 0.95
                ax1.text((POSITIONS[i] + POSITIONS[j]) / 2, top, f"{plan[i, j]:g}", ha="center", fontsize=10)
    ax1.set_xticks(POSITIONS, [f"pile {k}" for k in range(1, 5)])
    ax1.set_ylim(0, 6.2)
    ax1.set_title(f"POT's optimal plan: total work {(plan * np.abs(POSITIONS[:, None] - POSITIONS[None, :])).sum():g}")
    ax1.legend(fontsize=8, loc="upper left")
    ax2.imshow(plan, cmap="Blues", vmin=0)
    for i in range(4):
        for j in range(4):
            txt = f"{plan[i, j]:g}" + (f"\n(lecture {lec[i, j]:g})" if abs(lec[i, j] - plan[i, j]) > 1e-12 else "")
            color = "w" if plan[i, j] > 0.6 * plan.max() else "k"  # readable on the dark cells
            ax2.text(j, i, txt, ha="center", va="center", fontsize=9, color=color)
    ax2.set_xticks(range(4), [f"Q{k}" for k in range(1, 5)])
    ax2.set_yticks(range(4), [f"P{k}" for k in range(1, 5)])
    ax2.set_title("plan γ[from P pile, to Q pile]")
    label, x, y = shown
    t = np.sort(np.concatenate([x, y]))
    fx = np.searchsorted(np.sort(x), t, side="right") / len(x)
    fy = np.searchsorted(np.sort(y), t, side="right") / len(y)
    ax3.step(t, fx, where="post", color="#1f77b4", label="F_P")
    ax3.step(t, fy, where="post", color="#ff7f0e", label="F_Q")
    ax3.fill_between(t, fx, fy, step="post", color="0.8", label="area = W (1-D)")
    ax3.set_title(f"1-D: W = ∫|F_P - F_Q| ({label})", fontsize=10)
    ax3.legend(fontsize=8)
    fig.tight_layout()
    _save_png(fig, path)
    return path
