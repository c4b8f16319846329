"""Command line: gankit train | sweep | sample | translate | eval | export | serve | lab | report | theory | data | list.

Errors a user can act on are printed as one line (``gankit: error: ...``) with exit code 2 for bad
input and 1 for failures at run time; nothing already written is lost.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gankit.errors import ConfigError, GankitError

if TYPE_CHECKING:
    import numpy as np


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_level(quiet: bool, verbose: bool, env: str | None) -> int:
    """-q (warnings and errors) or -v (debug) if given, else $GANKIT_LOG_LEVEL, else INFO."""
    if quiet:
        return logging.WARNING
    if verbose:
        return logging.DEBUG
    if env is None or not env.strip():
        return logging.INFO
    name = env.strip().upper()
    if name not in LOG_LEVELS:
        raise ConfigError(f"GANKIT_LOG_LEVEL='{env}' is not a log level; choose one of: {', '.join(LOG_LEVELS)}")
    return getattr(logging, name)


def _configure_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)


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
        raise ConfigError(f"output '{out}' must end in .png (a figure) or .npy (the arrays) with --interpolate/--nearest")
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
    print(f"nearest training sample, median L2 over {len(c.generated)} samples: generated {np.median(c.generated):.4g}, "
          f"{c.held_out_kind} {np.median(c.held_out):.4g} (ratio {c.ratio:.3f})")
    verdict = "no sign of copying" if c.ratio > 0.8 and c.copies < 0.05 else "the generator may be copying training data"
    print(f"{100 * c.copies:.1f} % of generated samples are closer to a training sample than 99 % of held-out ones: {verdict}")
    print(f"wrote {out}")
    return 0


def _split_positional(items: list[str]) -> tuple[str | None, list[str]]:
    """``[PRESET] KEY=VALUE ...``: a first word without '=' is the preset."""
    if items and "=" not in items[0]:
        return items[0], items[1:]
    return None, items


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from gankit import api
    from gankit import config as config_mod
    from gankit.train.distributed import env_context

    main_rank = env_context().is_main  # under torchrun rank 0 reports; the other ranks only warn
    if not main_rank:
        logging.getLogger("gankit").setLevel(logging.WARNING)
    preset, overrides = _split_positional(args.items)
    if args.preset and preset:
        raise ConfigError(f"preset given twice ('{args.preset}' and '{preset}')")
    preset = args.preset or preset
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"'{item}' is not an override; write section.key=value (e.g. train.steps=1000)")
    if args.resume:
        if preset or args.config:
            raise ConfigError("--resume continues a run with its own config; give only KEY=VALUE overrides")
        if args.dry_run:
            run = api.find_run(args.resume)
            cfg = config_mod.from_dict(config_mod.apply_overrides(config_mod.to_dict(config_mod.load(run.config)), overrides))
            print(config_mod.dump(cfg), end="")
            return 0
        with logging_redirect_tqdm():
            run = api.resume(args.resume, overrides)
    else:
        cfg = config_mod.resolve(preset, args.config, overrides)
        if args.dry_run:
            print(config_mod.dump(cfg), end="")
            return 0
        with logging_redirect_tqdm():
            run = api.train(cfg, overwrite=args.overwrite)
    if main_rank:
        _print_summary(run)
    return 0


def _print_summary(run) -> None:  # type: ignore[no-untyped-def]
    from gankit.train.stats import read_jsonl

    metrics = read_jsonl(run.metrics)
    print(f"run: {run.root}")
    from gankit.metrics.keys import reported_keys

    last = metrics[-1] if metrics else {}
    if reported_keys(last):
        floor = last.get("floor") if isinstance(last.get("floor"), dict) else None
        print(f"metrics (step {last.get('step')}):")
        print(eval_table(last, floor))
        if floor is not None:
            print(f"real vs real: {floor.get('kind')}, scored the same way (what a perfect generator would get)")
        print(f"every number, with its sample count: {run.metrics}; what each metric means: gankit list metrics")
    alarms = read_jsonl(run.alarms)
    if alarms:  # each was logged as a warning when raised
        steps = ", ".join(f"{a.get('kind')} at step {a.get('step')}" for a in alarms)
        print(f"alarms: {steps} (see {run.alarms})")
    figures = run.figures()  # every figure it wrote: classes.png, stages.png, latent-*.png too
    frames = run.sample_frames()
    if frames:
        figures.append(frames[-1][1])
    if figures:
        print("figures:")
        for p in figures:
            print(f"  {p}")
    print(f"generator: {run.generator}")


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from gankit import sweep as sweep_mod

    preset, items = _split_positional(args.items)
    if args.preset and preset:
        raise ConfigError(f"preset given twice ('{args.preset}' and '{preset}')")
    seeds = sweep_mod.parse_seeds(args.seeds, args.seed_list)
    plan = sweep_mod.plan(args.preset or preset, args.config, items, seeds, out=args.out, threads=args.threads)
    if args.dry_run:
        print(plan.describe())
        return 0
    with logging_redirect_tqdm():
        result = sweep_mod.run(plan, jobs=args.jobs, launcher=args.launcher, address=args.address,
                               options=args.slurm_option)
    print(f"summary: {result.paths['md']} (also .csv, .json, .png; every run: {result.paths['runs']})")
    print(result.table)
    if result.unfinished:
        print(f"{len(result.unfinished)} runs stopped before train.steps (train.time_limit); "
              "the same command continues them")
    if result.failed:
        print(f"gankit: {len(result.failed)} of {len(plan.runs)} runs failed: "
              f"{', '.join(r.name for r in result.failed)} (logs: <run>.log)", file=sys.stderr)
        return 1
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
        x = ae.lattice_images(net, cfg.generator.prior, side).numpy()
        if suffix == ".npy":
            _save_array(out, x)
        elif x.ndim == 4:
            from gankit.viz import save_image_grid

            save_image_grid(x, out, nrow=side)
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


MAX_GRID_IMAGES = 1024  # a .png grid of samples: 16 columns x 64 rows
MAX_PLOT_POINTS = 100_000  # a .png scatter plot of point samples


MINUS = "\u2212"


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


def eval_table(model: dict[str, float], floor: dict[str, float] | None) -> str:
    """A plain-text table: one row per metric (intervals folded in), the model beside the real-vs-real floor,
    which way is better and the unit, from each key's registered :class:`~gankit.metrics.Key`."""
    from gankit.metrics.keys import cell, floor_key, key_info, reported_keys

    header = ["metric", "model"] + (["real vs real"] if floor is not None else []) + ["better", "unit"]
    rows = []
    for k in reported_keys(model):
        info = key_info(k)
        scale = info.scale if info else 1.0
        rows.append([k, cell(model, k, scale)] + ([cell(floor, floor_key(k, floor), scale)] if floor is not None else [])
                    + ([info.direction, info.shown_unit] if info else ["", ""]))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def metric_meanings(model: dict[str, float]) -> str:
    """One line per metric of ``model`` that has a registered meaning: what it measures, how to read it."""
    from gankit.metrics.keys import base_key, key_info, reported_keys

    keys = list(dict.fromkeys(base_key(k) for k in reported_keys(model) if key_info(k)))
    width = max((len(k) for k in keys), default=0)
    return "\n".join(f"  {k.ljust(width)}  {key_info(k).meaning}" for k in keys)


