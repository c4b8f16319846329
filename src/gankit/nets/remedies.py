"""Discriminator-side remedies for mode collapse that change the network, for any registered net family.

- :class:`MinibatchStd`: Karras, Aila, Laine, Lehtinen, "Progressive Growing of GANs" (ICLR 2018), §3:
  the standard deviation of each feature over a group of samples, averaged to one number per group and
  appended as an extra feature (channel) before D's last layer. A collapsed generator gives a batch with
  near-zero spread, which D can then see and punish.
- :class:`MinibatchDiscrimination`: Salimans et al., "Improved Techniques for Training GANs" (NeurIPS
  2016), §3.2: features f ∈ R^A are projected by a tensor T ∈ R^{A×B×C} to M_i ∈ R^{B×C};
  c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖₁); o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j) is appended to f.
- :func:`spectral_normalise`: Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for GANs"
  (ICLR 2018): every Linear and Conv weight divided by its largest singular value (one power iteration
  per forward pass; PyTorch's ``parametrizations.spectral_norm``), making D about 1-Lipschitz per layer.
- :func:`pack` / :func:`packed_shape`: Lin, Khetan, Fanti, Oh, "PacGAN: The power of two samples in
  generative adversarial networks" (NeurIPS 2018): D judges m samples at once, concatenated (vectors
  end to end, images along channels); all m real or all m generated. A collapsed generator's packs
  hold near-copies, which real packs never do.

:func:`build_discriminator` applies the config's choices to any net family whose discriminator ends in
``.net``, an ``nn.Sequential`` whose last module is the ``Linear`` or ``Conv2d`` scoring head (mlp and
dcgan); the minibatch layer goes just before that head.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from gankit.config import MINIBATCH
from gankit.errors import ConfigError
from gankit.evalmode import evaluating
from gankit.registry import NETWORKS

M = TypeVar("M", bound=nn.Module)


def _broadcast_features(h: Tensor, extra: Tensor) -> Tensor:
    """Append per-sample features ``extra`` (B, E) to ``h``: (B, F) -> (B, F+E); (B, C, H, W) -> (B, C+E, H, W)."""
    if h.dim() == 2:
        return torch.cat([h, extra], dim=1)
    maps = extra[:, :, None, None].expand(-1, -1, *h.shape[2:])  # constant maps
    return torch.cat([h, maps], dim=1)


class MinibatchStd(nn.Module):
    """Append the mean over features of the per-feature std within groups of ``group`` samples.

    Args:
        group: samples per group (Karras et al. use 4); the whole batch when the batch size is not a
            multiple of it. Input (B, F) or (B, C, H, W); output has one more feature/channel.
        spatial: on (B, C, H, W) maps, average the std over channels only, so the extra channel is a map
            s(u) = mean_c std_group(h[c, u]) of where in the image the group's samples differ (StackGAN's
            ``model.caption_groups``), not one number.
    """

    extra = 1

    def __init__(self, group: int = 4, spatial: bool = False) -> None:
        super().__init__()
        self.group = group
        self.spatial = spatial

    def forward(self, h: Tensor) -> Tensor:
        b = h.shape[0]
        g = self.group if b % self.group == 0 else b
        x = h.reshape(g, b // g, *h.shape[1:])  # sample i is in group i % (b // g), as in Karras et al.'s code
        x = x.to(torch.promote_types(x.dtype, torch.float32))  # bf16 features (autocast): the spread in float32
        # σ = sqrt(E_group[(x − μ)²] + 1e-8), μ = E_group[x]: each feature's spread, (b/g, ...). Written out, not
        # x.var(dim=0): torch's var reduces over the outer dimension with a slow generic kernel on CPU (about 6 ms
        # per call on dcgan-shapes' 64 x 128 x 4 x 4 features at one thread, most of the minibatch layer's cost)
        std = torch.sqrt((x - x.mean(dim=0)).square().mean(dim=0) + 1e-8)
        if self.spatial and h.dim() == 4:
            maps = std.mean(dim=1, keepdim=True).repeat(g, 1, 1, 1)  # (B, 1, H, W): each sample its group's map
            return torch.cat([h, maps.to(h.dtype)], dim=1)
        per_group = std.flatten(1).mean(dim=1)  # (b/g,)
        extra = per_group.repeat(g)[:, None]  # (B, 1): every sample gets its group's number
        return _broadcast_features(h, extra.to(h.dtype))


class MinibatchDiscrimination(nn.Module):
    """Salimans et al.'s minibatch discrimination on (B, F) features or flattened (B, C, H, W) maps.

    Args:
        in_features: A (for maps: C·H·W).
        kernels: B, the number of closeness features appended.
        kernel_dim: C, the dimension of each projection.
    """

    def __init__(self, in_features: int, kernels: int = 32, kernel_dim: int = 8) -> None:
        super().__init__()
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.extra = kernels
        self.twice_differentiable = False  # set by :func:`twice_differentiable` (unrolled GAN)

    def forward(self, h: Tensor) -> Tensor:
        m = (h.flatten(1) @ self.T).view(-1, self.kernels, self.kernel_dim)  # M_i: (B, kernels, C)
        if self.twice_differentiable:  # PyTorch has no second derivative of cdist: the broadcast form
            l1 = (m[None, :] - m[:, None]).abs().sum(dim=3).permute(2, 0, 1)  # (kernels, B, B)
        else:
            mk = m.transpose(0, 1).contiguous()  # (kernels, B, C)
            l1 = torch.cdist(mk, mk, p=1.0)  # ‖M_{i,b} − M_{j,b}‖₁: (kernels, B, B), 7x faster than broadcasting
        o = torch.exp(-l1).sum(dim=2).t() - 1.0  # Σ_{j≠i} c_b(x_i, x_j): (B, kernels); c_b(x_i, x_i) = 1 dropped
        return _broadcast_features(h, o)


@contextlib.contextmanager
def twice_differentiable(module: nn.Module) -> Iterator[None]:
    """Within the block, layers of ``module`` use forms whose gradient can itself be differentiated."""
    layers = [m for m in module.modules() if isinstance(m, MinibatchDiscrimination)]
    for m in layers:
        m.twice_differentiable = True
    try:
        yield
    finally:
        for m in layers:
            m.twice_differentiable = False


def _head(disc: nn.Module) -> tuple[nn.Sequential, nn.Linear | nn.Conv2d]:
    net = getattr(disc, "net", None)
    if isinstance(net, nn.Sequential) and isinstance(head := net[-1], (nn.Linear, nn.Conv2d)):
        return net, head
    raise ConfigError(
        f"discriminator.minibatch needs a discriminator whose .net ends in a Linear or Conv2d head; "
        f"{type(disc).__name__} does not"
    )


def _widened(head: nn.Linear | nn.Conv2d, extra: int) -> nn.Linear | nn.Conv2d:
    """A copy of the scoring head taking ``extra`` more input features/channels (old weights kept,
    new ones drawn with the old weights' spread)."""
    new: nn.Linear | nn.Conv2d
    if isinstance(head, nn.Linear):
        new = nn.Linear(head.in_features + extra, head.out_features, bias=head.bias is not None)
    else:
        # a Conv2d's kernel_size, stride and padding are pairs; torch types the attributes as tuple[int, ...]
        new = nn.Conv2d(head.in_channels + extra, head.out_channels, head.kernel_size,  # type: ignore[arg-type]
                        head.stride, head.padding, bias=head.bias is not None)  # type: ignore[arg-type]
    with torch.no_grad():
        w = head.weight
        new.weight.normal_(0.0, float(w.std()) if w.numel() > 1 else 0.02)
        new.weight[:, : w.shape[1]].copy_(w)
        if head.bias is not None and new.bias is not None:  # new has a bias exactly when head has one
            new.bias.copy_(head.bias)
    return new.to(w.device)


def _features_in(disc: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of one sample's input to D's head (found by running two zero samples through D)."""
    _, head = _head(disc)
    seen: list[tuple[int, ...]] = []
    hook = head.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape[1:])))
    try:
        with evaluating(disc):
            disc(torch.zeros(2, *shape, device=head.weight.device))
    finally:
        hook.remove()
    return seen[0]


def add_minibatch_layer(disc: nn.Module, kind: str, in_shape: tuple[int, ...], kernels: int = 32) -> nn.Module:
    """Insert a minibatch layer (``"std"`` or ``"discrimination"``) before D's scoring head, in place."""
    if kind == "none":
        return disc
    if kind not in MINIBATCH:
        raise ConfigError(f"discriminator.minibatch: unknown value '{kind}'; choose one of: {', '.join(MINIBATCH)}")
    net, head = _head(disc)
    layer: MinibatchStd | MinibatchDiscrimination
    if kind == "std":
        layer = MinibatchStd()
    else:
        feat = _features_in(disc, in_shape)
        layer = MinibatchDiscrimination(int(torch.Size(feat).numel()), kernels)
    disc.net = nn.Sequential(*list(net)[:-1], layer, _widened(head, layer.extra))
    return disc


def spectral_normalise(module: M) -> M:
    """Spectral normalisation on every Linear / Conv / ConvTranspose weight of ``module``, in place."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            spectral_norm(m)
    return module


def packed_shape(shape: tuple[int, ...], m: int) -> tuple[int, ...]:
    """The shape D sees when it judges ``m`` samples of ``shape`` at once: (m·D,) or (m·C, H, W)."""
    shape = tuple(int(s) for s in shape)
    return (m * shape[0], *shape[1:])


def pack(x: Tensor, m: int) -> Tensor:
    """(B, *shape) -> (B/m, m·shape[0], *shape[1:]): samples mB/m .. consecutive, concatenated."""
    if m == 1:
        return x
    b = x.shape[0]
    if b % m:
        raise ValueError(f"PacGAN packing needs a batch size divisible by model.pack = {m}, got {b}")
    return x.reshape(b // m, m * x.shape[1], *x.shape[2:])


def build_discriminator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
    """D for ``data_shape`` with the config's packing, minibatch layer and spectral normalisation."""
    m = int(getattr(cfg.model, "pack", 1))
    shape = packed_shape(tuple(data_shape), m)
    dc = cfg.discriminator
    disc = NETWORKS.get(dc.name).discriminator(dc, shape)
    add_minibatch_layer(disc, dc.minibatch, shape, dc.minibatch_kernels)
    if dc.spectral_norm:
        spectral_normalise(disc)
    return disc


__all__ = ["MINIBATCH", "MinibatchDiscrimination", "MinibatchStd", "add_minibatch_layer", "build_discriminator",
           "pack", "packed_shape", "spectral_normalise", "twice_differentiable"]
