"""``gankit train`` and ``gankit sweep``: the command line's side (the arguments, the summary printed)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from gankit.cli_eval import eval_table
from gankit.errors import ConfigError

if TYPE_CHECKING:
    from gankit.train.rundir import RunDir


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
            saved = config_mod.to_dict(config_mod.load(run.config))
            cfg = config_mod.from_dict(config_mod.apply_overrides(saved, overrides))
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


def _print_summary(run: RunDir) -> None:
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