def cmd_eval(args: argparse.Namespace) -> int:
    from gankit import api
    from gankit.train.progress import Announcer

    names = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if args.fake is not None:
        return _eval_outside(args, names)
    if args.run is None:
        raise ConfigError("gankit eval needs a run folder, or outside samples: --fake PATH [--real PATH | --data NAME]")
    outside = [f for f, v in (("--real", args.real), ("--data", args.data), ("--range", args.range),
                              ("--size", args.size)) if v]
    if outside:
        raise ConfigError(f"{', '.join(outside)} go with --fake PATH (outside samples); for a run's own samples "
                          f"against another reference use --fake {args.run}")
    announce = Announcer("eval", logging.getLogger("gankit").info)  # on stderr; -q silences it
    result = api.evaluate(args.run, n=args.n, metrics=names, floor=not args.no_floor, rejection=args.rejection,
                          progress=announce, extractor=args.extractor)
    announce.done()
    run = api.find_run(args.run)
    how = f", discriminator rejection sampling after {args.rejection} calibration steps" if args.rejection else ""
    print(f"{run.root} (step {result.step}, {result.samples} samples, {'EMA ' if result.ema else ''}generator{how})")
    if result.floor is not None:
        print(f"real vs real: {result.floor_kind}, scored the same way (what a perfect generator would get)")
    _print_result(result, args.output)
    print(f"recorded in {run.metrics}")
    return 0


