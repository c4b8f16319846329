"""Which way round the divergence goes: KL(p‖q) covers modes, KL(q‖p) seeks one, JS lies in between.

Hung-yi Lee, GAN lecture (ATDL 14) ("Flaw in Optimization?", "Mode Collapse"), after Goodfellow's
NIPS 2016 tutorial: maximum likelihood minimises KL(P_data ‖ P_G), which is infinite wherever P_data > 0
and P_G = 0, so a P_G that can only make one Gaussian spreads over both bumps of a bimodal P_data; the
reverse KL(P_G ‖ P_data) is infinite wherever P_G > 0 and P_data = 0, so P_G stays inside one bump —
"mode collapse". (The lecture adds that reverse KL is not the whole story of mode collapse.)

The check fits ONE Gaussian q = N(μ, σ²) to p = ½N(-2, 0.5²) + ½N(2, 0.5²) three ways:

- min KL(p ‖ q): closed form by moment matching (μ = E_p x, σ² = Var_p x), confirmed numerically;
- min KL(q ‖ p): numerical integration on a grid + Nelder-Mead from several starts;
- min JS(p ‖ q): the same.

and reports every divergence at every solution. JS turns out to have two local minima (one covering, one
mode-seeking); which one is global depends on how far apart the bumps are, so the check also scans the
separation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import ndtr

from gankit.metrics.divergences import js_divergence_grid, kl_divergence_grid
from gankit.registry import THEORY
from gankit.theory.base import TheoryReport
from gankit.theory.optimal_discriminator import Mixture1D

LN2 = math.log(2.0)
MODE = 2.0
STD = 0.5


def bimodal(d: float = MODE) -> Mixture1D:
    return Mixture1D((0.5, 0.5), (-d, d), (STD, STD), f"½N(-{d:g}, {STD:g}²) + ½N({d:g}, {STD:g}²)")


class _Divergences:
    """KL(p‖q), KL(q‖p), JS(p‖q) for q = N(μ, σ²), by the rectangle rule in log space on a fixed grid.

    Log space keeps every term finite: a Gaussian's log density is exact far into its tails, where its
    density underflows to 0 (the grid helpers, which take densities, would read that as KL = ∞).
    """

    def __init__(self, p: Mixture1D, grid: np.ndarray) -> None:
        self.x = grid
        self.dx = float(grid[1] - grid[0])
        self.log_p = p.logpdf(grid)
        self.p = np.exp(self.log_p)

    def log_q(self, mu: float, sigma: float) -> np.ndarray:
        return -0.5 * ((self.x - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)

    def forward_kl(self, mu: float, sigma: float) -> float:
        return float(np.sum(self.p * (self.log_p - self.log_q(mu, sigma))) * self.dx)

    def reverse_kl(self, mu: float, sigma: float) -> float:
        lq = self.log_q(mu, sigma)
        return float(np.sum(np.exp(lq) * (lq - self.log_p)) * self.dx)

    def js(self, mu: float, sigma: float) -> float:
        lq = self.log_q(mu, sigma)
        lm = np.logaddexp(self.log_p, lq) - LN2  # log of the mixture m = (p + q) / 2
        half_p = 0.5 * np.sum(self.p * (self.log_p - lm)) * self.dx  # ½ KL(p ‖ m)
        half_q = 0.5 * np.sum(np.exp(lq) * (lq - lm)) * self.dx  # ½ KL(q ‖ m)
        return float(half_p + half_q)

    def all(self, mu: float, sigma: float) -> dict[str, float]:
        return {
            "KL(p‖q)": self.forward_kl(mu, sigma),
            "KL(q‖p)": self.reverse_kl(mu, sigma),
            "JS(p‖q)": self.js(mu, sigma),
        }


def _minimise(
    f: Callable[[float, float], float], starts: list[tuple[float, float]]
) -> list[tuple[float, float, float]]:
    """Nelder-Mead over (μ, log σ) from each start; returns (μ, σ, value) per start."""
    out = []
    for mu0, s0 in starts:
        res = minimize(
            lambda t: f(float(t[0]), math.exp(float(t[1]))), [mu0, math.log(s0)], method="Nelder-Mead",
            options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 4000},
        )
        out.append((float(res.x[0]), math.exp(float(res.x[1])), float(res.fun)))
    return out


def _distinct(sols: list[tuple[float, float, float]], tol: float = 1e-3) -> list[tuple[float, float, float]]:
    """Local minima found, duplicates (within tol in μ and σ) merged, sorted by value."""
    kept: list[tuple[float, float, float]] = []
    for s in sorted(sols, key=lambda s: s[2]):
        if not any(abs(s[0] - k[0]) < tol and abs(s[1] - k[1]) < tol for k in kept):
            kept.append(s)
    return kept


def _mass(mu: float, sigma: float, lo: float, hi: float) -> float:
    """q([lo, hi]) for q = N(μ, σ²)."""
    return float(ndtr((hi - mu) / sigma) - ndtr((lo - mu) / sigma))


def _forward_kl_checks(checks: dict[str, bool], p: Any, div: _Divergences, starts: list[tuple[float, float]]
                       ) -> tuple[float, float]:
    """Step 1: forward KL, closed form (moment matching) confirmed by the optimiser from every start."""
    # Forward KL: closed form (moment matching), then confirmed by the optimiser from every start.
    mu_f, sigma_f = p.mean, math.sqrt(p.var)  # 0 and sqrt(0.25 + 4)
    fwd_num = _minimise(div.forward_kl, starts)
    worst = max(max(abs(m - mu_f), abs(s - sigma_f)) for m, s, _ in fwd_num)
    what = f"KL(p‖q): numerical minimum from {len(starts)} starts = moment matching (max |Δ| {worst:.1e} <= 1e-3)"
    checks[what] = worst <= 1e-3
    what = f"KL(p‖q): μ = {mu_f:.3g} ≈ 0 and σ = {sigma_f:.4f} = sqrt(Var p) > 4 × bump std"
    checks[what] = abs(mu_f) < 1e-9 and sigma_f > 4 * STD
    cover = [_mass(mu_f, sigma_f, c - 1.0, c + 1.0) for c in (-MODE, MODE)]
    what = f"KL(p‖q) covers both bumps: q-mass within ±1 of each = {cover[0]:.3f}, {cover[1]:.3f} (>= 0.1)"
    checks[what] = min(cover) >= 0.1
    return mu_f, sigma_f


def _reverse_kl_and_js_checks(checks: dict[str, bool], div: _Divergences, starts: list[tuple[float, float]]
                              ) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """Step 2: reverse KL seeks one mode, JS has covering and mode-seeking local minima (numerical only);
    returns the distinct minima of each and JS's covering and mode-seeking ones."""
    # Reverse KL and JS: numerical only.
    rev = _distinct(_minimise(div.reverse_kl, starts))
    js_sols = _distinct(_minimise(div.js, starts))
    mu_r, sigma_r, _ = rev[0]
    what = (
        f"KL(q‖p): global minimum at |μ| = {abs(mu_r):.4f} ≈ {MODE:g} (±0.01), "
        f"σ = {sigma_r:.4f} ≈ {STD:g} (±0.01)"
    )
    checks[what] = (
        abs(abs(mu_r) - MODE) <= 0.01 and abs(sigma_r - STD) <= 0.01
    )
    both_signs = any(m > 1.5 for m, s, v in rev) and any(m < -1.5 for m, s, v in rev)
    checks["KL(q‖p): the two mirror-image mode-seeking minima (μ ≈ +2 and μ ≈ -2) are both found"] = both_signs
    other = _mass(mu_r, sigma_r, -math.copysign(MODE, mu_r) - 1.0, -math.copysign(MODE, mu_r) + 1.0)
    checks[f"KL(q‖p) seeks one mode: q-mass within ±1 of the other bump = {other:.1e} (< 1e-6)"] = other < 1e-6
    js_cover = [s for s in js_sols if abs(s[0]) < 0.1]
    js_seek = [s for s in js_sols if abs(abs(s[0]) - MODE) < 0.1]
    what = (
        f"JS(p‖q): two kinds of local minima found, covering (μ≈0) {len(js_cover) > 0} "
        f"and mode-seeking (|μ|≈2) {len(js_seek) > 0}"
    )
    checks[what] = (
        bool(js_cover) and bool(js_seek)
    )
    return rev, js_sols, js_cover, js_seek


