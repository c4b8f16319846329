"""``gankit sample`` and ``gankit translate``: samples, and the figures drawn from a trained run (grids,
interpolations, nearest neighbours, latent lattices and codes, per-class rows, latent arithmetic, stages)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gankit.errors import ConfigError, GankitError

if TYPE_CHECKING:
    import numpy as np


MAX_GRID_IMAGES = 1024  # a .png grid of samples: 16 columns x 64 rows
MAX_PLOT_POINTS = 100_000  # a .png scatter plot of point samples
MINUS = "\u2212"


def _save_array(out: Path, x: np.ndarray) -> None:
    """``x`` as .npy or .csv (rows of numbers), written atomically: a full disk keeps any old file."""
    import io

    import numpy as np

    from gankit.fileio import atomic_write_bytes

    buf = io.BytesIO()
    if out.suffix.lower() == ".csv":
        np.savetxt(buf, x.reshape(len(x), -1), delimiter=",", fmt="%.6g")
    else:
        np.save(buf, x)
    atomic_write_bytes(out, buf.getvalue())


def _sample_figure(args: argparse.Namespace, out: Path, suffix: str) -> int:
    """``gankit sample --interpolate MODE`` and ``--nearest``: a figure (.png) or the arrays (.npy)."""
    import numpy as np

    from gankit import api

    if args.interpolate and args.nearest:
        raise ConfigError("choose one of --interpolate and --nearest")
    if suffix == ".csv":
        raise ConfigError(f"output '{out}' must end in .png (a figure) or .npy (the arrays) with "
                          "--interpolate/--nearest")
    rows = args.n or 8
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.interpolate:
        paths = api.interpolate(args.run, rows=rows, steps=args.steps, mode=args.interpolate, seed=args.seed)
        if suffix == ".npy":
            _save_array(out, paths)
        else:
            from gankit.viz.explore import plot_interpolations

            real = None
            if paths.ndim == 3:
                from gankit.data import build_dataset

                _, cfg, _ = api.load_generator(args.run)
                real = api.reference_sample(build_dataset(cfg.data), 2000, args.seed).numpy()
            plot_interpolations(paths, out, real=real, title=f"{args.interpolate} interpolation in z, {args.run}")
        print(f"wrote {rows} {args.interpolate} interpolations of {args.steps} steps to {out}")
        return 0
    nn = api.nearest(args.run, rows=rows, k=args.k, seed=args.seed)
    c = nn.check
    if suffix == ".npy":
        _save_array(out, nn.neighbours)
    elif nn.generated.ndim == 4:
        from gankit.viz.explore import plot_nearest

        plot_nearest(nn.generated, nn.neighbours, nn.distances, out,
                     title=f"nearest training images (L2 in [-1, 1] pixels); median distance: generated "
                           f"{np.median(c.generated):.2f}, {c.held_out_kind} {np.median(c.held_out):.2f}")
    else:
        raise ConfigError("the nearest-neighbour figure is for images; use -o FILE.npy for point data")
    print(f"nearest training sample, median L2 over {len(c.generated)} samples: generated "
          f"{np.median(c.generated):.4g}, {c.held_out_kind} {np.median(c.held_out):.4g} (ratio {c.ratio:.3f})")
    verdict = ("no sign of copying" if c.ratio > 0.8 and c.copies < 0.05
               else "the generator may be copying training data")
    print(f"{100 * c.copies:.1f} % of generated samples are closer to a training sample than 99 % of held-out "
          f"ones: {verdict}")
    print(f"wrote {out}")
    return 0


def _latent_figure(args: argparse.Namespace, out: Path, suffix: str) -> int:
    """``gankit sample --lattice`` (decoder over a lattice of 2-D codes) and ``--codes`` (auto-encoder runs)."""
    from gankit import api
    from gankit.models import autoencoder as ae

    if sum(map(bool, (args.lattice, args.codes, args.interpolate, args.nearest))) > 1:
        raise ConfigError("choose one of --lattice, --codes, --interpolate and --nearest")
    if suffix not in (".png", ".npy"):
        raise ConfigError(f"output '{out}' must end in .png (a figure) or .npy (the arrays) with --lattice/--codes")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.lattice:
        net, cfg, _ = api.load_generator(args.run)
        side = args.n or 20
        grid = ae.lattice_images(net, cfg.generator.prior, side).numpy()
        if suffix == ".npy":
            _save_array(out, grid)
        elif grid.ndim == 4:
            from gankit.viz import save_image_grid

            save_image_grid(grid, out, nrow=side)
        else:
            raise ConfigError("the lattice figure is for images; use -o FILE.npy for point data")
        print(f"wrote the decoder on a {side}x{side} lattice of codes ({cfg.generator.prior} prior) to {out}")
        return 0
    recipe, cfg, dataset = ae.load_recipe(args.run)
    held, classes = ae.labelled_sample(cfg, dataset, args.n or 2000, args.seed)
    if suffix == ".npy":
        _save_array(out, recipe.encode(held).numpy())
    else:
        ae.plot_recipe_codes(recipe, held, classes, out, str(args.run), args.seed + 1)
    print(f"wrote the codes of {len(held)} held-out samples to {out}")
    return 0


def _per_class(args: argparse.Namespace, out: Path, suffix: str) -> int:
    """``gankit sample --per-class``: a conditional run's samples, one row per class (.png) or (K, n, ...) .npy."""
    from gankit import api

    if suffix == ".csv":
        raise ConfigError("--per-class writes a figure (.png) or an array (.npy), not .csv")
    x = api.per_class(args.run, args.n or 8, seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        _save_array(out, x)
    elif x.ndim == 5:  # (K, n, C, H, W) images: one labelled row per class
        from gankit.viz.images import save_class_grid

        save_class_grid(x, out)
    else:
        raise ConfigError("--per-class figures need image data; write the samples to .npy instead")
    print(f"wrote {x.shape[1]} samples of each of {x.shape[0]} classes to {out}")
    return 0


def _arithmetic(args: argparse.Namespace, out: Path, suffix: str) -> int:
    """``gankit sample --arithmetic "A - B + C"``: the groups and the result's neighbourhood (.png), or the
    result and its neighbourhood (.npy)."""
    from gankit import api

    others = [f for f in ("interpolate", "nearest", "stages", "lattice", "codes", "per_class", "text", "label",
                          "rejection") if getattr(args, f, None) not in (None, False, 0)]
    if others:
        raise ConfigError(f"--arithmetic cannot be combined with --{others[0].replace('_', '-')}")
    if suffix == ".csv":
        raise ConfigError(f"output '{out}' must end in .png (a figure) or .npy (the result's images) with --arithmetic")
    res = api.latent_arithmetic(args.run, args.arithmetic, pool=args.pool, per_group=args.n or 3,
                                threshold=args.threshold, seed=args.seed)
    hit = ""
    if res.predicted:
        agree = res.agrees()
        hit = (f"; the arithmetic predicts '{res.prediction()}': the result {'shows' if agree[0] else 'does not show'} "
               f"it, {int(agree[1:].sum())} of {len(agree) - 1} neighbours do")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        _save_array(out, res.images)
    else:
        from gankit.viz.explore import plot_arithmetic

        rows = [(f"{'+' if t.sign > 0 else MINUS} {t.name}\n({s} of {args.pool} read so)", g, m)
                for t, s, g, m in zip(res.terms, res.group_sizes, res.group_images, res.mean_images)]
        plot_arithmetic(rows, res.images, f"= reads as\n{res.reads()}", out,
                        title=f"{args.arithmetic}  ({args.run}; groups picked by the {res.reader.name} classifier)")
    print(f"wrote the latent arithmetic '{args.arithmetic}' to {out}: the result reads as '{res.reads()}'{hit}")
    return 0


def _translations(args: argparse.Namespace, out: Path) -> int:
    """``gankit sample RUN -o x.png`` for an image-to-image run: input | output | target of held-out pairs."""
    from gankit import api
    from gankit.viz.stages import plot_stages

    rows = args.n or 8
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_stages(api.translation_triples(args.run, rows, args.seed), out, title=f"held-out pairs, {args.run}")
    print(f"wrote input | output | target of {rows} held-out pairs to {out}")
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from gankit import api

    paths = api.translate(args.run, args.inputs, args.output, seed=args.seed)
    print(f"wrote {len(paths)} file(s) to {args.output}" if len(paths) > 1 else f"wrote {paths[0]}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from gankit import api

    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".npy", ".csv", ".png"):
        raise ConfigError(f"output '{out}' must end in .npy, .csv or .png")
    if args.arithmetic is not None:
        return _arithmetic(args, out, suffix)
    if args.stages:
        if args.interpolate or args.nearest or suffix != ".png":
            raise ConfigError("--stages writes a figure: give -o NAME.png and neither --interpolate nor --nearest")
        from gankit.viz.stages import plot_stages

        rows = args.n or 8
        out.parent.mkdir(parents=True, exist_ok=True)
        plot_stages(api.stages(args.run, rows, args.seed, text=args.text), out,
                    title=f"coarse-to-fine sampling, {args.run}" + (f": '{args.text}'" if args.text else ""))
        print(f"wrote the sampling stages of {rows} samples to {out}")
        return 0
    ignored = [flag for flag, on in (("--interpolate", args.interpolate), ("--nearest", args.nearest),
                                     ("--lattice", args.lattice), ("--codes", args.codes),
                                     ("--per-class", args.per_class)) if on]
    if args.text is not None and ignored:  # they draw their own latents: the caption would be silently dropped
        raise ConfigError(f"--text draws samples for a caption; it cannot be combined with {' or '.join(ignored)}")
    if args.lattice or args.codes:
        return _latent_figure(args, out, suffix)
    if args.interpolate or args.nearest:
        return _sample_figure(args, out, suffix)
    if args.per_class:
        return _per_class(args, out, suffix)
    if suffix == ".png" and args.label is None and not args.rejection and api.is_translator(args.run):
        return _translations(args, out)
    n = args.n or 1000
    if suffix in (".npy", ".csv") and not args.rejection:  # streamed to disk: any n the disk holds
        api.sample_to_file(args.run, n, out, seed=args.seed, text=args.text, labels=args.label)
        print(f"wrote {n} samples to {out}")
        return 0
    if suffix in (".npy", ".csv"):
        x = api.sample(args.run, n, seed=args.seed, rejection=args.rejection, text=args.text, labels=args.label)
        _save_array(out, x)
        print(f"wrote {len(x)} samples to {out}")
        return 0
    loaded = api.load_generator(args.run)
    images = len(api.data_shape(loaded[2])) == 3
    shown = min(n, MAX_GRID_IMAGES if images else MAX_PLOT_POINTS)
    x = api.sample(args.run, shown, seed=args.seed, rejection=args.rejection, text=args.text, labels=args.label,
                   loaded=loaded)
    out.parent.mkdir(parents=True, exist_ok=True)
    if images:  # a grid
        from gankit.viz import save_image_grid

        save_image_grid(x, out, nrow=None)  # about square, few empty cells (8 -> 2 x 4)
    else:
        from gankit.data import build_dataset
        from gankit.viz import plot_points

        real = None
        try:
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(args.seed)
                real = build_dataset(loaded[1].data).sample(min(shown, 2000)).numpy()
        except GankitError:
            pass  # e.g. the user's point file moved: plot the samples alone
        plot_points(x.reshape(len(x), -1), out, real=real, title=f"{shown} samples from {args.run}")
    capped = f" (a .png shows at most {shown}; -o FILE.npy writes all {n})" if shown < n else ""
    print(f"wrote {len(x)} samples to {out}{capped}")
    return 0