def _print_result(result: Any, output: str | None) -> None:
    """The features line, the table, the meanings; ``output``: the result as JSON too."""
    if result.extractor:
        print(f"image features: {result.extractor}")
    print(eval_table(result.model, result.floor))
    meanings = metric_meanings(result.model)
    if meanings:
        print(f"what they measure:\n{meanings}")
    if output:
        from gankit.fileio import atomic_write_text

        atomic_write_text(Path(output), json.dumps(result.to_json(), indent=2) + "\n")
        print(f"wrote {output}")


def _eval_outside(args: argparse.Namespace, names: list[str] | None) -> int:
    """``gankit eval --fake PATH [--real PATH | --data NAME]``: score any samples against any reference."""
    from gankit import api
    from gankit.train.progress import Announcer

    if args.run is not None:
        raise ConfigError(f"give either a run ('{args.run}') or --fake PATH; a run folder may be passed as --fake")
    if args.rejection:
        raise ConfigError("--rejection scores a run's own generator: use gankit eval RUN --rejection STEPS")
    announce = Announcer("eval", logging.getLogger("gankit").info)
    result = api.evaluate_samples(args.fake, real=args.real, data=args.data, data_options=args.data_opt or [],
                                  metrics=names, extractor=args.extractor, n=args.n, floor=not args.no_floor,
                                  value_range=args.range, size=args.size, seed=args.seed, progress=announce)
    announce.done()
    print(f"fake: {result.sources[0]}")
    for line in result.sources[1:]:
        print(f"real: {line}" if not line.startswith("scored") else line)
    if result.floor is not None:
        print(f"real vs real: {result.floor_kind}, scored the same way (what a perfect generator would get)")
    if not result.model:
        print("no metric applies to these samples (gankit list metrics)")
    _print_result(result, args.output)
    return 0