def _diagonal_checks(checks: dict[str, bool], values: dict[str, dict[str, float]]) -> None:
    """Step 3: each solution minimises its own divergence among all the solutions (the table's diagonal is smallest)."""
    # Each solution minimises its own divergence among all the solutions (the table's diagonal is smallest).
    own = {
        "KL(p‖q) (forward, = max likelihood)": "KL(p‖q)",
        "KL(q‖p) (reverse)": "KL(q‖p)",
        "JS(p‖q), global minimum": "JS(p‖q)",
    }
    for name, key in own.items():
        best = min(values[n][key] for n in values)
        checks[f"{key} is smallest at its own minimiser ({values[name][key]:.4f})"] = values[name][key] <= best + 1e-9


def _grid_helper_check(checks: dict[str, bool], div: _Divergences, solutions: dict[str, tuple[float, float]]) -> None:
    """Step 4: the log-space integrals against the grid helpers of gankit.metrics (which work on densities)."""
    # Cross-check the log-space integrals against the grid helpers (which work on densities).
    helper_err = 0.0
    for m, s in solutions.values():
        q = np.exp(div.log_q(m, s))
        helper_err = max(
            helper_err,
            abs(kl_divergence_grid(div.p, q, div.dx, normalize=False) - div.forward_kl(m, s)),
            abs(kl_divergence_grid(q, div.p, div.dx, normalize=False) - div.reverse_kl(m, s)),
            abs(js_divergence_grid(div.p, q, div.dx, normalize=False) - div.js(m, s)),
        )
    what = f"log-space integrals = kl/js_divergence_grid helpers at every solution (max |Δ| {helper_err:.0e} <= 1e-6)"
    checks[what] = helper_err <= 1e-6


