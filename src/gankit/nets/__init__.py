"""Networks (registry ``NETWORKS``): plain nn.Modules, no losses and no optimisers."""

from gankit.nets import mlp  # noqa: F401  (registers mlp)
from gankit.nets import dcgan  # noqa: F401  (registers dcgan)
from gankit.nets import laplacian  # noqa: F401  (registers lapgan)
from gankit.nets import stackgan  # noqa: F401  (registers stackgan)
from gankit.nets import unet  # noqa: F401  (registers pix2pix: U-Net G, PatchGAN D)
from gankit.nets.mlp import NetFamily

__all__ = ["NetFamily"]
