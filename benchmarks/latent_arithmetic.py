"""DCGAN latent arithmetic on shapes (Radford et al. 2016, section 6.3): does "A − B + C" show what it predicts?

    python benchmarks/latent_arithmetic.py --train 5000 [--set KEY=VALUE ...]   # train dcgan-shapes (1 thread), measure
    python benchmarks/latent_arithmetic.py --run RUN [--trials 200] [--pool 20000] [--seed 0]

Each trial is a random triple that replaces one attribute value, e.g. big red circle − big red + big blue
(→ big blue circle): A names a kind, a colour and a size; B is A without one of them (the "kept" attribute);
C is B with one of its two attributes changed to another value; the arithmetic predicts A with that value
changed. Triples whose A or prediction is a held-out (kind, colour) pair (the generator never saw a yellow
circle, green square or blue triangle) are not drawn.

The groups come from one pool of ``--pool`` latents, each G(z) read by the shipped attribute classifier
(:mod:`gankit.arithmetic`: latents read as the group with probability >= ``--threshold``, 3 drawn at random per
group per trial). Success: the classifier reads the predicted kind, colour and size on G(mean A − mean B +
mean C). Compared with

- chance: a random z from the prior read against the same prediction (with three latents per group and
  N(0, I) draws, the arithmetic on random groups has exactly the prior's distribution);
- C alone: G(mean C), which already has the predicted size and colour (or kind): what the arithmetic adds
  is carrying A's kept attribute over.

A trial with a group that no latent of the pool shows counts as a failure (their number is printed).
Writes ``benchmarks/out/latent_arithmetic.json`` and the figure ``benchmarks/out/latent-arithmetic.png``
(the example "big red circle - big red + big blue", as ``gankit sample --arithmetic`` draws it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from gankit import api
from gankit import arithmetic as A
from gankit import config as config_mod
from gankit.data import captions as C
from gankit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
HEADS = (0, 1, 2)  # kind, colour, size (position is left free)
EXAMPLE = "big red circle - big red + big blue"


def random_triple(rng: np.random.Generator) -> tuple[list[A.Term], dict[int, int]]:
    """(terms A, B, C; the prediction) replacing one attribute value, A and the prediction seen in training."""
    sizes = [len(C.ATTRIBUTES[h][1]) for h in HEADS]
    while True:
        a = {h: int(rng.integers(n)) for h, n in zip(HEADS, sizes)}
        keep = int(rng.choice(HEADS))
        change = int(rng.choice([h for h in HEADS if h != keep]))
        new = int(rng.choice([v for v in range(sizes[change]) if v != a[change]]))
        b = {h: v for h, v in a.items() if h != keep}
        c = {**b, change: new}
        want = {**a, change: new}
        if not C.is_held_out(np.array([[a[0], a[1], 0, 0], [want[0], want[1], 0, 0]])).any():
            break
    return [A.Term(1, _name(a), a), A.Term(-1, _name(b), b), A.Term(1, _name(c), c)], want


def _name(q: dict[int, int]) -> str:
    """The words for a set of attribute values, size before colour before shape: "big red circle"."""
    return " ".join(C.ATTRIBUTES[h][1][q[h]] for h in (2, 1, 0) if h in q)


def shows(readings: np.ndarray, want: dict[int, int]) -> np.ndarray:
    return (readings[:, list(want)] == np.array(list(want.values()))).all(axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="a trained run on shapes-captions (default: train one with --train)")
    p.add_argument("--train", type=int, default=0, metavar="STEPS", help="train preset dcgan-shapes for STEPS steps")
    p.add_argument("--time-limit", type=float, default=0.0, help="minutes of training at most (train.time_limit)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for --train")
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--pool", type=int, default=20000)
    p.add_argument("--per-group", type=int, default=3)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default="/tmp/gankit-bench")
    args = p.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    record: dict[str, object] = {"args": vars(args)}
    run = args.run
    if run is None:
        if not args.train:
            p.error("give --run RUN or --train STEPS")
        cfg = config_mod.resolve("dcgan-shapes", overrides=[
            f"train.steps={args.train}", f"train.time_limit={args.time_limit}", "run.threads=1",
            "train.progress=false", f"run.seed={args.seed}", f"run.out_dir={args.out_dir}", "run.name=dcgan-shapes",
            "train.diagnostics_every=0", *args.set])
        t0 = time.perf_counter()
        run = str(api.train(cfg, overwrite=True).root)
        record["train_seconds_under_load"] = round(time.perf_counter() - t0, 1)
    net, cfg, meta = api.load_generator(run)
    record["run"], record["step"] = str(run), int(meta.get("step", 0))
    reader = A.reader_for(cfg.data.name, json.loads(meta["data_shape"]))

    gen = torch.Generator().manual_seed(args.seed)
    pool = A.draw_pool(net, reader, args.pool, gen)
    rng = np.random.default_rng(args.seed)
    hits = {"arithmetic": [], "C alone": [], "random z (chance)": []}
    per_head = {C.ATTRIBUTES[h][0]: [] for h in HEADS}
    empty = 0
    for _ in range(args.trials):
        terms, want = random_triple(rng)
        rand = net.sample_noise(1, generator=gen)
        hits["random z (chance)"].append(float(shows(A.read(reader, A.render(net, rand)), want)[0]))
        try:
            chosen = [A.select(pool, t, args.per_group, args.threshold, gen) for t in terms]
        except ConfigError:
            empty += 1
            hits["arithmetic"].append(0.0)
            hits["C alone"].append(0.0)
            continue
        means = [pool.z[c].mean(0) for c in chosen]
        z = A.combine(means, [t.sign for t in terms])
        readings = A.read(reader, A.render(net, torch.stack([z, means[2]])))
        ok = shows(readings, want)
        hits["arithmetic"].append(float(ok[0]))
        hits["C alone"].append(float(ok[1]))
        for h in HEADS:
            per_head[C.ATTRIBUTES[h][0]].append(float(readings[0, h] == want[h]))

    rows = {}
    for k, v in hits.items():
        v = np.asarray(v, dtype=np.float64)
        rows[k] = {"rate": float(v.mean()), "se": float(v.std(ddof=1) / np.sqrt(len(v)))}
    record["success"] = rows
    record["per_attribute_arithmetic"] = {k: float(np.mean(v)) if v else None for k, v in per_head.items()}
    record["trials_with_an_empty_group"] = empty
    counts = [int((A.group_probability(pool, t.query) >= args.threshold).sum())
              for t in A.parse_expression(EXAMPLE, reader)]
    record["example_group_sizes"] = dict(zip(("big red circle", "big red", "big blue"), counts))

    try:
        res = A.latent_arithmetic(net, EXAMPLE, reader, pool=min(args.pool, 5000), seed=args.seed,
                                  threshold=args.threshold)
        from gankit.viz.explore import plot_arithmetic

        labels = [f"{'+' if t.sign > 0 else '−'} {t.name}" for t in res.terms]
        plot_arithmetic(list(zip(labels, res.group_images, res.mean_images)), res.images,
                        f"= reads as\n{res.reads()}", OUT / "latent-arithmetic.png",
                        title=f"{EXAMPLE} (step {record['step']}; predicted: {res.prediction()})")
        record["example"] = {"reads": res.reads(), "predicted": res.prediction(),
                             "neighbours_showing_it": int(res.agrees()[1:].sum())}
    except ConfigError as exc:
        record["example"] = {"error": str(exc)}
    (OUT / "latent_arithmetic.json").write_text(json.dumps(record, indent=2) + "\n")

    print(f"run {run} (step {record['step']}), {args.trials} triples, pool {args.pool}, "
          f"{args.per_group} latents per group, threshold {args.threshold}; {empty} triples had an empty group")
    print("| z | reads the predicted kind, colour and size |\n|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {100 * r['rate']:.1f} % ± {100 * r['se']:.1f} |")
    print("per attribute (arithmetic):",
          {k: round(v, 3) for k, v in record["per_attribute_arithmetic"].items() if v is not None})
    print("example:", record["example"])


if __name__ == "__main__":
    main()
