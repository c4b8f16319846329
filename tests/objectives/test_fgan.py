"""The f-GAN table, proved numerically row by row (not copied): convexity, f(1), Fenchel conjugates on a
grid, activations into dom f*, the optimal critic, closed forms, the GAN/JS relation, Lambert W."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sp
import torch
from torch.testing import assert_close

from gankit.metrics.divergences import js_divergence_grid
from gankit.objectives.fgan import (
    DIVERGENCES,
    ROW_DEFAULTS,
    bound_scores,
    critic_loss,
    fgan_objective,
    lambertw,
    log_g_loss,
    nonsaturating_g_loss,
    saturating_g_loss,
    variational_bound,
    wright_omega,
)
from gankit.objectives.minimax import discriminator_loss, minimax_g_loss
from gankit.objectives.minimax import nonsaturating_g_loss as ns_g_loss
from gankit.registry import OBJECTIVES
from gankit.theory.fgan_bound import Gaussian1D, bound_integral, crossings, f_divergence, optimal_critic

KEYS = list(DIVERGENCES)
LOG2, LOG4 = math.log(2.0), math.log(4.0)
D64 = torch.float64


def _t(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=D64)


def test_table_has_the_nine_rows_and_registers_them():
    assert KEYS == ["tv", "kl", "reverse-kl", "pearson", "neyman", "hellinger", "jeffrey", "js", "gan"]
    for key in KEYS:
        obj = OBJECTIVES.get(f"fgan-{key}")
        assert obj.name == f"fgan-{key}" and obj.description
        # only the rows whose score is a logit of D* = p/(p+q) report a probability
        assert (obj.to_prob is torch.sigmoid) == (key in ("gan", "js"))


# ----------------------------------------------------------------------------------------------------
# f: convex, f(1) = 0, f' right
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_f_is_convex_and_vanishes_at_one(key):
    d = DIVERGENCES[key]
    for lo, hi in ((1e-3, 3.0), (0.5, 100.0)):  # dom f = (0, ∞); uniform grids, so 2nd differences ≈ h² f''
        u = torch.linspace(lo, hi, 20001, dtype=D64)
        fu = d.f(u)
        second = fu[2:] - 2 * fu[1:-1] + fu[:-2]
        roundoff = 1e-13 * float(fu.abs().max())
        assert float(second.min()) >= -roundoff, f"{key}: f not convex on [{lo}, {hi}]"
        assert float(second.max()) > roundoff, f"{key}: f is linear on [{lo}, {hi}]"
    f1 = float(d.f(_t(1.0)))
    if key == "gan":
        # Table 1's GAN row is the one exception: f(1) = 1·log 1 − 2 log 2 = −log 4 (D_GAN = 2 JSD − log 4)
        assert f1 == pytest.approx(-LOG4, abs=1e-15)
    else:
        assert f1 == 0.0


@pytest.mark.parametrize("key", [k for k in KEYS if k != "tv"])
def test_f_prime_is_the_derivative_of_f(key):
    d = DIVERGENCES[key]
    u = torch.logspace(-3, 2, 501, dtype=D64).requires_grad_(True)
    (grad,) = torch.autograd.grad(d.f(u).sum(), u)
    assert_close(d.f_prime(u.detach()), grad, rtol=1e-10, atol=1e-12)


def test_total_variation_f_prime_is_a_subgradient():
    d = DIVERGENCES["tv"]
    u = _t([0.2, 0.9, 1.1, 5.0])
    assert_close(d.f_prime(u), _t([-0.5, -0.5, 0.5, 0.5]))


# ----------------------------------------------------------------------------------------------------
# f*: the Fenchel conjugate, checked against sup_u (t u − f(u)) on a fine grid
# ----------------------------------------------------------------------------------------------------

_U_GRID = torch.cat([torch.logspace(-6, 4, 2_000_001, dtype=D64), _t([1.0])])  # includes u = 1: TV's kink
_RATIO = 10 ** (10 / 2_000_000) - 1  # relative spacing Δu/u of the log grid (1.15e-5)


@pytest.mark.parametrize("key", KEYS)
def test_conjugate_is_the_fenchel_conjugate(key):
    """A grid maximum never exceeds the supremum, and misses it by at most ½ f''(u*) Δu² (Δu = 1.15e-5 u*
    near the maximiser u*): the test asserts both sides, the second with twice that bound."""
    d = DIVERGENCES[key]
    f_grid = d.f(_U_GRID)
    for v in (-2.0, -1.0, -0.3, 0.0, 0.4, 1.0, 2.0):
        t = d.activation(_t(v)).requires_grad_(True)  # a point of dom f*
        conj = d.conjugate(t)
        (u_star,) = torch.autograd.grad(conj, t)  # the maximiser u* = f*'(t)
        assert 1e-5 < float(u_star) < 1e3, "maximiser must lie inside the grid"
        grid_sup = float((t.detach() * _U_GRID - f_grid).max())
        if key == "tv":
            curvature = 0.0  # maximiser at the kink u = 1, which is on the grid
        else:
            us = u_star.detach().requires_grad_(True)
            (fp,) = torch.autograd.grad(d.f(us), us, create_graph=True)
            (fpp,) = torch.autograd.grad(fp, us)
            curvature = float(fpp)
        value = float(conj.detach())
        tol = 2 * 0.5 * curvature * (_RATIO * float(u_star)) ** 2 + 1e-12 * (1 + abs(value))
        assert grid_sup <= value + 1e-12 * (1 + abs(value)), f"{key}: grid sup above f*({float(t):.4g})"
        assert grid_sup >= value - tol, f"{key}: f*({float(t):.4g}) = {value} but sup = {grid_sup}"


@pytest.mark.parametrize("key", [k for k in KEYS if math.isfinite(DIVERGENCES[k].domain[1])])
def test_conjugate_is_infinite_beyond_the_upper_end_of_its_domain(key):
    """Just above sup dom f*, t u − f(u) is unbounded: the grid supremum keeps growing with the grid."""
    d = DIVERGENCES[key]
    t = d.domain[1] + 0.05
    assert not bool(d.in_domain(_t(t)))
    sups = [float((t * u - d.f(u)).max()) for u in (torch.logspace(-6, e, 10001, dtype=D64) for e in (2, 4, 6))]
    assert sups[1] > sups[0] + 1.0 and sups[2] > sups[1] + 100.0


def test_pearson_formula_is_not_the_conjugate_below_minus_two():
    """Why Pearson's g_f maps onto (−2, ∞) and not onto R as in Table 2: for t < −2 the formula t²/4 + t
    exceeds sup_{u>0} (t u − (u − 1)²) = −1 (approached as u -> 0) and decreases in t."""
    d = DIVERGENCES["pearson"]
    u = torch.logspace(-12, 3, 100001, dtype=D64)
    for t in (-2.5, -4.0, -10.0):
        sup = float((t * u - d.f(u)).max())
        assert sup == pytest.approx(-1.0, abs=1e-9)
        assert float(d.conjugate(_t(t))) > sup + 0.05
    assert not bool(d.in_domain(_t(-2.5))) and bool(d.in_domain(_t(-1.9)))


@pytest.mark.parametrize("key", KEYS)
def test_activation_maps_the_reals_into_the_domain_and_is_increasing(key):
    d = DIVERGENCES[key]
    v = torch.linspace(-20, 20, 4001, dtype=D64)
    t = d.activation(v)
    assert bool(d.in_domain(t).all()), f"{key}: g_f leaves dom f*"
    assert bool((t[1:] >= t[:-1]).all()), f"{key}: g_f is decreasing somewhere"
    mid = t[(v.abs() <= 10)]  # strictly increasing wherever float64 resolves it (tanh(20) rounds to 1)
    assert bool((mid[1:] > mid[:-1]).all()), f"{key}: g_f is not increasing"


@pytest.mark.parametrize("key", KEYS)
def test_conjugate_is_nondecreasing_and_its_derivative_inverts_f_prime(key):
    d = DIVERGENCES[key]
    t = d.activation(torch.linspace(-20, 20, 801, dtype=D64)).requires_grad_(True)
    (slope,) = torch.autograd.grad(d.conjugate(t).sum(), t)
    assert bool((slope >= 0).all()) and bool(torch.isfinite(slope).all())
    if key != "tv":  # (f*)' = (f')⁻¹ for smooth strictly convex f
        t5 = d.activation(torch.linspace(-5, 5, 101, dtype=D64)).requires_grad_(True)
        (u,) = torch.autograd.grad(d.conjugate(t5).sum(), t5)
        assert_close(d.f_prime(u), t5.detach(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("key", KEYS)
def test_fused_conjugate_of_activation_equals_the_composition(key):
    d = DIVERGENCES[key]
    v = torch.linspace(-15, 15, 601, dtype=D64)
    assert_close(d.conjugate_of_activation(v), d.conjugate(d.activation(v)), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("key", KEYS)
def test_losses_and_gradients_finite_for_scores_up_to_30_in_float32(key):
    real = torch.linspace(-30, 30, 61, requires_grad=True)
    fake = torch.linspace(-30, 30, 61, requires_grad=True)
    for loss in (critic_loss(key, real, fake), nonsaturating_g_loss(key, fake), saturating_g_loss(key, fake)):
        assert torch.isfinite(loss)
        grads = torch.autograd.grad(loss, (real, fake), allow_unused=True)
        assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.parametrize("key", KEYS)
def test_saturating_and_nonsaturating_generator_gradients_differ_by_the_density_ratio(key):
    """d(saturating)/dv ÷ d(non-saturating)/dv = f*'(g_f(v)) = u*, the density ratio the critic believes in:
    small where the critic calls the sample fake, so the saturating loss stalls there (equal for TV)."""
    d = DIVERGENCES[key]
    v = torch.linspace(-6, 6, 25, dtype=D64).requires_grad_(True)
    per = lambda fn: torch.func.vmap(lambda vi: fn(key, vi.reshape(1)))(v)  # noqa: E731  per-sample losses
    (g_sat,) = torch.autograd.grad(per(saturating_g_loss).sum(), v)
    (g_ns,) = torch.autograd.grad(per(nonsaturating_g_loss).sum(), v)
    t = d.activation(v.detach()).requires_grad_(True)
    (ratio,) = torch.autograd.grad(d.conjugate(t).sum(), t)
    assert bool((g_ns < 0).all()) and bool((g_sat < 0).all())
    assert_close(g_sat / g_ns, ratio, rtol=1e-8, atol=1e-12)
    sat = fgan_objective(key, saturating=True)
    assert sat.name == f"fgan-{key}-saturating"
    assert_close(sat.g_loss(v.detach()), saturating_g_loss(key, v.detach()))


def test_variational_bound_is_minus_the_critic_loss():
    torch.manual_seed(0)
    r, f = torch.randn(50, dtype=D64), torch.randn(70, dtype=D64)
    for key in KEYS:
        c = ROW_DEFAULTS[key].bound
        assert_close(variational_bound(key, r, f), -critic_loss(key, r, f))
        want = critic_loss(key, bound_scores(r, c), bound_scores(f, c))
        assert_close(OBJECTIVES.get(f"fgan-{key}").d_loss(r, f), want)
        g_form = log_g_loss if ROW_DEFAULTS[key].generator == "log" else nonsaturating_g_loss
        assert_close(OBJECTIVES.get(f"fgan-{key}").g_loss(f), g_form(key, bound_scores(f, c)))


def test_bound_scores_is_the_identity_near_zero_and_limits_the_critic():
    v = torch.linspace(-1e4, 1e4, 2001, dtype=D64)
    b = bound_scores(v, 3.0)
    assert float(b.abs().max()) <= 3.0 and bool((b[1:] >= b[:-1]).all())  # non-decreasing, within [−3, 3]
    small = torch.linspace(-0.03, 0.03, 7, dtype=D64)
    assert_close(bound_scores(small, 3.0), small, rtol=1e-4, atol=0)  # c·tanh(v/c) = v − v³/(3c²) + ...
    assert torch.equal(bound_scores(v, 0.0), v)
    # so T = g_f(bounded V) stays where f*(T) is finite: reverse KL's −e^{−V} no longer overflows
    raw, bounded = fgan_objective("reverse-kl"), fgan_objective("reverse-kl", bound=3.0)
    far = torch.tensor([-200.0, 0.0, 200.0])
    assert not torch.isfinite(raw.g_loss(far)) and torch.isfinite(bounded.g_loss(far))
    assert_close(bounded.g_loss(far), torch.exp(-bound_scores(far, 3.0)).mean())
    assert "bounded by 3" in bounded.description and "bounded" not in raw.description


@pytest.mark.parametrize("key", [k for k in KEYS if ROW_DEFAULTS[k].bound > 0])
def test_bounded_rows_keep_the_critic_inside_a_closed_part_of_dom_fstar(key):
    d, c = DIVERGENCES[key], ROW_DEFAULTS[key].bound
    v = torch.linspace(-1e6, 1e6, 4001, dtype=D64)
    t = d.activation(bound_scores(v, c))
    lo, hi = d.activation(_t([-c, c]))  # T = g_f(c·tanh(V/c)) fills (g_f(−c), g_f(c)), and no more
    assert bool(d.in_domain(lo[None]).all()) and bool(d.in_domain(hi[None]).all())
    assert float(t.min()) >= float(lo) and float(t.max()) <= float(hi)
    assert float(t.min()) < float(lo) + 1e-6 and float(t.max()) > float(hi) - 1e-6  # both ends are reached
    assert bool(torch.isfinite(d.conjugate_of_activation(bound_scores(v, c))).all())


def test_log_form_of_total_variation_is_minus_log_of_half_plus_t_and_does_not_saturate():
    v = torch.linspace(-8.0, 8.0, 33, dtype=D64)
    t = DIVERGENCES["tv"].activation(v)  # ½ tanh v in [−½, ½]
    assert_close(log_g_loss("tv", v), -torch.log(0.5 + t).mean())  # −E log D, D = ½ + T = σ(2v)
    assert_close(log_g_loss("tv", v), torch.nn.functional.softplus(-2.0 * v).mean())
    far = torch.tensor([-200.0, -40.0], requires_grad=True)  # fakes the critic is sure of
    (g_log,) = torch.autograd.grad(log_g_loss("tv", far), far)
    (g_ns,) = torch.autograd.grad(nonsaturating_g_loss("tv", far), far)
    assert_close(g_log, torch.full((2,), -1.0))  # d/dv softplus(−2v) / 2 = −σ(−2v) -> −1 per sample of 2
    assert float(g_ns.abs().max()) < 1e-30  # −½ sech²(v) / 2: no signal
    obj = fgan_objective("tv", generator="log")
    assert obj.name == "fgan-tv-log" and "log form" in obj.description
    assert_close(obj.g_loss(v), log_g_loss("tv", v))
    assert_close(obj.d_loss(v, v.flip(0)), critic_loss("tv", v, v.flip(0)))  # the critic's game is unchanged
    for bad in ("kl", "gan"):  # dom f* unbounded above or below: no D in [0, 1]
        with pytest.raises(ValueError, match="bounded dom"):
            fgan_objective(bad, generator="log")
        with pytest.raises(ValueError, match="bounded dom"):
            log_g_loss(bad, v)
    with pytest.raises(ValueError, match="generator form"):
        fgan_objective("tv", generator="minimax")
    assert fgan_objective("kl", generator="saturating").name == fgan_objective("kl", saturating=True).name


@pytest.mark.parametrize("key", KEYS)
def test_registered_rows_stay_finite_for_any_float32_score(key):
    obj = OBJECTIVES.get(f"fgan-{key}")
    c = ROW_DEFAULTS[key].bound
    top = 1e4 if c > 0 else 30.0  # unbounded rows: the ±30 of the test above
    real = torch.linspace(-top, top, 41, requires_grad=True)
    fake = torch.linspace(-top, top, 41, requires_grad=True)
    for loss in (obj.d_loss(real, fake), obj.g_loss(fake)):
        assert torch.isfinite(loss)
        grads = torch.autograd.grad(loss, (real, fake), allow_unused=True)
        assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)


# ----------------------------------------------------------------------------------------------------
# The JS and GAN rows against Goodfellow's game
# ----------------------------------------------------------------------------------------------------


def test_gan_and_js_rows_are_the_minimax_game_up_to_constants():
    """F_gan(v) = Ṽ(G, D = σ(v)) and F_js = F_gan + log 4 (g_js = log 2 + g_gan, f*_js(t + log 2) = f*_gan(t) − log 2):
    the critic losses differ from the minimax discriminator loss by exactly 0 and −log 4, and the GAN row's
    generator losses are NSGAN's (non-saturating) and MMGAN's (saturating)."""
    torch.manual_seed(1)
    r, f = 4 * torch.randn(64, dtype=D64), 4 * torch.randn(64, dtype=D64)
    assert_close(critic_loss("gan", r, f), discriminator_loss(r, f))
    assert_close(critic_loss("js", r, f) + LOG4, discriminator_loss(r, f))
    assert not torch.allclose(critic_loss("js", r, f), discriminator_loss(r, f))  # the constant is really there
    assert_close(nonsaturating_g_loss("gan", f), ns_g_loss(f))
    assert_close(saturating_g_loss("gan", f), minimax_g_loss(f))
    assert_close(nonsaturating_g_loss("js", f) + LOG2, ns_g_loss(f))
    # same optimal critic score: T*_js = log 2 + T*_gan, i.e. v* = logit p/(p+q) for both rows
    u = torch.logspace(-3, 3, 61, dtype=D64)
    assert_close(DIVERGENCES["js"].f_prime(u), LOG2 + DIVERGENCES["gan"].f_prime(u))
    assert_close(DIVERGENCES["gan"].f_prime(u), torch.log(torch.sigmoid(torch.log(u))))


# ----------------------------------------------------------------------------------------------------
# The optimal critic and closed forms for Gaussians
# ----------------------------------------------------------------------------------------------------

P, Q = Gaussian1D(0.0, 1.0), Gaussian1D(0.5, 1.2)  # unequal variances; σ_q² ∈ (σ_p²/2, 2σ_p²): both χ² finite


@pytest.mark.parametrize("key", KEYS)
def test_bound_is_tight_at_the_optimal_critic_and_strict_elsewhere(key):
    d = DIVERGENCES[key]
    true = f_divergence(d, P, Q)
    at_star = bound_integral(d, P, Q, optimal_critic(d, P, Q))
    assert at_star == pytest.approx(true, rel=1e-9, abs=1e-12)
    for c in (0.5, 2.0):  # T_c = f'(c p/q) is a valid critic (in dom f*) but not the optimal one
        worse = bound_integral(d, P, Q, _scaled_critic(d, c))
        assert worse < true - 1e-4, f"{key}: T_{c} reaches {worse} >= D_f = {true}"


def _scaled_critic(d, c: float):
    """T_c(x) = f'(c p(x) / q(x)): the optimal critic's ratio scaled by c."""
    return lambda x: d.f_prime(c * torch.exp(P.log_prob(x) - Q.log_prob(x)))


def _kl(a: Gaussian1D, b: Gaussian1D) -> float:
    return math.log(b.std / a.std) + (a.std**2 + (a.mean - b.mean) ** 2) / (2 * b.std**2) - 0.5


def _tv(a: Gaussian1D, b: Gaussian1D) -> float:
    """½ ∫ |p − q| = ½ Σ over the intervals between crossings of |ΔΦ_p − ΔΦ_q|."""
    cdf = lambda g, x: 0.5 * (1 + math.erf((x - g.mean) / (g.std * math.sqrt(2))))  # noqa: E731
    edges = [-math.inf, *crossings(a, b), math.inf]
    return 0.5 * sum(abs((cdf(a, hi) - cdf(a, lo)) - (cdf(b, hi) - cdf(b, lo))) for lo, hi in zip(edges, edges[1:]))


def _hellinger(a: Gaussian1D, b: Gaussian1D) -> float:
    s2 = a.std**2 + b.std**2
    bc = math.sqrt(2 * a.std * b.std / s2) * math.exp(-((a.mean - b.mean) ** 2) / (4 * s2))  # Bhattacharyya
    return 2 - 2 * bc  # ∫ (√p − √q)²


def _js_grid(a: Gaussian1D, b: Gaussian1D) -> float:
    x = torch.linspace(-25, 25, 500_001, dtype=D64)
    return js_divergence_grid(torch.exp(a.log_prob(x)).numpy(), torch.exp(b.log_prob(x)).numpy(), float(x[1] - x[0]))


@pytest.mark.parametrize("q", [Gaussian1D(0.5, 1.2), Gaussian1D(-1.5, 0.8), Gaussian1D(1.0, 1.0)])
def test_divergences_match_closed_forms_for_gaussians(q):
    p = P
    expected = {
        "kl": _kl(p, q),
        "reverse-kl": _kl(q, p),
        "jeffrey": _kl(p, q) + _kl(q, p),
        "hellinger": _hellinger(p, q),
        "tv": _tv(p, q),
        "js": 2 * _js_grid(p, q),  # Table 1's JS f gives 2 JSD
        "gan": 2 * _js_grid(p, q) - LOG4,
    }
    for key, value in expected.items():
        assert f_divergence(key, p, q) == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("mu", [0.3, 1.0, 1.5])
def test_chi_squared_between_unit_gaussians_is_exp_mu_squared_minus_one(mu):
    p, q = Gaussian1D(0.0, 1.0), Gaussian1D(mu, 1.0)
    for key in ("pearson", "neyman"):  # ∫ p²/q − 1 and ∫ q²/p − 1: equal for equal variances
        assert f_divergence(key, p, q) == pytest.approx(math.expm1(mu**2), rel=1e-10)


# ----------------------------------------------------------------------------------------------------
# Lambert W
# ----------------------------------------------------------------------------------------------------


def test_lambertw_matches_scipy():
    x = torch.cat([
        -1 / math.e + torch.logspace(-6, math.log10(1 / math.e), 2001, dtype=D64)[:-1],  # (−1/e, 0)
        torch.logspace(-300, 300, 2001, dtype=D64),
    ])
    ref = torch.from_numpy(sp.lambertw(x.numpy(), 0).real)
    assert_close(lambertw(x), ref, rtol=1e-12, atol=1e-300)


def test_lambertw_near_the_branch_point_and_edges():
    # within 1e-6 of −1/e, W is ill-conditioned (dW/dx ~ 1/√(x + 1/e)); check the defining equation instead
    x = -1 / math.e + torch.logspace(-16, -6, 101, dtype=D64)
    w = lambertw(x)
    assert bool((w >= -1).all())
    assert_close(w * torch.exp(w), x, rtol=0, atol=1e-15)
    edges = lambertw(_t([-1 / math.e, 0.0, math.inf, -0.5]))
    assert float(edges[0]) == pytest.approx(-1.0, abs=1e-7)
    assert float(edges[1]) == 0.0 and math.isinf(float(edges[2])) and math.isnan(float(edges[3]))


def test_lambertw_gradient():
    x = torch.tensor([-0.3, -0.1, 0.0, 0.5, 3.0, 1e5], dtype=D64, requires_grad=True)
    (g,) = torch.autograd.grad(lambertw(x).sum(), x)
    h = 1e-6
    fd = (lambertw(x.detach() + h) - lambertw(x.detach() - h)) / (2 * h)
    assert_close(g, fd, rtol=1e-6, atol=1e-9)
    assert float(g[2]) == pytest.approx(1.0)  # W'(0) = 1


def test_wright_omega_matches_scipy_even_where_exp_overflows():
    s = torch.cat([torch.linspace(-60, 60, 1201, dtype=D64), torch.logspace(2, 12, 51, dtype=D64)])
    ref = torch.from_numpy(np.real(sp.wrightomega(s.numpy())))
    assert_close(wright_omega(s), ref, rtol=1e-13, atol=0)
    w = wright_omega(_t([800.0]))  # e^800 overflows float64; ω(800) = 800 − log 800 + ...
    assert float(w + torch.log(w)) == pytest.approx(800.0, rel=1e-15)
    s32 = torch.linspace(-40, 40, 9, requires_grad=True)
    (g,) = torch.autograd.grad(wright_omega(s32).sum(), s32)
    w32 = wright_omega(s32.detach())
    assert w32.dtype == torch.float32
    assert_close(g, w32 / (1 + w32))  # ω' = ω / (1 + ω)


# ----------------------------------------------------------------------------------------------------
# Each row's training defaults (ROW_DEFAULTS, applied by config.resolve)
# ----------------------------------------------------------------------------------------------------


def test_row_defaults_apply_when_an_override_picks_the_row_and_yield_to_explicit_values(tmp_path):
    from gankit import config

    neyman = ROW_DEFAULTS["neyman"].config
    cfg = config.resolve("ring8", overrides=["model.objective=fgan-neyman"])
    assert (cfg.g_optim.lr, cfg.d_optim.lr) == (neyman["g_optim.lr"], neyman["d_optim.lr"]) != (1e-3, 1e-3)
    cfg = config.resolve("ring8", overrides=["model.objective=fgan-neyman", "g_optim.lr=0.002"])
    assert (cfg.g_optim.lr, cfg.d_optim.lr) == (0.002, neyman["d_optim.lr"])  # the user's value wins
    # the preset's own objective, and rows without defaults, keep the preset's values
    assert config.resolve("ring8").g_optim.lr == 1e-3
    assert config.resolve("ring8", overrides=["model.objective=fgan-gan"]).g_optim.lr == 1e-3
    # a saved config that names the row loads with its own values, not the row's defaults
    mine = config.resolve("ring8", overrides=["model.objective=fgan-neyman", "g_optim.lr=0.003"])
    config.save(mine, tmp_path / "config.yaml")
    assert config.resolve(file=tmp_path / "config.yaml").g_optim.lr == 0.003
    assert config.resolve(file=tmp_path / "config.yaml", overrides=["model.objective=fgan-neyman"]).g_optim.lr == 0.003
    # every key a row brings is a real config key of the right type
    for key in KEYS:
        for name, value in ROW_DEFAULTS[key].config.items():
            section, field_name = name.split(".")
            assert isinstance(getattr(getattr(cfg, section), field_name), type(value)), name


def _value(cfg, name: str):
    section, key = name.split(".")
    return getattr(getattr(cfg, section), key)


def test_row_defaults_per_data_set_win_over_the_rows_and_yield_to_explicit_values():
    from gankit import config

    rows = [k for k in KEYS if ROW_DEFAULTS[k].data]
    assert rows  # at least one row brings values for a data set
    for key in rows:
        row = ROW_DEFAULTS[key]
        for data, values in row.data.items():
            cfg = config.resolve(data, overrides=[f"model.objective=fgan-{key}"])
            assert all(_value(cfg, n) == v for n, v in {**row.config, **values}.items()), (key, data)
            name, value = next(iter(values.items()))
            mine = 0.123 if isinstance(value, float) else value
            cfg = config.resolve(data, overrides=[f"model.objective=fgan-{key}", f"{name}={mine}"])
            assert _value(cfg, name) == mine  # the user's value wins
            other = "grid25" if data == "ring8" else "ring8"  # another data set gets the row's own values only
            cfg = config.resolve(other, overrides=[f"model.objective=fgan-{key}"])
            assert _value(cfg, name) == row.config.get(name, _value(config.resolve(other), name))


@pytest.mark.parametrize("key", KEYS)
def test_each_row_trains_on_ring8_under_its_defaults(tiny, key):
    from gankit import api
    from gankit.train.stats import read_jsonl

    run = api.train(tiny(f"model.objective=fgan-{key}", "train.steps=30", "eval.metrics=[modes]", f"run.name={key}"))
    stats = read_jsonl(run.stats)
    assert stats[-1]["step"] == 30
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in stats)
    assert stats[-1]["lr_g"] == ROW_DEFAULTS[key].config.get("g_optim.lr", 1e-3)


# ----------------------------------------------------------------------------------------------------
# Which divergence the non-saturating generator descends (module docstring): h − r h' = −f' + const
# ----------------------------------------------------------------------------------------------------

_NS_DESCENDS = {  # h(r) of D_h = ∫ q h(p/q), up to constants
    "tv": lambda r: 0.5 * (r - 1).abs(),  # TV itself
    "kl": lambda r: -torch.log(r),  # KL(Q ‖ P): mode seeking
    "reverse-kl": lambda r: 0.5 / r,  # ½ ∫ q²/p = ½ (Neyman χ² + 1)
    "pearson": lambda r: 2 * r * torch.log(r),  # 2 KL(P ‖ Q): mode covering
    "neyman": lambda r: 1 / (3 * r**2),  # ⅓ ∫ q³/p²
    "hellinger": lambda r: 2 / 3 * r**-0.5,  # ⅔ ∫ q^{3/2} p^{−1/2}
    "jeffrey": lambda r: -torch.log(r) + 0.5 / r,  # KL(Q ‖ P) + ½ Neyman
    "js": lambda r: -torch.log(r) - DIVERGENCES["js"].f(r),  # KL(Q ‖ P) − 2 JSD
    "gan": lambda r: -torch.log(r) - DIVERGENCES["js"].f(r),
}


@pytest.mark.parametrize("key", KEYS)
def test_the_nonsaturating_generator_descends_the_stated_divergence(key):
    # ∇_θ D_h = ∫ ∂_θ q (h − r h'), and the heuristic's gradient is −∫ ∂_θ q f'(r): equal iff h − r h' + f' is constant
    for lo, hi in ((0.05, 0.9), (1.1, 20.0)):  # either side of r = 1 (TV's kink)
        r = torch.linspace(lo, hi, 200, dtype=D64, requires_grad=True)
        h = _NS_DESCENDS[key](r)
        (dh,) = torch.autograd.grad(h.sum(), r)
        gap = (h - r * dh + DIVERGENCES[key].f_prime(r)).detach()
        assert float(gap.max() - gap.min()) < 1e-9, key
    # and the saturating generator descends D_f itself, which is not the same h except for TV
    r = torch.linspace(0.05, 20.0, 200, dtype=D64, requires_grad=True)
    f = DIVERGENCES[key].f(r)
    (df,) = torch.autograd.grad(f.sum(), r)
    gap = (f - r * df + DIVERGENCES[key].f_prime(r)).detach()
    assert (float(gap.max() - gap.min()) < 1e-9) == (key == "tv")
