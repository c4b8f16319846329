"""gankit: generative adversarial networks from the lectures — train, sample, evaluate, check the theory.

Importing the package fills every registry (docs/architecture.md rule 6), whatever is imported first; the theory
checks (heavy imports) are registered the first time the THEORY registry is used.
"""

from gankit import data, metrics, models, nets, objectives  # noqa: F401  (fill the registries)
from gankit.registry import DATASETS, METRICS, NETWORKS, OBJECTIVES, RECIPES, THEORY

__version__ = "0.1.0"
__all__ = ["DATASETS", "METRICS", "NETWORKS", "OBJECTIVES", "RECIPES", "THEORY", "__version__"]
