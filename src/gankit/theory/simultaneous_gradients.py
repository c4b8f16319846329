"""Simultaneous gradient steps on min_x max_y x·y spiral outward; alternating ones cycle; fixes converge.

Utkin, GAN lecture (SPbPU) ("Проблемы: сложно достичь равновесия Нэша"; docs/protocols.md, "Worked
examples"): one player updates x to minimise f₁ = xy, the other y to minimise f₂ = −xy. With
∂f₁/∂x = y and ∂f₂/∂y = −x the simultaneous step is

    x ← x − ηy,   y ← y + ηx,

and "as soon as x and y have different signs every further update causes large oscillations, and the
instability grows with time". The Nash equilibrium is (0, 0). Each method below is a linear map of the
state, so its radius r = sqrt(x² + y²) has a closed form that the check compares against:

- **simultaneous** gradient descent-ascent (GDA): M = [[1, −η], [η, 1]] = sqrt(1 + η²) · rotation, so
  r_t = r₀ (1 + η²)^(t/2) *exactly*: the spiral grows at every step.
- **alternating** (x first, then y with the new x, as GAN trainers do with k = 1):
  x' = x − ηy, y' = y + ηx' = ηx + (1 − η²) y. det M = 1, and Q(x, y) = x² + y² − η·x·y is conserved:
  Q(x', y') = Q(x, y) (expand: the x² coefficient is 1 + η² − η·η = 1, the y² coefficient
  η² + (1 − η²)² + η²(1 − η²) = 1, the xy coefficient −2η + 2η(1 − η²) − η(1 − 2η²) = −η). For η < 2, Q is
  positive definite and (1 − η/2) r² <= Q <= (1 + η/2) r², so the iterates cycle on an ellipse, within
  sqrt(Q/(1 + η/2)) <= r <= sqrt(Q/(1 − η/2)): bounded, but they never reach the equilibrium.
- **extragradient** (Korpelevich, "The extragradient method for finding saddle points and other
  problems", 1976): take the step from the look-ahead point (x − ηy, y + ηx). M = [[1 − η², −η], [η, 1 − η²]],
  r_t = r₀ (1 − η² + η⁴)^(t/2): converges for 0 < η < 1.
- **optimistic** GDA (Daskalakis, Ilyas, Syrgkanis, Zeng, "Training GANs with Optimism", ICLR 2018):
  w_{t+1} = w_t − 2η v(w_t) + η v(w_{t−1}) (v the players' descent directions; the first step uses
  v(w_{−1}) = v(w₀)). A second-order recurrence; its asymptotic rate is the spectral radius of the 4×4
  companion matrix, which the check compares with the measured decay.
- **consensus** optimisation (Mescheder, Nowozin, Geiger, "The Numerics of GANs", NeurIPS 2017):
  w ← w − η (v + γ ∇L), L = ½‖v‖², with v = (∂f/∂x, −∂f/∂y) = (y, −x): ∇L = (x, y), so
  M = [[1 − ηγ, −η], [η, 1 − ηγ]] and r_t = r₀ ((1 − ηγ)² + η²)^(t/2).

Every method is run twice: with the hand-written gradients (y, x) in numpy, and with torch autograd on
f(x, y) = x·y with two ``nn.Parameter`` players and two ``torch.optim.SGD`` optimisers (the descent
player minimises f, the ascent player has ``maximize=True``), exactly the structure of a GAN's
training step; consensus differentiates ½‖v‖² by double back-propagation. The check asserts that the
two trajectories agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gankit.registry import THEORY
from gankit.theory.base import TheoryReport
from gankit.viz.toy import _save_png

NAME = "simultaneous-gradients"
SEED_FILE = "Utkin, GAN lecture (SPbPU)"
ETA = 0.1
GAMMA = 0.2  # consensus weight
START = (1.0, 1.0)
STEPS = 1000
CONVERGED_RADIUS = 0.05  # "converges": final radius below this (r₀ = √2)
SWEEP_ETAS = (0.05, 0.1, 0.2, 0.3)  # below 0.5, where optimistic GDA's recurrence has a repeated eigenvalue
AUTOGRAD_STEPS_QUICK = 200  # quick: the autograd runs cover the first 200 steps (1000 in the full check)
METHODS = ("simultaneous", "alternating", "extragradient", "optimistic", "consensus")

Grad = Callable[[float, float], tuple[float, float]]


def bilinear_grad(x: float, y: float) -> tuple[float, float]:
    """(∂f/∂x, ∂f/∂y) for f(x, y) = x·y, written by hand."""
    return y, x


# ----------------------------------------------------------------------------------------------------
# The five methods, hand-written (any gradient oracle; f = xy by default)
# ----------------------------------------------------------------------------------------------------


def run_method(
    method: str, eta: float = ETA, steps: int = STEPS, start: tuple[float, float] = START,
    gamma: float = GAMMA, grad: Grad = bilinear_grad,
) -> np.ndarray:
    """Iterate one method on min_x max_y f from ``start``.

    x descends on f, y ascends on f. For consensus, ``grad`` must be that of the bilinear f (∇½‖v‖² is
    written out for it: (x, y)); the autograd version handles any f.

    Args:
        method: one of ``METHODS``.
        eta: step size η.
        steps: number of updates.
        start: (x₀, y₀).
        gamma: consensus weight γ.
        grad: (x, y) -> (∂f/∂x, ∂f/∂y).

    Returns:
        (steps + 1, 2) float64 trajectory, row 0 = start.
    """
    x, y = map(float, start)
    px, py = x, y  # previous iterate (optimistic)
    traj = np.empty((steps + 1, 2))
    traj[0] = x, y
    for t in range(1, steps + 1):
        gx, gy = grad(x, y)
        if method == "simultaneous":
            x, y = x - eta * gx, y + eta * gy
        elif method == "alternating":
            x = x - eta * gx
            y = y + eta * grad(x, y)[1]  # y sees the new x
        elif method == "extragradient":
            hx, hy = x - eta * gx, y + eta * gy  # look-ahead point
            hgx, hgy = grad(hx, hy)
            x, y = x - eta * hgx, y + eta * hgy
        elif method == "optimistic":
            pgx, pgy = grad(px, py)
            px, py = x, y
            x, y = x - 2 * eta * gx + eta * pgx, y + 2 * eta * gy - eta * pgy
        elif method == "consensus":
            vx, vy = gx, -gy  # both players' descent directions
            x, y = x - eta * (vx + gamma * x), y - eta * (vy + gamma * y)  # ∇½‖v‖² = (x, y) for f = xy
        else:
            raise ValueError(f"unknown method '{method}'; choose one of: {', '.join(METHODS)}")
        traj[t] = x, y
    return traj


def closed_form_factor(method: str, eta: float, gamma: float = GAMMA) -> float:
    """Per-step radius factor of the linear map (exact for every step, except optimistic: asymptotic)."""
    if method == "simultaneous":
        return math.sqrt(1 + eta**2)
    if method == "alternating":
        return 1.0  # det M = 1: area-preserving, bounded orbit
    if method == "extragradient":
        return math.sqrt((1 - eta**2) ** 2 + eta**2)
    if method == "consensus":
        return math.sqrt((1 - eta * gamma) ** 2 + eta**2)
    if method == "optimistic":
        return float(np.max(np.abs(np.linalg.eigvals(optimistic_companion(eta)))))
    raise ValueError(f"unknown method '{method}'")


def optimistic_companion(eta: float) -> np.ndarray:
    """(x_{t+1}, y_{t+1}, x_t, y_t) = A (x_t, y_t, x_{t−1}, y_{t−1}) for optimistic GDA on f = xy."""
    return np.array([
        [1.0, -2 * eta, 0.0, eta],
        [2 * eta, 1.0, -eta, 0.0],
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
    ])


# ----------------------------------------------------------------------------------------------------
# The same methods with torch autograd: two players, two SGD optimisers (the GAN training structure)
# ----------------------------------------------------------------------------------------------------


def bilinear_value(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """f(x, y) = x·y, the value both players' optimisers differentiate."""
    return x * y


