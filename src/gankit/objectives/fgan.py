"""f-GAN: variational divergence minimisation over the table of f-divergences.

Nowozin, Cseke, Tomioka, "f-GAN: Training Generative Neural Samplers using Variational Divergence
Minimization" (NeurIPS 2016), Table 1 and Table 2; Lai 2017, GAN survey slides ("f-GAN
f-divergence", "f-GAN Fenchel Conjugate", "Ref[10]_Tabel 1") and the f-divergence definition of
Generative-model basics 06 (GAN). docs/protocols.md ("f-GAN divergences") lists the rows.

For a convex f with f(1) = 0 the f-divergence of the data P from the model Q is

    D_f(P ‖ Q) = ∫ q(x) f(p(x) / q(x)) dx.

With the Fenchel conjugate f*(t) = sup_{u ∈ dom f} (t·u − f(u)) and f = f** (f convex, lower
semi-continuous), every critic T: X -> dom f* gives a lower bound, tight at T*(x) = f'(p(x) / q(x)):

    D_f(P ‖ Q) >= sup_T  E_{x~P}[T(x)] − E_{x~Q}[f*(T(x))].

f-GAN writes T = g_f(V_ω(x)) with V_ω the discriminator's raw score (docs/architecture.md rule 1: a real number,
higher = more real) and g_f an increasing output activation R -> dom f*, and plays

    F(θ, ω) = E_{x~P}[g_f(V_ω(x))] − E_{x~Q_θ}[f*(g_f(V_ω(x)))]           (Nowozin et al., eq. 6)

- the critic maximises F: ``d_loss(real, fake) = −(mean g_f(real) − mean f*(g_f(fake)))``;
- the generator minimises F. Only the second term depends on θ, so the *saturating* generator loss is
  ``saturating_g_loss = −mean f*(g_f(fake))``; f-GAN (Section 3.2) trains instead with the heuristic
  ``nonsaturating_g_loss = −mean g_f(fake)`` (maximise E_Q[g_f(V(G(z)))]), which is what the registered
  objectives use. For the GAN row these are exactly MMGAN's and NSGAN's generator losses.

Which divergence G descends. With the critic at its optimum T* = f'(r), r = p/q, held fixed while G steps,
the saturating loss's gradient is ∇_θ D_f (envelope theorem): ∇ D_h = ∫ ∂_θ q · (h(r) − r h'(r)) dx for any h.
The non-saturating loss's gradient is −∫ ∂_θ q · f'(r) dx, which is ∇ D_h for the h with h − r h' = −f'
(constants drop out, ∫ ∂_θ q = 0), i.e. (h/r)' = f'(r)/r²:

    h(r) = r ∫^r f'(s) / s² ds.

Row by row (up to constants): Pearson -> 2 KL(P ‖ Q) (forward: mode covering); KL -> KL(Q ‖ P) (reverse:
mode seeking); reverse KL -> ½ Neyman χ² = ½ ∫ (q − p)²/p; Neyman -> ⅓ ∫ q³/p²; Hellinger -> ⅔ ∫ q^{3/2} p^{−1/2};
Jeffrey -> KL(Q ‖ P) + ½ Neyman; GAN and JS -> KL(Q ‖ P) − 2 JSD (Arjovsky & Bottou 2017); TV -> TV (f* is
the identity, so both losses coincide). So under f-GAN's heuristic only the Pearson row pulls G toward the
mode-covering direction; the saturating form follows D_f itself (KL covers, reverse KL seeks).

Every g_f is increasing and every f* is non-decreasing, so all losses follow rule 1: the critic's loss
falls as real scores rise and fake scores fall; the generator's loss falls as fake scores rise.

Numerics: f*(g_f(v)) is computed in a closed form of v (``conjugate_of_activation``), never as
f*(g_f(v)) through t: e.g. for the GAN row g_f(30) = −softplus(−30) rounds to 0 in float32, where
f*(t) = −log(1 − eᵗ) is infinite, while f*(g_f(v)) = softplus(v) is exact. Every loss and gradient is
finite for scores in [−30, 30] in float32.

Remarks on Tables 1-2 that the tests make precise:

- Pearson χ²: Table 2's activation g_f(v) = v reaches t < −2, where t²/4 + t *decreases* (its maximiser
  u* = 1 + t/2 would be a negative density ratio; the conjugate of (u − 1)² over u >= 0 is the constant
  −1 there). A critic would then be paid to raise fake scores toward −2, breaking rule 1. gankit uses
  g_f(v) = 2 softplus(v) − 2, increasing onto (−2, ∞), the part of the domain on which t²/4 + t is the
  conjugate over density ratios; the optimum T*(x) = 2(p/q − 1) is unchanged (reached at
  v* = log(e^{p/q} − 1)), and f*(g_f(v)) = softplus(v)² − 1 still grows quadratically like Table 2's.
- The Jensen-Shannon row's f gives D_f = 2·JSD(P ‖ Q) (the paper's formula column carries a ½ that
  its f and f* do not).
- The GAN row's f has f(1) = −log 4, not 0: D_GAN = 2·JSD(P ‖ Q) − log 4, the value of Goodfellow's game
  at the optimal discriminator. Its critic loss equals the minimax GAN's discriminator loss exactly, and
  the JS row's equals it minus log 4.

``to_prob``: only the GAN and Jensen-Shannon rows have a score that is a logit: g_f(v) = log σ(v) and
log 2 + log σ(v), with optimal σ(v*) = p / (p + q) = D*(x) for both, so ``to_prob = sigmoid`` there.
Every other row's score is not a probability of anything and ``to_prob`` is None (figures show the raw
score, as for WGAN).

Jeffrey's conjugate needs the Lambert W function; :func:`lambertw` (principal branch, real x >= −1/e)
and :func:`wright_omega` (ω(s) = W(eˢ), computed without forming eˢ) are implemented here in torch,
differentiable, and tested against ``scipy.special``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.objectives.base import Objective
from gankit.registry import OBJECTIVES

LOG2 = math.log(2.0)
LOG4 = math.log(4.0)

# ----------------------------------------------------------------------------------------------------
# Lambert W for real arguments
# ----------------------------------------------------------------------------------------------------

_OMEGA_NEWTON_STEPS = 4
"""Newton steps after Winitzki's start: the worst relative error is 3e-9 after 2, 7e-15 after 3 (s in
[−36, 1e15], float64, against scipy.special.wrightomega)."""
_OMEGA_EXP_BELOW = -36.0
"""For s < −36, ω(s) = eˢ(1 − eˢ + ...) equals eˢ to float64 precision (relative error e^−36 = 2e-16)."""
_W_HALLEY_STEPS = 6


def _wright_omega_float64(s: Tensor) -> Tensor:
    """ω(s): the solution w > 0 of w + log w = s, i.e. W(eˢ), for float64 ``s`` (no autograd).

    Start: Winitzki's approximation W(x) ≈ L(1 − log(1 + L) / (2 + L)) with L = log(1 + x) = softplus(s)
    (relative error < 2 % on all of x > 0); then Newton on h(w) = w + log w − s,
    w <- w (1 + s − log w) / (1 + w). h is concave and increasing, so after one step the iterates sit
    below the root and rise to it quadratically; none can turn negative from this start.
    """
    tiny = s < _OMEGA_EXP_BELOW
    s_safe = torch.where(tiny, torch.zeros_like(s), s)  # keeps log(w) finite in the masked lanes
    big_l = F.softplus(s_safe)  # log(1 + eˢ), no overflow for large s
    w = big_l * (1.0 - torch.log1p(big_l) / (2.0 + big_l))
    for _ in range(_OMEGA_NEWTON_STEPS):
        w = w * (1.0 + s_safe - torch.log(w)) / (1.0 + w)
    w = torch.where(torch.isinf(s_safe) & (s_safe > 0), s_safe, w)  # ω(+inf) = +inf
    return torch.where(tiny, torch.exp(s), w)


class _WrightOmega(torch.autograd.Function):
    """ω(s) = W(eˢ) with dω/ds = ω / (1 + ω) (differentiate w + log w = s)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(s: Tensor) -> Tensor:
        return _wright_omega_float64(s.detach().to(torch.float64)).to(s.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:  # also enables vmap/func
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (w,) = ctx.saved_tensors
        return grad * w / (1.0 + w)  # differentiable ops: double backward works


def wright_omega(s: Tensor) -> Tensor:
    """Wright omega ω(s) = W(eˢ), the w > 0 with w + log w = s, for real ``s`` (any shape, differentiable).

    Computed in float64 and returned in ``s``'s dtype. Never forms eˢ, so it is exact where eˢ would
    overflow (s > 709) or underflow: ω(s) ≈ s − log s for large s and ≈ eˢ for very negative s.
    """
    return _WrightOmega.apply(s)


def _lambertw_float64(x: Tensor) -> Tensor:
    """Principal branch W₀(x) for float64 ``x``: nan below −1/e (no autograd; elementwise, vmap-friendly)."""
    e = math.e
    on_branch = (x < 0) & (x >= -1.0 / e)
    # W(x) = ω(log x) for x > 0 (the other lanes get a harmless 1)
    w_pos = _wright_omega_float64(torch.log(torch.where(x > 0, x, torch.ones_like(x))))
    # x in [−1/e, 0): branch-point series W = −1 + p − p²/3 + 11p³/72, p = sqrt(2(e x + 1))
    # (Corless et al., "On the Lambert W function", 1996), then Halley on h(w) = w eʷ − x
    xn = torch.where(on_branch, x, torch.full_like(x, -0.1))
    p = torch.sqrt((2.0 * (e * xn + 1.0)).clamp_min(0.0))
    wn = -1.0 + p - p**2 / 3.0 + 11.0 / 72.0 * p**3
    for _ in range(_W_HALLEY_STEPS):
        ew = torch.exp(wn)
        h = wn * ew - xn
        denom = ew * (wn + 1.0) - (wn + 2.0) * h / (2.0 * (wn + 1.0))  # h' − h'' h / (2 h')
        bad = (h == 0) | (denom == 0) | ~torch.isfinite(denom)  # at the branch point w = −1 exactly
        wn = wn - torch.where(bad, torch.zeros_like(h), h / torch.where(bad, torch.ones_like(denom), denom))
    w = torch.where(x > 0, w_pos, torch.where(on_branch, wn, torch.full_like(x, math.nan)))
    return torch.where(x == 0, torch.zeros_like(x), w)


class _LambertW(torch.autograd.Function):
    """W₀(x) with dW/dx = 1 / (e^W (1 + W)) (differentiate W e^W = x; finite at x = 0, infinite at −1/e)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return _lambertw_float64(x.detach().to(torch.float64)).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (w,) = ctx.saved_tensors
        return grad / (torch.exp(w) * (1.0 + w))


def lambertw(x: Tensor) -> Tensor:
    """Lambert W, principal branch W₀ (the solution w >= −1 of w eʷ = x), for real ``x`` >= −1/e.

    torch counterpart of ``scipy.special.lambertw(x, 0).real``: differentiable, any shape, computed in
    float64 and returned in ``x``'s dtype; nan for x < −1/e (where W₀ is not real).
    """
    return _LambertW.apply(x)


# ----------------------------------------------------------------------------------------------------
# The divergence table
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FDivergence:
    """One row of f-GAN's Table 1/2. All functions are elementwise torch functions.

    Attributes:
        key: registry suffix (``fgan-<key>``).
        name: human-readable name.
        f: the generator function f(u) on u > 0 (u = p/q); convex, f(1) = 0 except the GAN row.
        f_prime: f'(u); the optimal critic is T*(x) = f'(p(x)/q(x)) (a subgradient for total variation).
        conjugate: f*(t) = sup_u (t u − f(u)) for t in dom f*.
        activation: the output activation g_f: R -> dom f*, increasing.
        conjugate_of_activation: f*(g_f(v)) in a closed form of v, stable for large |v|.
        domain: (lo, hi), the ends of dom f* (±inf when unbounded): the t for which ``conjugate`` is the
            conjugate of f over density ratios u > 0 (for Pearson χ² that is t > −2, see above).
        domain_closed: whether dom f* contains its finite ends (only total variation's [−½, ½] does).
    """

    key: str
    name: str
    f: Callable[[Tensor], Tensor]
    f_prime: Callable[[Tensor], Tensor]
    conjugate: Callable[[Tensor], Tensor]
    activation: Callable[[Tensor], Tensor]
    conjugate_of_activation: Callable[[Tensor], Tensor]
    domain: tuple[float, float]
    domain_closed: bool = False

    def in_domain(self, t: Tensor) -> Tensor:
        """Boolean mask: which entries of ``t`` lie in dom f*."""
        lo, hi = self.domain
        if self.domain_closed:
            return (t >= lo) & (t <= hi)
        return (t > lo) & (t < hi)


def _jeffrey_conjugate(t: Tensor) -> Tensor:
    """Jeffrey: f*(t) = W(e^{1−t}) + 1/W(e^{1−t}) + t − 2, via ω = ω(1 − t) = W(e^{1−t}).

    1/ω = exp(ω − (1 − t)) (from ω + log ω = 1 − t), so no 1/ω² appears in the gradient, which is
    f*'(t) = 1/ω > 0.
    """
    w = wright_omega(1.0 - t)  # W(e^{1−t}), > 0
    return w + torch.exp(w - 1.0 + t) + t - 2.0  # ω + 1/ω + t − 2


_TABLE = [
    FDivergence(
        "tv", "total variation",
        f=lambda u: 0.5 * (u - 1.0).abs(),  # ½|u − 1|
        f_prime=lambda u: 0.5 * torch.sign(u - 1.0),  # ½ sign(u − 1), a subgradient at u = 1
        conjugate=lambda t: t,  # t on [−½, ½]
        activation=lambda v: 0.5 * torch.tanh(v),  # ½ tanh v
        conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),  # f*(½ tanh v) = ½ tanh v
        domain=(-0.5, 0.5), domain_closed=True,
    ),
    FDivergence(
        "kl", "Kullback-Leibler",
        f=lambda u: torch.special.xlogy(u, u),  # u log u (0 at u = 0)
        f_prime=lambda u: 1.0 + torch.log(u),  # 1 + log u
        conjugate=lambda t: torch.exp(t - 1.0),  # e^{t−1}
        activation=lambda v: v,  # v
        conjugate_of_activation=lambda v: torch.exp(v - 1.0),  # e^{v−1}
        domain=(-math.inf, math.inf),
    ),
    FDivergence(
        "reverse-kl", "reverse Kullback-Leibler",
        f=lambda u: -torch.log(u),  # −log u
        f_prime=lambda u: -1.0 / u,  # −1/u
        conjugate=lambda t: -1.0 - torch.log(-t),  # −1 − log(−t)
        activation=lambda v: -torch.exp(-v),  # −e^{−v}
        conjugate_of_activation=lambda v: v - 1.0,  # −1 − log(e^{−v}) = v − 1
        domain=(-math.inf, 0.0),
    ),
    FDivergence(
        "pearson", "Pearson chi-squared",
        f=lambda u: (u - 1.0) ** 2,  # (u − 1)²
        f_prime=lambda u: 2.0 * (u - 1.0),  # 2(u − 1)
        conjugate=lambda t: 0.25 * t**2 + t,  # t²/4 + t on t >= −2 (see the module docstring)
        activation=lambda v: 2.0 * F.softplus(v) - 2.0,  # 2 log(1 + eᵛ) − 2, onto (−2, ∞); Table 2 has v
        conjugate_of_activation=lambda v: F.softplus(v) ** 2 - 1.0,  # (t + 2)²/4 − 1 at t = 2 softplus(v) − 2
        domain=(-2.0, math.inf),
    ),
    FDivergence(
        "neyman", "Neyman chi-squared",
        f=lambda u: (1.0 - u) ** 2 / u,  # (1 − u)²/u
        f_prime=lambda u: 1.0 - u**-2,  # 1 − 1/u²
        conjugate=lambda t: 2.0 - 2.0 * torch.sqrt(1.0 - t),  # 2 − 2√(1 − t)
        activation=lambda v: -torch.expm1(-v),  # 1 − e^{−v}
        conjugate_of_activation=lambda v: -2.0 * torch.expm1(-0.5 * v),  # 2 − 2√(e^{−v}) = 2 − 2e^{−v/2}
        domain=(-math.inf, 1.0),
    ),
    FDivergence(
        "hellinger", "squared Hellinger",
        f=lambda u: (torch.sqrt(u) - 1.0) ** 2,  # (√u − 1)²
        f_prime=lambda u: 1.0 - torch.rsqrt(u),  # 1 − 1/√u
        conjugate=lambda t: t / (1.0 - t),  # t/(1 − t)
        activation=lambda v: -torch.expm1(-v),  # 1 − e^{−v}
        conjugate_of_activation=torch.expm1,  # (1 − e^{−v}) / e^{−v} = eᵛ − 1
        domain=(-math.inf, 1.0),
    ),
    FDivergence(
        "jeffrey", "Jeffrey",
        f=lambda u: (u - 1.0) * torch.log(u),  # (u − 1) log u
        f_prime=lambda u: torch.log(u) + 1.0 - 1.0 / u,  # log u + 1 − 1/u
        conjugate=_jeffrey_conjugate,  # W(e^{1−t}) + 1/W(e^{1−t}) + t − 2
        activation=lambda v: v,  # v
        conjugate_of_activation=_jeffrey_conjugate,  # f*(v)
        domain=(-math.inf, math.inf),
    ),
    FDivergence(
        "js", "Jensen-Shannon (x2)",
        f=lambda u: -(u + 1.0) * (torch.log1p(u) - LOG2) + torch.special.xlogy(u, u),  # −(u+1) log((1+u)/2) + u log u
        f_prime=lambda u: LOG2 + torch.log(u) - torch.log1p(u),  # log(2u / (1 + u))
        conjugate=lambda t: -torch.log(2.0 - torch.exp(t)),  # −log(2 − eᵗ)
        activation=lambda v: LOG2 - F.softplus(-v),  # log 2 − log(1 + e^{−v}) = log(2σ(v))
        conjugate_of_activation=lambda v: F.softplus(v) - LOG2,  # −log(2 − 2σ(v)) = −log 2 − log σ(−v)
        domain=(-math.inf, LOG2),
    ),
    FDivergence(
        "gan", "GAN (2 JS − log 4)",
        f=lambda u: torch.special.xlogy(u, u) - (u + 1.0) * torch.log1p(u),  # u log u − (u+1) log(u+1)
        f_prime=lambda u: torch.log(u) - torch.log1p(u),  # log(u / (1 + u))
        conjugate=lambda t: -torch.log(-torch.expm1(t)),  # −log(1 − eᵗ)
        activation=lambda v: -F.softplus(-v),  # −log(1 + e^{−v}) = log σ(v)
        conjugate_of_activation=F.softplus,  # −log(1 − σ(v)) = log(1 + eᵛ)
        domain=(-math.inf, 0.0),
    ),
]

DIVERGENCES: dict[str, FDivergence] = {d.key: d for d in _TABLE}
"""The f-GAN table by key: tv, kl, reverse-kl, pearson, neyman, hellinger, jeffrey, js, gan."""


def _get(div: FDivergence | str) -> FDivergence:
    return DIVERGENCES[div] if isinstance(div, str) else div


# ----------------------------------------------------------------------------------------------------
# Losses: pure functions of the critic's raw scores
# ----------------------------------------------------------------------------------------------------


def variational_bound(div: FDivergence | str, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """F̂ = mean g_f(V(x)) − mean f*(g_f(V(x̃))): the sample estimate of the lower bound on D_f(P ‖ Q).

    Args:
        div: a row of :data:`DIVERGENCES` or its key.
        real_scores: (B,) raw scores V(x) of data samples x ~ P.
        fake_scores: (B',) raw scores V(x̃) of generator samples x̃ ~ Q.
    Returns:
        Scalar; its expectation is <= D_f(P ‖ Q) for every critic.
    """
    d = _get(div)
    return d.activation(real_scores).mean() - d.conjugate_of_activation(fake_scores).mean()  # E_P[T] − E_Q[f*(T)]


def critic_loss(div: FDivergence | str, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """−F̂ = mean f*(g_f(V(x̃))) − mean g_f(V(x)), minimised by the critic (it maximises the bound)."""
    d = _get(div)
    return d.conjugate_of_activation(fake_scores).mean() - d.activation(real_scores).mean()  # −(E_P[T] − E_Q[f*(T)])


def nonsaturating_g_loss(div: FDivergence | str, fake_scores: Tensor) -> Tensor:
    """f-GAN's generator heuristic (Section 3.2): −mean g_f(V(G(z))), i.e. G maximises E_Q[g_f(V(G(z)))]."""
    return -_get(div).activation(fake_scores).mean()  # −E_Q[T]


def saturating_g_loss(div: FDivergence | str, fake_scores: Tensor) -> Tensor:
    """The game itself: G minimises F, whose θ-dependent part is −E_Q[f*(g_f(V(G(z))))]."""
    return -_get(div).conjugate_of_activation(fake_scores).mean()  # −E_Q[f*(T)]


def log_g_loss(div: FDivergence | str, fake_scores: Tensor) -> Tensor:
    """The log form for a row with a bounded dom f* = [lo, hi] (total variation): −mean log D(V(G(z))).

    D = (g_f(V) − lo) / (hi − lo) maps the critic's output onto [0, 1]; for TV, D = ½ + ½ tanh V = σ(2V)
    and D* = ½ + T* = 1[p > q]. Like Goodfellow's switch from log(1 − D) to −log D, G still raises every
    fake's T (D is increasing in T), but its gradient, −2 σ(−2V) ∂V, tends to −2 ∂V where the critic is
    sure (V -> −∞) instead of vanishing like −E_Q[½ tanh V]'s −½ sech²(V) ∂V.
    """
    d = _get(div)
    if d.key not in _LOG_D:
        raise ValueError(f"the log generator form needs a bounded dom f* (rows {sorted(_LOG_D)}), not '{d.key}'")
    return -_LOG_D[d.key](fake_scores).mean()  # −E_Q[log D(V)]


_LOG_D: dict[str, Callable[[Tensor], Tensor]] = {
    "tv": lambda v: F.logsigmoid(2.0 * v),  # log(½ + ½ tanh v) = log σ(2v), exact for v -> −∞
}
"""log D(v) = log((g_f(v) − lo) / (hi − lo)) in a closed form of v, for the rows whose dom f* is bounded."""

_G_FORMS: dict[str, tuple[Callable[[FDivergence | str, Tensor], Tensor], str]] = {
    "nonsaturating": (nonsaturating_g_loss, "non-saturating: G maximises E g_f(V)"),
    "saturating": (saturating_g_loss, "saturating: G minimises −E f*(g_f(V))"),
    "log": (log_g_loss, "log form: G maximises E log D, D = (g_f(V) − inf dom f*) / |dom f*|"),
}
"""The generator's losses: f-GAN's heuristic, the game itself, and the log form for bounded rows."""

_LOGIT_ROWS = {"gan", "js"}  # rows whose score is the logit of D*(x) = p / (p + q)


def bound_scores(scores: Tensor, bound: float) -> Tensor:
    """V -> c·tanh(V / c): the raw score softly limited to (−c, c) (identity for |V| << c; c <= 0: no limit).

    g_f is increasing, so the critic's output T = g_f(c·tanh(V/c)) stays in (g_f(−c), g_f(c)), a closed
    part of dom f* where f*(T) is finite. A restricted family of critics still gives a lower bound on
    D_f (the bound holds for every T); it is tight only where |T*(x)| fits inside, so c trades tightness
    for a critic that cannot run off to the infinite T* = f'(p/q) of points where q = 0.
    """
    if bound <= 0:
        return scores
    return bound * torch.tanh(scores / bound)


def _bounded(fn: Callable[..., Tensor], bound: float) -> Callable[..., Tensor]:
    return lambda *scores: fn(*(bound_scores(s, bound) for s in scores))


def fgan_objective(
    div: FDivergence | str, saturating: bool = False, bound: float = 0.0, generator: str = ""
) -> Objective:
    """An :class:`Objective` for one row: critic maximises F; G non-saturating (default), saturating or log.

    The registry holds the ``fgan-<key>`` objectives with each row's score bound and generator form
    (:data:`ROW_DEFAULTS`); build others with e.g. ``fgan_objective("kl", saturating=True, bound=0)``.

    Args:
        div: a row of :data:`DIVERGENCES` or its key.
        saturating: G minimises −E_Q[f*(g_f(V))] (the game itself) instead of maximising E_Q[g_f(V)]
            (shorthand for ``generator="saturating"``).
        bound: c > 0 applies :func:`bound_scores` to every score before g_f; 0 leaves them unbounded.
        generator: "nonsaturating", "saturating" or "log" (:func:`log_g_loss`, bounded rows only); overrides
            ``saturating`` when given.
    """
    d = _get(div)
    form = generator or ("saturating" if saturating else "nonsaturating")
    if form not in _G_FORMS:
        raise ValueError(f"generator form must be one of {sorted(_G_FORMS)}, not '{form}'")
    if form == "log" and d.key not in _LOG_D:
        raise ValueError(f"the log generator form needs a bounded dom f* (rows {sorted(_LOG_D)}), not '{d.key}'")
    g_loss, kind = _G_FORMS[form]
    limit = f"; scores bounded by {bound:g}·tanh(V/{bound:g})" if bound > 0 else ""
    return Objective(
        f"fgan-{d.key}" + ("" if form == "nonsaturating" else f"-{form}"),
        _bounded(partial(critic_loss, d), bound),
        _bounded(partial(g_loss, d), bound),
        torch.sigmoid if d.key in _LOGIT_ROWS else None,
        f"f-GAN, {d.name}: critic maximises E_P[g_f(V)] − E_Q[f*(g_f(V))]; {kind}{limit}",
    )


@dataclass(frozen=True)
class RowDefaults:
    """How each registered ``fgan-<key>`` objective trains by default (measured: BENCHMARKS.md, f-GAN).

    Attributes:
        bound: the score bound c of :func:`bound_scores` built into the registered objective (0: none).
        config: config values the row brings (``section.key`` -> value), applied by ``config.resolve``
            over a preset tuned for another objective; the user's overrides still win.
        data: per data set (its ``data.name``), values applied over ``config`` on that data set.
        generator: the registered objective's generator form (:func:`fgan_objective`).
    """

    bound: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    generator: str = "nonsaturating"


def _ttur(g_lr: float, d_lr: float = 1e-3) -> dict[str, Any]:
    """Two time scales (Heusel et al. 2017): the critic learns faster than the generator."""
    return {"g_optim.lr": g_lr, "d_optim.lr": d_lr}


_ONE_RATE_1D = {"bimodal1d": {"g_optim.lr": 5e-4, "d_optim.lr": 5e-4}}
"""On bimodal1d (1-D uniform noise) a generator at 1e-4 does not split into two bumps within 1,500 steps
under any row; the preset's one rate of 5e-4 for both covers both bumps on most seeds (BENCHMARKS.md)."""
_SMOOTH_1D = {"bimodal1d": {**_ONE_RATE_1D["bimodal1d"], "reg.r1": 0.1}}
"""Pearson and Neyman at that rate leave mass between the bumps (6-56 % HQ); R1 (γ = 0.1, Mescheder et al.
2018) on the critic puts it on them (97-99 % HQ, 3 of 3 seeds)."""

ROW_DEFAULTS: dict[str, RowDefaults] = {
    # the GAN and Jensen-Shannon rows train with NSGAN's settings as they are
    "gan": RowDefaults(),
    "js": RowDefaults(),
    # the other rows' critics chase an unbounded T*: with equal rates on ring8 they oscillate and the
    # generator collapses (BENCHMARKS.md); a critic 10x faster than G tracks T*, and the score bound keeps
    # f*(T) finite where q = 0 (reverse KL's −e^{−V} overflowed without it; unbounded KL stopped on a
    # non-finite loss on 2 of 3 bimodal1d seeds)
    "kl": RowDefaults(3.0, _ttur(1e-4), _ONE_RATE_1D),
    "reverse-kl": RowDefaults(3.0, _ttur(1e-4), _ONE_RATE_1D),
    "pearson": RowDefaults(3.0, _ttur(1e-4), _SMOOTH_1D),
    "neyman": RowDefaults(3.0, _ttur(5e-5), _SMOOTH_1D),
    "hellinger": RowDefaults(3.0, _ttur(1e-4), _ONE_RATE_1D),
    "jeffrey": RowDefaults(3.0, _ttur(1e-4), _ONE_RATE_1D),
    # TV's optimal critic ½ sign(p − q) is a step: its x-gradient is 0 almost everywhere, so G learns only
    # through a smooth critic. A gradient penalty keeps V's slope near 1 between P and Q (then |T| <= ½ with
    # T ½-Lipschitz: the bound becomes a bounded-Lipschitz distance, which still moves when the supports are
    # disjoint); without it the ½ tanh critic saturates and G stops (0 modes on ring8). On bimodal1d the
    # penalty leaves G off the bumps; R1 puts it on one (TV does not cover both there, BENCHMARKS.md)
    "tv": RowDefaults(0.0, {**_ttur(1e-4), "reg.gradient_penalty": 1.0},
                      {"bimodal1d": {**_SMOOTH_1D["bimodal1d"], "reg.gradient_penalty": 0.0}}),
}
"""Each registered row's training defaults; tuned on ring8 and bimodal1d (benchmarks/fgan_table.py)."""


def _register_all() -> None:
    """``fgan-<key>`` with the row's own generator form, and ``fgan-<key>-saturating``: the game itself (G
    descends D_f, see the module docstring), with the same bound and training defaults."""
    for key in DIVERGENCES:
        row = ROW_DEFAULTS[key]
        obj = replace(fgan_objective(key, bound=row.bound, generator=row.generator), name=f"fgan-{key}")
        sat = fgan_objective(key, bound=row.bound, generator="saturating")
        for o in (obj, sat):
            OBJECTIVES.register(o.name, config_defaults=dict(row.config), data_defaults=dict(row.data))(o)


_register_all()

__all__ = [
    "DIVERGENCES",
    "FDivergence",
    "ROW_DEFAULTS",
    "RowDefaults",
    "bound_scores",
    "critic_loss",
    "fgan_objective",
    "lambertw",
    "nonsaturating_g_loss",
    "saturating_g_loss",
    "variational_bound",
    "wright_omega",
]
