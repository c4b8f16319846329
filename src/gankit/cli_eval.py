"""``gankit eval``: score a run, or any samples against any reference, and print the table of results."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from gankit.errors import ConfigError


def eval_table(model: dict[str, float], floor: dict[str, float] | None) -> str:
    """A plain-text table: one row per metric (intervals folded in), the model beside the real-vs-real floor,
    which way is better and the unit, from each key's registered :class:`~gankit.metrics.Key`."""
    from gankit.metrics.keys import cell, floor_key, key_info, reported_keys

    header = ["metric", "model"] + (["real vs real"] if floor is not None else []) + ["better", "unit"]
    rows = []
    for k in reported_keys(model):
        info = key_info(k)
        scale = info.scale if info else 1.0
        rows.append([k, cell(model, k, scale)]
                    + ([cell(floor, floor_key(k, floor), scale)] if floor is not None else [])
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
    return "\n".join(f"  {k.ljust(width)}  {info.meaning if (info := key_info(k)) else ''}" for k in keys)


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
    sources = result.sources or []  # evaluate_samples says what it read, one line each
    print(f"fake: {sources[0]}")
    for line in sources[1:]:
        print(f"real: {line}" if not line.startswith("scored") else line)
    if result.floor is not None:
        print(f"real vs real: {result.floor_kind}, scored the same way (what a perfect generator would get)")
    if not result.model:
        print("no metric applies to these samples (gankit list metrics)")
    _print_result(result, args.output)
    return 0