def _separation_scan(checks: dict[str, bool], quick: bool) -> list[dict[str, Any]]:
    """Step 5: which JS minimum is global as the two bumps move apart (covering near, mode-seeking far)."""
    # Separation scan: which JS minimum is global as the two bumps move apart?
    seps = (1.5, 2.0, 3.0) if quick else (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
    scan: list[dict[str, Any]] = []
    for d in seps:
        pd = bimodal(d)
        dv = _Divergences(pd, np.linspace(-d - 10.0, d + 10.0, 8_001 if quick else 16_001))
        cov = _minimise(dv.js, [(0.0, math.sqrt(pd.var))])[0]
        seek = _minimise(dv.js, [(d, STD)])[0]
        scan.append({"d": d, "cover": cov, "seek": seek})
    first, last = scan[0], scan[-1]
    checks[
        f"JS in between: covering wins at ±{first['d']:g} (JS {first['cover'][2]:.4f} < {first['seek'][2]:.4f}), "
        f"mode-seeking wins at ±{last['d']:g} ({last['seek'][2]:.4f} < {last['cover'][2]:.4f})"
    ] = first["cover"][2] < first["seek"][2] and last["seek"][2] < last["cover"][2]
    return scan


def _scan_table(scan: list[dict[str, Any]]) -> list[str]:
    """The separation scan as markdown table rows."""
    lines = []
    for r in scan:
        c, s = r["cover"], r["seek"]
        glob = "covering" if c[2] < s[2] else "mode-seeking"
        if abs(c[0] - s[0]) < 1e-3 and abs(c[1] - s[1]) < 1e-3:
            glob = "one minimum"
        cov_txt, seek_txt = f"{c[0]:.3f}, {c[1]:.3f}, {c[2]:.4f}", f"{s[0]:.3f}, {s[1]:.3f}, {s[2]:.4f}"
        lines.append(f"| {r['d']:g} | {cov_txt} | {seek_txt} | {glob} |")
    return lines


@THEORY.register(
    "kl-directions",
    description="one Gaussian fitted to two bumps: KL(p‖q) covers both, KL(q‖p) seeks one (mode collapse), JS",
)
def check(out_dir: Path, quick: bool = False) -> TheoryReport:
    """Run the KL-directions check (see the module docstring); the figure goes to ``out_dir``."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    p = bimodal()
    grid = np.linspace(-14.0, 14.0, 14_001 if quick else 28_001)
    div = _Divergences(p, grid)
    mus = (-3.0, -1.0, 0.0, 1.0, 3.0) if not quick else (-3.0, 0.0, 1.0, 3.0)
    starts = [(m, s) for m in mus for s in (0.3, 3.0)]

    report = TheoryReport(
        name="kl-directions",
        title="Fitting one Gaussian to two bumps: KL(p‖q) covers, KL(q‖p) seeks a mode, JS in between",
        claim=(
            "Minimising KL(P_data ‖ P_G) (maximum likelihood) makes a too-simple P_G cover every region where "
            "P_data has mass; minimising the reverse KL(P_G ‖ P_data) makes it stay on one mode — the "
            "explanation of mode collapse discussed in Hung-yi Lee, GAN lecture (ATDL 14) ('Flaw in Optimization?', "
            "after Goodfellow's NIPS 2016 tutorial), which the lecture notes is not the whole story."
        ),
    )
    checks = report.checks

    mu_f, sigma_f = _forward_kl_checks(checks, p, div, starts)

    rev, js_sols, js_cover, js_seek = _reverse_kl_and_js_checks(checks, div, starts)
    mu_r, sigma_r, _ = rev[0]
    mu_j, sigma_j, _ = js_sols[0]

    solutions = {
        "KL(p‖q) (forward, = max likelihood)": (mu_f, sigma_f),
        "KL(q‖p) (reverse)": (mu_r, sigma_r),
        "JS(p‖q), global minimum": (mu_j, sigma_j),
    }
    if js_cover and js_seek:
        loser = js_seek[0] if js_sols[0] in js_cover else js_cover[0]
        solutions["JS(p‖q), other local minimum"] = (loser[0], loser[1])
    values = {name: div.all(m, s) for name, (m, s) in solutions.items()}
    for name, (m, s) in solutions.items():
        v = values[name]
        report.rows.append({"divergence minimised": name, "μ": m, "σ": s, **v})
    _diagonal_checks(checks, values)
    _grid_helper_check(checks, div, solutions)

    scan = _separation_scan(checks, quick)

    lines = [
        f"p = {p.name}; q = N(μ, σ²). Integrals on a grid of {len(grid):,} points over [-14, 14] (log space); "
        f"Nelder-Mead over (μ, log σ) from {len(starts)} starts (μ0 in {list(mus)}, σ0 in [0.3, 3]).",
        "Local minima of KL(q‖p): " + "; ".join(f"μ={m:.3f}, σ={s:.3f}, value {v:.4f}" for m, s, v in rev) + ".",
        "Local minima of JS(p‖q): "
        + "; ".join(f"μ={m:.3f}, σ={s:.3f}, value {v:.4f}" for m, s, v in js_sols) + ".",
        "What we find: forward KL puts q over both bumps (and much mass in the empty middle); reverse KL sits on "
        "one bump with σ ≈ 0.5 (it also has a poorer covering local minimum at μ = 0). JS has both kinds of "
        f"local minima; at ±{MODE:g} the covering one is (narrowly) global, as the bumps move apart the "
        "mode-seeking one takes over:",
        "",
        "| separation ±d | JS covering (μ, σ, JS) | JS mode-seeking (μ, σ, JS) | global |",
        "|---|---|---|---|",
    ]
    lines += _scan_table(scan)
    lines += ["", f"Runtime {time.perf_counter() - t0:.1f} s."]
    report.notes = "\n".join(lines)
    report.figures.append(_figure(out_dir / "kl-directions.png", div, solutions, scan))
    report.checks = {k: bool(v) for k, v in report.checks.items()}  # numpy bools are not JSON
    return report


def _figure(path: Path, div: _Divergences, solutions: dict[str, tuple[float, float]], scan: list[dict]) -> Path:
    from gankit.viz.toy import _new_figure, _save_png

    fig = _new_figure((13, 4.2))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    x = div.x
    ax1.fill_between(x, div.p, color="0.85", label="p (two bumps)")
    styles = [("#d62728", "-", 2.5), ("#1f77b4", "-", 1.6), ("#2ca02c", "--", 1.6), ("#2ca02c", ":", 1.6)]
    for (name, (m, s)), (c, ls, lw) in zip(solutions.items(), styles):
        mu_txt = f"{m:.2f}".replace("-0.00", "0.00")
        ax1.plot(x, np.exp(div.log_q(m, s)), color=c, ls=ls, lw=lw, label=f"min {name}: μ={mu_txt}, σ={s:.2f}")
    ax1.set_xlim(-6, 6)
    ax1.set_title("one Gaussian fitted to a bimodal p")
    ax1.legend(fontsize=7.5, loc="upper left")
    d = [r["d"] for r in scan]
    ax2.plot(d, [r["cover"][2] for r in scan], "o-", color="#d62728", label="JS at covering minimum (μ = 0)")
    ax2.plot(d, [r["seek"][2] for r in scan], "s-", color="#1f77b4", label="JS at mode-seeking minimum (μ ≈ d)")
    ax2.axhline(LN2, color="gray", ls=":", label="log 2")
    ax2.set_xlabel("bump separation: p = ½N(-d, 0.5²) + ½N(d, 0.5²)")
    ax2.set_ylabel("JS(p‖q)")
    ax2.set_title("JS: which local minimum is global")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    _save_png(fig, path)
    return path
