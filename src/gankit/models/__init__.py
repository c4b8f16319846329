"""Recipes (registry ``RECIPES``): each owns its networks, optimisers, d_step, g_step and sample."""

from gankit.models import gan  # noqa: F401  (registers gan)
from gankit.models import cgan  # noqa: F401  (registers cgan)
from gankit.models.base import Recipe

__all__ = ["Recipe"]
