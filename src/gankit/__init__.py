"""gankit: generative adversarial networks from the lectures — train, sample, evaluate, check the theory.

Importing the package is cheap (no torch): each registry imports every module that registers something on
its first look-up (docs/architecture.md rule 6), so the contents never depend on import order. The version
has one source, the project's metadata (pyproject.toml), read from the installed package when asked for.
"""

from gankit.registry import DATASETS, METRICS, NETWORKS, OBJECTIVES, RECIPES, THEORY

__all__ = ["DATASETS", "METRICS", "NETWORKS", "OBJECTIVES", "RECIPES", "THEORY", "__version__"]


def __getattr__(name: str) -> str:
    if name == "__version__":  # importlib.metadata costs ~30 ms: not on every start of the CLI
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("gankit")
        except PackageNotFoundError:  # a source tree on PYTHONPATH that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'gankit' has no attribute '{name}'")
