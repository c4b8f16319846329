"""Command line: ``gankit COMMAND`` (train, sweep, sample, translate, eval, export, serve, lab, report, theory,
data, list).

Errors a user can act on are printed as one line (``gankit: error: ...``) with exit code 2 for bad
input and 1 for failures at run time; nothing already written is lost.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Each group of subcommands lives in a module of its own (they import torch only when a command runs); their
# public names stay importable from here.
from gankit.cli_eval import cmd_eval, eval_table, metric_meanings
from gankit.cli_sample import MAX_GRID_IMAGES, MAX_PLOT_POINTS, cmd_sample, cmd_translate
from gankit.cli_serve import cmd_export, cmd_lab, cmd_report, cmd_serve
from gankit.cli_train import cmd_sweep, cmd_train
from gankit.errors import ConfigError, GankitError

__all__ = [
    "LOG_LEVELS", "MAX_GRID_IMAGES", "MAX_PLOT_POINTS", "build_parser", "cmd_data", "cmd_eval", "cmd_export",
    "cmd_lab", "cmd_list", "cmd_report", "cmd_sample", "cmd_serve", "cmd_sweep", "cmd_theory", "cmd_train",
    "cmd_translate", "eval_table", "log_level", "main", "metric_meanings", "one_line",
]

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
        raise ConfigError(f"'gankit data get' needs a data set name; choose one of: "
                          f"{', '.join([*names, 'stacked-mnist'])}")
    files = images.get_dataset_files(args.name, download=True)
    for f in files:
        print(f)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gankit.listing import lines  # a generated table: no torch import (tests/test_listing.py checks it)

    print("\n".join(lines(args.kind)))
    return 0


class _Version(argparse.Action):
    """``--version``: looks the version up only when asked (reading package metadata costs ~30 ms)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        import gankit

        print(f"gankit {gankit.__version__}")
        parser.exit()


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
    t.add_argument("items", nargs="*", metavar="[PRESET] KEY=VALUE",
                   help="preset name, then overrides like train.steps=2000")
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
    sw.add_argument("-j", "--jobs", type=int, default=0,
                    help="runs at once (default: cores / threads; ray and slurm: all, the scheduler decides)")
    sw.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1; 0: the config's)")
    sw.add_argument("-o", "--out", help="the sweep's folder (default runs/sweep-PRESET)")
    sw.add_argument("--dry-run", action="store_true",
                    help="list the runs and their status (done/partial/new), run nothing")
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
    s.add_argument("--text", help="text-to-image runs: draw every sample for this caption, "
                                  'e.g. "a big blue square at the bottom"')
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
                   help="auto-encoders and 2-D latents: the decoder over an evenly spaced lattice of codes "
                        "(-n per side)")
    s.add_argument("--codes", action="store_true",
                   help="auto-encoder runs: codes of test data (else training data) coloured by class "
                        "(-n, default 2000)")
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
    tr.add_argument("-o", "--output", required=True,
                    help="a .npy (all outputs), a .png (one input) or a folder of PNGs")
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
    e.add_argument("--range", metavar="LO,HI",
                   help="value range of array samples: -1,1 | 0,1 | 0,255 (default: detected)")
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
                    help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes the runs to the "
                         "network)")
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
    th.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: the nets are tiny; 0 keeps torch's default)")
    th.set_defaults(func=cmd_theory)

    dt = sub.add_parser("data", help="fetch built-in image data sets into the cache (~/.cache/gankit or $GANKIT_DATA)")
    dt.add_argument("action", choices=["get", "status"], help="get: download NAME; status: what the cache holds")
    dt.add_argument("name", nargs="?", help="mnist, fashion-mnist, cifar10 or stacked-mnist")
    dt.set_defaults(func=cmd_data)

    ls = sub.add_parser("list", help="list presets and registry entries")
    ls.add_argument("kind", nargs="?", choices=["all", "presets", *ALL, "extractors"],
                    help="what to list (default: all)")
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