def run_method_autograd(
    method: str, eta: float = ETA, steps: int = STEPS, start: tuple[float, float] = START,
    gamma: float = GAMMA, f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = bilinear_value,
) -> np.ndarray:
    """Like :func:`run_method`, but every gradient comes from ``torch.autograd`` on ``f``.

    x and y are float64 ``nn.Parameter`` s; ``opt_x = SGD([x], lr=η)`` minimises f and
    ``opt_y = SGD([y], lr=η, maximize=True)`` maximises it. Simultaneous: one backward, both step.
    Alternating: x steps, then f is recomputed and y steps (the trainer's D step then G step).
    Extragradient/optimistic use the gradient at the look-ahead/previous point through the
    ``.grad`` fields; consensus gets ∇½‖v‖² by double back-propagation (``create_graph=True``).

    Returns:
        (steps + 1, 2) float64 trajectory.
    """
    x = torch.nn.Parameter(torch.tensor(float(start[0]), dtype=torch.float64))
    y = torch.nn.Parameter(torch.tensor(float(start[1]), dtype=torch.float64))
    opt_x = torch.optim.SGD([x], lr=eta)
    opt_y = torch.optim.SGD([y], lr=eta, maximize=True)
    traj = np.empty((steps + 1, 2))
    traj[0] = start

    def grads(at_x: torch.Tensor, at_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gx, gy = torch.autograd.grad(f(at_x, at_y), (at_x, at_y))
        return gx, gy

    prev: tuple[torch.Tensor, torch.Tensor] | None = None
    for t in range(1, steps + 1):
        opt_x.zero_grad()
        opt_y.zero_grad()
        if method == "simultaneous":
            f(x, y).backward()
            opt_x.step()
            opt_y.step()
        elif method == "alternating":
            f(x, y).backward()
            opt_x.step()
            opt_y.zero_grad()
            f(x, y).backward()  # y's gradient at the new x
            opt_y.step()
        elif method == "extragradient":
            gx, gy = grads(x, y)
            with torch.no_grad():
                hx, hy = (x - eta * gx).requires_grad_(), (y + eta * gy).requires_grad_()
            x.grad, y.grad = grads(hx, hy)  # the look-ahead point's gradient drives the real step
            opt_x.step()
            opt_y.step()
        elif method == "optimistic":
            gx, gy = grads(x, y)
            pgx, pgy = (gx, gy) if prev is None else prev
            prev = (gx, gy)
            x.grad, y.grad = 2 * gx - pgx, 2 * gy - pgy
            opt_x.step()
            opt_y.step()
        elif method == "consensus":
            gx, gy = torch.autograd.grad(f(x, y), (x, y), create_graph=True)
            half_sq = 0.5 * (gx**2 + gy**2)  # L = ½‖v‖²; v = (gx, −gy) has the same norm
            lx, ly = torch.autograd.grad(half_sq, (x, y))
            with torch.no_grad():
                # SGD semantics: x descends on f + γL, y ascends on f − γL (i.e. descends on −f + γL)
                x.grad, y.grad = gx.detach() + gamma * lx, gy.detach() - gamma * ly
            opt_x.step()
            opt_y.step()
        else:
            raise ValueError(f"unknown method '{method}'; choose one of: {', '.join(METHODS)}")
        traj[t] = x.item(), y.item()
    return traj


# ----------------------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------------------


_COLORS = {"simultaneous": "tab:red", "alternating": "tab:orange", "extragradient": "tab:green",
           "optimistic": "tab:blue", "consensus": "tab:purple"}
_STYLES = {"optimistic": "--"}  # its radius nearly coincides with extragradient's


def _figure(trajs: dict[str, np.ndarray], sweep: dict[str, tuple[list[float], list[float]]] | None) -> Figure:
    ncols = 3 if sweep else 2
    fig = Figure(figsize=(5.2 * ncols, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, ncols, 1)
    for m, tr in trajs.items():
        ax.plot(tr[:, 0], tr[:, 1], lw=0.8, color=_COLORS[m], ls=_STYLES.get(m, "-"), label=m)
    ax.plot(*START, "ko", ms=5)
    ax.plot(0, 0, "k*", ms=10, label="equilibrium (0, 0)")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_xlabel("x (minimises x·y)")
    ax.set_ylabel("y (maximises x·y)")
    ax.set_title(f"trajectories from {START}, η = {ETA}")
    ax.legend(fontsize=7, loc="lower left")
    ax = fig.add_subplot(1, ncols, 2)
    for m, tr in trajs.items():
        ax.semilogy(np.linalg.norm(tr, axis=1), color=_COLORS[m], ls=_STYLES.get(m, "-"), label=m)
    ax.set_xlabel("step")
    ax.set_ylabel("radius √(x² + y²)")
    ax.set_title("distance to the equilibrium")
    ax.legend(fontsize=7)
    if sweep:
        ax = fig.add_subplot(1, ncols, 3)
        fine = np.linspace(0.01, 0.35, 200)
        for m, (etas, measured) in sweep.items():
            ax.plot(fine, [closed_form_factor(m, e) for e in fine], color=_COLORS[m], lw=1, label=f"{m} (closed form)")
            ax.plot(etas, measured, "o", color=_COLORS[m], ms=4)
        ax.axhline(1.0, color="k", lw=0.5)
        ax.set_xlabel("η")
        ax.set_ylabel("radius factor per step")
        ax.set_title("measured (dots) vs closed form")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def _closed_form_checks(trajs: dict[str, np.ndarray], radius: dict[str, np.ndarray], eta: float,
                        n: int) -> tuple[dict[str, bool], dict[str, str]]:
    """Step 1: each method's radius against its closed form (growth, conserved quantity, contraction
    factor, spectral radius); the checks and the closed-form column of the table."""
    r0 = math.hypot(*START)
    t = np.arange(n + 1)
    checks: dict[str, bool] = {}

    def rel_err(r: np.ndarray, ref: np.ndarray) -> float:
        return float(np.max(np.abs(r - ref) / ref))

    # simultaneous: r_t = r0 (1 + η²)^(t/2), every step
    gda_ref = r0 * (1 + eta**2) ** (t / 2)
    gda_err = rel_err(radius["simultaneous"], gda_ref)
    checks[f"simultaneous: r_t = r0·(1+η²)^(t/2) at every step (max rel err {gda_err:.1e} < 1e-12)"] = gda_err < 1e-12
    checks["simultaneous: radius grows at every step and ends > 10·r0 (spirals outward)"] = bool(
        np.all(np.diff(radius["simultaneous"]) > 0) and radius["simultaneous"][-1] > 10 * r0)

    # alternating: Q = x² + y² − ηxy conserved; radius in the band it implies
    xa, ya = trajs["alternating"].T
    q = xa**2 + ya**2 - eta * xa * ya
    q0 = q[0]
    lo, hi = math.sqrt(q0 / (1 + eta / 2)), math.sqrt(q0 / (1 - eta / 2))
    q_dev = float(np.max(np.abs(q - q0)) / q0)
    checks[f"alternating: Q = x²+y²−η·x·y conserved (max rel dev {q_dev:.1e} < 1e-12)"] = q_dev < 1e-12
    ra = radius["alternating"]
    checks[f"alternating: radius stays in [{lo:.4f}, {hi:.4f}] (bounded, never reaches 0)"] = bool(
        np.all(ra >= lo * (1 - 1e-12)) and np.all(ra <= hi * (1 + 1e-12)))

    # extragradient / consensus: exact scaled rotations
    for m in ("extragradient", "consensus"):
        ref = r0 * closed_form_factor(m, eta) ** t
        err = rel_err(radius[m], ref)
        form = "(1−η²+η⁴)" if m == "extragradient" else "((1−ηγ)²+η²)"
        checks[f"{m}: r_t = r0·{form}^(t/2) at every step (max rel err {err:.1e} < 1e-10)"] = err < 1e-10
    # optimistic: measured asymptotic rate vs the companion matrix's spectral radius
    rho = closed_form_factor("optimistic", eta)
    measured = float((radius["optimistic"][-1] / radius["optimistic"][n // 2]) ** (1 / (n - n // 2)))
    checks[f"optimistic: decay rate per step {measured:.6f} = spectral radius {rho:.6f} of its recurrence "
           "(rel 1e-3)"] = abs(measured - rho) / rho < 1e-3
    for m in ("extragradient", "optimistic", "consensus"):
        checks[f"{m}: converges, final radius {radius[m][-1]:.2e} < {CONVERGED_RADIUS} (from r0 = {r0:.3f})"] = bool(
            radius[m][-1] < CONVERGED_RADIUS)

    closed = {
        "simultaneous": f"{gda_ref[-1]:.6g}",
        "alternating": f"in [{lo:.4f}, {hi:.4f}]",
        "extragradient": f"{r0 * closed_form_factor('extragradient', eta) ** n:.6g}",
        "optimistic": f"~{rho:.6f}^t (asymptotic)",
        "consensus": f"{r0 * closed_form_factor('consensus', eta) ** n:.6g}",
    }
    return checks, closed


def _eta_sweep(checks: dict[str, bool]) -> dict[str, tuple[list[float], list[float]]]:
    """Step 3 (full mode): the measured radius factor per step against the closed form over SWEEP_ETAS; adds
    its check to ``checks`` and returns the measured factors for the figure."""
    sweep = {}
    worst = 0.0
    for m in ("simultaneous", "extragradient", "optimistic", "consensus"):
        measured_f = []
        for e in SWEEP_ETAS:
            r = np.linalg.norm(run_method(m, e, 400), axis=1)
            measured_f.append(float((r[-1] / r[200]) ** (1 / 200)))
            worst = max(worst, abs(measured_f[-1] - closed_form_factor(m, e)) / closed_form_factor(m, e))
        sweep[m] = (list(SWEEP_ETAS), measured_f)
    checks[f"η sweep {SWEEP_ETAS}: measured radius factor per step = closed form for four methods "
           f"(max rel err {worst:.1e} < 1e-6)"] = worst < 1e-6
    return sweep


@THEORY.register(NAME, description="min_x max_y xy: simultaneous steps spiral out, alternating cycle, "
                                   "EG/OGDA/consensus converge")
def check(out_dir: Path, quick: bool = False) -> TheoryReport:
    """Run the five methods on f = xy (hand-written and autograd) and compare with the closed forms.

    Args:
        out_dir: where the figure goes (created if missing).
        quick: skip the η sweep and run autograd for 200 steps instead of 1000 (the main runs are the
            same; everything here is deterministic).

    Returns:
        The report: one row per method, checks on each closed form, the figure.
    """
    out_dir = Path(out_dir)
    eta, n = ETA, STEPS
    r0 = math.hypot(*START)
    trajs = {m: run_method(m, eta, n) for m in METHODS}
    radius = {m: np.linalg.norm(tr, axis=1) for m, tr in trajs.items()}
    checks, closed = _closed_form_checks(trajs, radius, eta, n)

    # autograd + torch.optim.SGD reproduces every hand-written trajectory
    n_auto = AUTOGRAD_STEPS_QUICK if quick else n
    dev = {}
    for m in METHODS:
        auto = run_method_autograd(m, eta, n_auto)
        scale = np.maximum(1.0, radius[m][: n_auto + 1])[:, None]
        dev[m] = float(np.max(np.abs(auto - trajs[m][: n_auto + 1]) / scale))
    worst_dev = max(dev.values())
    checks[f"autograd on f = x·y with two SGD optimisers reproduces all five trajectories over {n_auto} steps "
           f"(max rel dev {worst_dev:.1e} < 1e-10)"] = worst_dev < 1e-10

    behaviour = {
        "simultaneous": "spirals outward",
        "alternating": "cycles (bounded ellipse)",
        "extragradient": "converges",
        "optimistic": "converges",
        "consensus": "converges",
    }
    rows = [
        {
            "method": m,
            "radius_start": r0,
            f"radius_{n // 2}": float(radius[m][n // 2]),
            f"radius_{n}": float(radius[m][-1]),
            "closed_form": closed[m],
            "factor_per_step": closed_form_factor(m, eta),
            f"autograd_rel_dev_{n_auto}": dev[m],
            "behaviour": behaviour[m],
        }
        for m in METHODS
    ]

    sweep = None if quick else _eta_sweep(checks)

    fig_path = out_dir / f"{NAME}.png"
    _save_png(_figure(trajs, sweep), fig_path)
    return TheoryReport(
        name=NAME,
        title="Simultaneous gradient steps on min_x max_y x·y do not converge",
        claim=(
            "For f(x, y) = xy, simultaneous updates x ← x − ηy, y ← y + ηx cannot guarantee convergence to "
            "the Nash equilibrium (0, 0): once x and y differ in sign the oscillations grow with every "
            f"update ({SEED_FILE}, 'Проблемы: сложно достичь равновесия Нэша'; docs/protocols.md worked example)."
        ),
        rows=rows,
        checks={k: bool(v) for k, v in checks.items()},
        figures=[fig_path],
        notes=(
            f"η = {eta}, {n} steps from {START}, consensus γ = {GAMMA}. The radius of simultaneous GDA grows by "
            f"√(1+η²) = {math.sqrt(1 + eta**2):.6f} per step; alternating updates conserve x²+y²−ηxy and cycle on an "
            "ellipse; extragradient, optimistic GDA and consensus optimisation contract to (0, 0). The autograd "
            f"column is the largest deviation over the first {n_auto} steps (relative to max(1, r)) between the "
            "torch run (two nn.Parameters, two SGD optimisers, the ascent player with maximize=True) and the "
            "hand-written one."
        ),
    )