def cmd_theory(args: argparse.Namespace) -> int:
    from gankit.registry import THEORY

    if args.name in (None, "list"):
        for name in THEORY.names():
            print(f"  {name:<26} {THEORY.describe(name)}")
        return 0
    names = THEORY.names() if args.name == "all" else [args.name]
    for name in names:
        THEORY.get(name)  # unknown name: one line listing the known ones
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # the checks' nets are tiny: more threads only add overhead
    out = Path(args.output)
    failed = []
    for name in names:
        report = THEORY.get(name)(out, quick=args.quick)
        path = report.save(out)
        print(report.to_markdown())
        print(f"\nresults: {path}\n")
        if not report.passed:
            failed.append(name)
    if failed:
        print(f"gankit: checks failed in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from gankit.data import images

    names = sorted(images.SOURCES)
    if args.action == "status":
        print(f"cache: {images.data_root()}  (set GANKIT_DATA to move it)")
        for name in names:
            folder, present, missing = images.cache_status(name)
            print(f"  {name:<14} {'ready' if not missing else 'missing ' + ', '.join(missing)}")
        return 0
    if not args.name:
        raise ConfigError(f"'gankit data get' needs a data set name; choose one of: {', '.join([*names, 'stacked-mnist'])}")
    files = images.get_dataset_files(args.name, download=True)
    for f in files:
        print(f)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gankit.listing import lines  # a generated table: no torch import (tests/test_listing.py checks it)

    print("\n".join(lines(args.kind)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from gankit.serve.server import is_loopback, make_server, parse_limits, url_of

    server = make_server(args.runs_dir, host=args.host, port=args.port, limits=parse_limits(args.limit))
    print(f"gankit: serving {server.RequestHandlerClass.dashboard.root} at {url_of(server)} (Ctrl-C stops)", flush=True)
    if not is_loopback(args.host):
        logging.getLogger("gankit").warning("listening on %s: anyone who can reach this machine can read these runs",
                                            args.host)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from gankit.serve.lab import make_lab_server
    from gankit.serve.server import url_of

    server = make_lab_server(args.runs_dir, host="127.0.0.1", port=args.port)
    print(f"gankit: lab at {url_of(server)} (saved runs go to {server.lab.runs_dir}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        server.lab.close()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from gankit import api
    from gankit.serve.report import write_report

    run = api.find_run(args.run)
    out = Path(args.output) if args.output else run.root / "report.html"
    size = write_report(run, out)
    print(f"wrote {out} ({size / 1e6:.2f} MB, self-contained)")
    return 0


class _Version(argparse.Action):
    """``--version``: looks the version up only when asked (reading package metadata costs ~30 ms)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        import gankit

        print(f"gankit {gankit.__version__}")
        parser.exit()


def cmd_export(args: argparse.Namespace) -> int:
    from gankit import api
    from gankit.train.tensorboard import export

    run = api.find_run(args.run)
    folder, events = export(run, Path(args.output) if args.output else None)
    print(f"wrote {events} TensorBoard events to {folder} (view: tensorboard --logdir {folder})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from gankit.registry import ALL

    p = argparse.ArgumentParser(prog="gankit", description="Generative adversarial networks from the lectures.",
                                epilog="GANKIT_LOG_LEVEL=DEBUG|INFO|WARNING|ERROR sets the default of -q/-v.")
    p.add_argument("--version", action=_Version, help="print gankit's version (the installed package's) and exit")
    verbosity = p.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug messages too")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a run (default preset: ring8)",
                       description="Train from a preset or a YAML file, with section.key=value overrides.")
    t.add_argument("items", nargs="*", metavar="[PRESET] KEY=VALUE", help="preset name, then overrides like train.steps=2000")
    t.add_argument("-p", "--preset", help="preset name (see 'gankit list presets')")
    t.add_argument("-c", "--config", help="YAML config file instead of a preset")
    t.add_argument("--resume", metavar="RUN", help="continue RUN (a run directory or a name under runs/)")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run directory of the same name")
    t.set_defaults(func=cmd_train)

    sw = sub.add_parser("sweep", help="train a preset over a grid of overrides x seeds; mean ± se tables",
                        description="Train every cell of a grid (KEY=v1,v2 arguments; [a,b] is one list value) "
                                    "once per seed, in parallel processes; a second call skips finished runs "
                                    "and resumes partial ones. Writes summary.md/.csv/.json/.png and runs.csv.")
    sw.add_argument("items", nargs="*", metavar="[PRESET] KEY=V1,V2",
                    help="preset name, then overrides: several values make an axis, one value is fixed")
    sw.add_argument("-p", "--preset", help="preset name (see 'gankit list presets')")
    sw.add_argument("-c", "--config", help="YAML config file instead of a preset")
    seeds = sw.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 (default 3)")
    seeds.add_argument("--seed-list", metavar="S1,S2", help="explicit seeds, e.g. 3,7,11")
    sw.add_argument("-j", "--jobs", type=int, default=0, help="runs at once (default: cores / threads; ray and slurm: all, the scheduler decides)")
    sw.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1; 0: the config's)")
    sw.add_argument("-o", "--out", help="the sweep's folder (default runs/sweep-PRESET)")
    sw.add_argument("--dry-run", action="store_true", help="list the runs and their status (done/partial/new), run nothing")
    sw.add_argument("--launcher", choices=["local", "ray", "slurm"], default="local",
                    help="where runs go: local processes (default), Ray tasks (gankit[ray]) or Slurm jobs through "
                         "submitit (gankit[slurm]); the folder must be on a disk every worker sees")
    sw.add_argument("--address", help="--launcher ray: the cluster (e.g. ray://head:10001; default $RAY_ADDRESS, "
                                      "else a local Ray instance)")
    sw.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                    help="--launcher slurm: a submitit parameter (repeatable), e.g. slurm_partition=gpu, "
                         "timeout_min=120 (default 1440), gpus_per_node=1")
    sw.set_defaults(func=cmd_sweep)

    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("run", help="run directory (or name under runs/)")
    s.add_argument("-n", type=int, default=0, help="number of samples (default 1000), or rows of a figure (default 8)")
    s.add_argument("-o", "--output", required=True, help="out.npy, out.csv or out.png (a figure)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--text", help='text-to-image runs: draw every sample for this caption, e.g. "a big blue square at the bottom"')
    s.add_argument("--interpolate", choices=["linear", "spherical"],
                   help="walk between random noise vectors along a line or a great circle (slerp)")
    s.add_argument("--steps", type=int, default=10, help="points along each interpolation (default 10)")
    s.add_argument("--nearest", action="store_true",
                   help="generated images beside their nearest training images, and a copy check")
    s.add_argument("--k", type=int, default=5, help="training neighbours per row with --nearest (default 5)")
    s.add_argument("--rejection", type=int, default=0, metavar="STEPS",
                   help="discriminator rejection sampling: calibrate D for STEPS steps, keep samples by p_data/p_g")
    s.add_argument("--stages", action="store_true",
                   help="a multi-stage generator's sampling stages (lapgan: coarse image, bands, sums; "
                        "stackgan: stage I, stage II), one row per sample")
    s.add_argument("--lattice", action="store_true",
                   help="auto-encoders and 2-D latents: the decoder over an evenly spaced lattice of codes (-n per side)")
    s.add_argument("--codes", action="store_true",
                   help="auto-encoder runs: codes of test data (else training data) coloured by class (-n, default 2000)")
    s.add_argument("--label", type=int, help="conditional runs: draw every sample for this class")
    s.add_argument("--per-class", action="store_true",
                   help="conditional runs: -n samples (default 8) of each class, one row per class")
    s.add_argument("--arithmetic", metavar="EXPR",
                   help='latent arithmetic (Radford et al. 2016), e.g. "big red circle - big red + big blue" '
                        '(shapes) or "7 - 1 + 3" (MNIST): groups picked by the shipped classifier, -n latents '
                        'averaged per group (default 3)')
    s.add_argument("--pool", type=int, default=2000,
                   help="--arithmetic: latents drawn and classified to find each group (default 2000)")
    s.add_argument("--threshold", type=float, default=0.9,
                   help="--arithmetic: probability the classifier must give a group to keep a latent (default 0.9)")
    s.set_defaults(func=cmd_sample)

    tr = sub.add_parser("translate", help="image-to-image runs (pix2pix): translate an image, a folder or a .npy")
    tr.add_argument("run", help="run directory or name under runs/")
    tr.add_argument("inputs", nargs="+", help="image files, folders (searched recursively) or .npy arrays")
    tr.add_argument("-o", "--output", required=True, help="a .npy (all outputs), a .png (one input) or a folder of PNGs")
    tr.add_argument("--seed", type=int, default=0, help="dropout masks (the translator's noise)")
    tr.set_defaults(func=cmd_translate)

    e = sub.add_parser("eval", help="compute metrics of a trained run (recorded in metrics.jsonl), or of any samples "
                                    "against any reference (--fake PATH)",
                       description="Score a run's generator against its data (recorded in the run's metrics.jsonl), "
                                   "or any samples against any reference: gankit eval --fake PATH [--real PATH | "
                                   "--data NAME], PATH a run folder, an .npy/.npz array or a folder of PNG/JPEG "
                                   "images. Every table has the real-vs-real floor beside the model's numbers.")
    e.add_argument("run", nargs="?", help="the run folder (or name under runs/)")
    e.add_argument("--fake", metavar="PATH", help="samples to score: a run folder, an .npy/.npz array (points (N, D), "
                   "images (N, C, H, W) or (N, H, W, C)) or a folder of PNG/JPEG images")
    e.add_argument("--real", metavar="PATH", help="with --fake: the reference samples (an array or an image folder); "
                   "split into two random halves: the reference and the floor")
    e.add_argument("--data", metavar="NAME", help="with --fake: a data set as the reference (gankit list datasets)")
    e.add_argument("--data-opt", action="append", metavar="KEY=VALUE",
                   help="a data-section option of --data, e.g. path=DIR or image_size=16 (repeatable)")
    e.add_argument("--extractor", metavar="SPEC", help="image features: a registered name (gankit list extractors), "
                   "inception:PATH[:SHA256] or torchscript:PATH[:SHA256] (default: eval.extractor, else the data "
                   "set's own; outside samples: the random embedding, keys rand_*)")
    e.add_argument("--range", metavar="LO,HI", help="value range of array samples: -1,1 | 0,1 | 0,255 (default: detected)")
    e.add_argument("--size", type=int, metavar="S", help="resize images to S x S (default: never resized)")
    e.add_argument("--seed", type=int, help="with --fake: evaluation seed (default: the run's eval.seed, else 1234)")
    e.add_argument("-o", "--output", metavar="FILE.json", help="also write the result as JSON")
    e.add_argument("-n", type=int, default=0, help="samples to score (default: eval.num_samples; --fake: all)")
    e.add_argument("--metrics", default="",
                   help="comma-separated metric names (default: the run's eval.metrics, or all that apply when empty)")
    e.add_argument("--no-floor", action="store_true", help="skip the real-vs-real reference column")
    e.add_argument("--rejection", type=int, default=0, metavar="STEPS",
                   help="score discriminator-rejection samples (D calibrated for STEPS steps) instead")
    e.set_defaults(func=cmd_eval)

    sv = sub.add_parser("serve", help="a local web dashboard of the runs in a folder (live curves, samples, toy view)",
                        description="Serve a read-only dashboard of every run under RUNS_DIR: config, curves and "
                                    "metrics that update while a run trains, sample grids with a step slider, the "
                                    "live view of 1-D/2-D runs, two runs side by side. Works offline.")
    sv.add_argument("runs_dir", nargs="?", default="runs", metavar="RUNS_DIR", help="folder of runs (default: runs/)")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes the runs to the network)")
    sv.add_argument("--port", type=int, default=8050, help="port (default 8050; 0 picks a free one)")
    sv.add_argument("--limit", action="append", default=[], metavar="NAME=MiB",
                    help="raise or lower a cap (repeatable): line=1 (a longer log line is skipped), page=4 (one "
                         "answer; a snapshot), config=1 (config.yaml), image=64 (a PNG/GIF)")
    sv.set_defaults(func=cmd_serve)

    lb = sub.add_parser("lab", help="GAN Lab in the browser: set up, train and watch a 1-D/2-D GAN live",
                        description="Serve an interactive page on 127.0.0.1: pick or draw the data, the nets, any "
                                    "objective and remedy; play, pause, step D or G alone, change learning rates, k "
                                    "and the objective while it trains; see D(x), G's push, G's manifold, D*, JS, W1 "
                                    "and the modes covered; save the experiment as a run. Works offline.")
    lb.add_argument("--port", type=int, default=8060, help="port (default 8060; 0 picks a free one)")
    lb.add_argument("--runs", dest="runs_dir", default="runs", metavar="DIR",
                    help="where 'save as run' writes run folders (default: runs/)")
    lb.set_defaults(func=cmd_lab)

    rp = sub.add_parser("report", help="one self-contained HTML file of a run (config, curves, metrics, samples)")
    rp.add_argument("run", help="run directory (or name under runs/)")
    rp.add_argument("-o", "--output", help="the HTML file (default: RUN/report.html)")
    rp.set_defaults(func=cmd_report)

    ex = sub.add_parser("export", help="replay a run's logs and sample grids into another format (TensorBoard)",
                        description="Write a run's stats.jsonl, metrics.jsonl and samples/ as TensorBoard event "
                                    "files (needs: pip install 'gankit[tensorboard]'); the run is only read.")
    ex.add_argument("format", choices=["tensorboard"], help="what to write (tensorboard: event files)")
    ex.add_argument("run", help="run directory (or name under runs/)")
    ex.add_argument("-o", "--output", help="folder of the event files (default: RUN/tensorboard)")
    ex.set_defaults(func=cmd_export)

    th = sub.add_parser("theory", help="run one of the lectures' results as a numerical check (table + figure)")
    th.add_argument("name", nargs="?", help="check name, 'all', or 'list' (default: list)")
    th.add_argument("-o", "--output", default="theory", help="folder for figures and JSON results (default: theory/)")
    th.add_argument("--quick", action="store_true", help="smaller sample sizes and shorter trainings")
    th.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the nets are tiny; 0 keeps torch's default)")
    th.set_defaults(func=cmd_theory)

    dt = sub.add_parser("data", help="fetch built-in image data sets into the cache (~/.cache/gankit or $GANKIT_DATA)")
    dt.add_argument("action", choices=["get", "status"], help="get: download NAME; status: what the cache holds")
    dt.add_argument("name", nargs="?", help="mnist, fashion-mnist, cifar10 or stacked-mnist")
    dt.set_defaults(func=cmd_data)

    ls = sub.add_parser("list", help="list presets and registry entries")
    ls.add_argument("kind", nargs="?", choices=["all", "presets", *ALL, "extractors"], help="what to list (default: all)")
    ls.set_defaults(func=cmd_list)
    return p


def one_line(exc: BaseException) -> str:
    """An OSError's message on one line (a file name may hold a newline; OSError shows it with repr)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    import os

    parser = build_parser()  # imports no torch: --help and a typo answer at once (registries fill on first use)
    args = parser.parse_args(argv)
    try:
        _configure_logging(log_level(args.quiet, args.verbose, os.environ.get("GANKIT_LOG_LEVEL")))
        return int(args.func(args) or 0)
    except GankitError as exc:  # its message is one line (control characters escaped, see errors.py)
        print(f"gankit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the file system said no (disk full, permission, name too long): one line, exit 1
        print(f"gankit: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
