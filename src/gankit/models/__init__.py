"""Recipes (registry ``RECIPES``): each owns its networks, optimisers, d_step, g_step and sample."""

from gankit.models import (  # noqa: F401  (register ae, vae, aae and gan)
    autoencoder,
    cgan,  # noqa: F401  (registers cgan)
    gan,
    lapgan,  # noqa: F401  (registers lapgan)
    pix2pix,  # noqa: F401  (registers pix2pix)
    selfcond,  # noqa: F401  (registers selfcond)
    stackgan,  # noqa: F401  (registers stackgan)
)
from gankit.models.base import Recipe

__all__ = ["Recipe"]
