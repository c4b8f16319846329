"""Networks (registry ``NETWORKS``): plain nn.Modules, no losses and no optimisers."""

from gankit.nets import (
    dcgan,  # noqa: F401  (registers dcgan)
    laplacian,  # noqa: F401  (registers lapgan)
    mlp,  # noqa: F401  (registers mlp)
    stackgan,  # noqa: F401  (registers stackgan)
    unet,  # noqa: F401  (registers pix2pix: U-Net G, PatchGAN D)
)
from gankit.nets.mlp import NetFamily

__all__ = ["NetFamily"]
