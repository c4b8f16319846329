"""Objectives (registry ``OBJECTIVES``): pure functions of discriminator outputs, one file per paper."""

from gankit.objectives import minimax  # noqa: F401  (registers mmgan, nsgan)
from gankit.objectives import fgan, wasserstein  # noqa: F401
from gankit.objectives.base import Objective

__all__ = ["Objective"]
