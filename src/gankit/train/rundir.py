"""The run directory: the only contract between training and everything downstream (docs/architecture.md).

    runs/<name>/
      .gankit-run  (marker: gankit made this folder; --overwrite deletes nothing else)
      config.yaml  stats.jsonl  metrics.jsonl  checkpoints/last.pt  generator.safetensors
      samples/step-000100.png  snapshots/step-000100.json
      diagnostics.jsonl  alarms.jsonl               (train/diagnostics.py)
      montage.png  montage.gif  curves.png  diagnostics.png   (figures written at the end of training)
      classes.png  stages.png  latent-grid.png  latent-codes.png   (the recipes' own end-of-run figures)
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from gankit.errors import ConfigError

MARKER = ".gankit-run"


class RunDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    marker = property(lambda self: self.root / MARKER)
    config = property(lambda self: self.root / "config.yaml")
    stats = property(lambda self: self.root / "stats.jsonl")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    diagnostics = property(lambda self: self.root / "diagnostics.jsonl")
    alarms = property(lambda self: self.root / "alarms.jsonl")
    checkpoint = property(lambda self: self.root / "checkpoints" / "last.pt")
    generator = property(lambda self: self.root / "generator.safetensors")
    samples = property(lambda self: self.root / "samples")
    snapshots = property(lambda self: self.root / "snapshots")
    montage_png = property(lambda self: self.root / "montage.png")
    montage_gif = property(lambda self: self.root / "montage.gif")
    curves = property(lambda self: self.root / "curves.png")
    diagnostics_png = property(lambda self: self.root / "diagnostics.png")
    classes_png = property(lambda self: self.root / "classes.png")  # conditional runs: one row per class

    def sample_path(self, step: int) -> Path:
        return self.samples / f"step-{step:06d}.png"

    def snapshot_path(self, step: int) -> Path:
        return self.snapshots / f"step-{step:06d}.json"

    def sample_frames(self) -> list[tuple[int, Path]]:
        """(step, path) of every samples/step-N.png, by step."""
        out = []
        for p in self.samples.glob("step-*.png"):
            m = re.fullmatch(r"step-(\d+)\.png", p.name)
            if m:
                out.append((int(m.group(1)), p))
        return sorted(out)

    def figures(self) -> list[Path]:
        """Every figure in the run's folder (``*.png`` and ``*.gif``, not the frames in samples/), by name:
        the one list the report, the dashboard and the end-of-training summary show, so a recipe's own
        figure (classes.png, stages.png, latent-*.png, ...) is never left out."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.suffix.lower() in (".png", ".gif") and p.is_file())

    def exists(self) -> bool:
        return self.config.exists() or self.checkpoint.exists()

    def is_gankit_run(self) -> bool:
        """The folder carries the marker gankit writes when it creates a run (or, made by a gankit from
        before the marker, both config.yaml and stats.jsonl)."""
        return self.marker.is_file() or (self.config.is_file() and self.stats.is_file())

    def mark(self) -> None:
        """Write the marker (the folder exists)."""
        from gankit.fileio import atomic_write_text

        if not self.marker.is_file():
            atomic_write_text(self.marker, "a gankit run directory: 'gankit train --overwrite' may delete it\n")

    def check_removable(self, why: str = "--overwrite") -> None:
        """Raise unless :meth:`remove` may delete the folder: missing, empty or a gankit run.

        Raises:
            ConfigError: the path is a file, a link, or a folder gankit did not make.
        """
        root = self.root
        if root.is_symlink() or (root.exists() and not root.is_dir()):
            raise ConfigError(f"refusing to delete '{root}' for {why}: it is not a folder but a "
                              f"{'link' if root.is_symlink() else 'file'}; pick another run.name or run.out_dir")
        if root.exists() and any(root.iterdir()) and not self.is_gankit_run():
            raise ConfigError(f"refusing to delete '{root}' for {why}: it is not a gankit run directory (no "
                              f"{MARKER} marker); delete it yourself or pick another run.name or run.out_dir")

    def remove(self, why: str = "--overwrite") -> None:
        """Delete the run folder, only when it is empty or a gankit run (:meth:`is_gankit_run`).

        Raises:
            ConfigError: as :meth:`check_removable`; nothing is deleted.
        """
        self.check_removable(why)
        if self.root.exists():
            shutil.rmtree(self.root)


def find_run(name: str | Path, out_dir: str = "runs") -> RunDir:
    """A run directory given as a path or as a name under ``out_dir``."""
    for candidate in (Path(name), Path(out_dir) / str(name)):
        if (candidate / "config.yaml").is_file():
            return RunDir(candidate)
    raise ConfigError(f"no run at '{name}' (expected a directory with config.yaml, e.g. runs/ring8)")
