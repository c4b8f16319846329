"""Recipes (registry ``RECIPES``): each owns its networks, optimisers, d_step, g_step and sample."""

from gankit.models import autoencoder, gan  # noqa: F401  (register ae, vae, aae and gan)
from gankit.models import lapgan  # noqa: F401  (registers lapgan)
from gankit.models import stackgan  # noqa: F401  (registers stackgan)
from gankit.models import cgan  # noqa: F401  (registers cgan)
from gankit.models import pix2pix  # noqa: F401  (registers pix2pix)
from gankit.models.base import Recipe

__all__ = ["Recipe"]
