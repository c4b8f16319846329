"""StackGAN on shapes-captions: how often do generated images match their captions, seen vs held-out?

    python benchmarks/stackgan.py [--steps 600] [--minutes 0] [--width 16] [--batch 32] [--seed 0] [--pretrain 0]
                                  [--set KEY=VALUE ...] [--tag NAME] [--more N] [--eval-only] [--fit-prior T ...]

1. Text encoder: the shipped char-CNN-RNN (pretrained by ``benchmarks/pretrain_text_encoder.py``, 800
   contrastive steps on the training captions); ``--pretrain N`` pretrains a fresh one for N steps here
   first and trains on it instead.
2. Trains the ``stackgan-shapes`` preset (stage I 16 px + stage II 32 px, jointly) for ``--steps``
   generator steps on one thread, with ``--width`` for G and D and batches of ``--batch``.
3. For every seen combination (162) and every held-out (kind, colour) combination (54), draws images from
   random captions of the grammar (``--per-combo`` each, the same captions for both stages) and reads
   them with the shipped attribute classifier: "match" = all four attributes (kind, colour, size,
   position) as the caption says; also per attribute. Stage I's 16 px images are read after bilinear
   up-sampling to 32 px. The same on real rendered images is the ceiling; chance for "match" is
   1/216 = 0.46 % (1/3, 1/4, 1/2, 1/9 per attribute).

4. Captions that leave an attribute open ("a red circle at the top": no size; "a big red circle": no
   position), 20 images each: the entropy of the classifier's reading of the open attribute (mean over
   captions, nats) against the same on 20 real renders of each caption (the open attribute uniform, as in
   the data; at most ln 2, ln 9), and how often the three named attributes read right. ``--set
   data.open_captions=3 --pretrain 800`` adds 3 training captions per image that leave the size, the
   position or both unsaid (to teach an unsaid word to mean "any"), with a text encoder pretrained on them.

5. ``--fit-prior T [T ...]``: the same measurements through a caption prior (``model.caption_prior``) at each
   sampling temperature T (1: the fitted mixture; 0: its component means), on every caption and on open ones
   only (``model.caption_prior_on``), and where its draws land on the
   text side alone (each φ̂ read as the combination whose plainest caption embeds nearest: no classifier). A
   run trained with ``--set model.caption_prior=true`` uses its own prior; any other run gets one fitted on top
   of it now, as the recipe fits it before training (G and D train alike with or without one, so this is the
   same model): ``--eval-only --fit-prior 1 0`` measures a default run trained before without retraining it.
   Also writes ``benchmarks/out/stackgan-open-captions[-TAG].png`` (open captions without, then with, the prior).

Variants: ``--set model.augment=false`` (the conditioning-augmentation ablation), ``--set
model.condition=concat`` (StackGAN's own D), ``--minutes M`` for equal wall-time budgets, ``--more N``: after
the measurement at ``--steps``, resume the same run for N more steps and measure again (two step counts, one
training; the JSON's "later").

Writes ``benchmarks/out/stackgan[-TAG].json``, a figure of samples for a few seen and held-out captions
(``benchmarks/out/stackgan-captions.png``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit import api
from gankit import config as config_mod
from gankit.data import build_dataset
from gankit.data import captions as C
from gankit.metrics.captions import (
    caption_match_rate,
    load_attribute_classifier,
    open_attribute_entropy,
    open_caption,
    reading_entropy,
    real_match_rate,
)
from gankit.models.stackgan import fit_caption_prior, new_caption_prior
from gankit.nets.laplacian import upsample
from gankit.nets.text import save_text_encoder
from gankit.pretrain import pretrain_text_encoder  # at the top: a moved function fails the import test, not a run

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
FIGURE_CAPTIONS = ("a big blue square at the bottom", "a small red circle at the top left",
                   "there is a large green triangle in the middle", "a big yellow circle at the top",
                   "a small green square on the right", "a large blue triangle at the bottom left")
OPEN_FIGURE_CAPTIONS = ("a red circle at the top", "a blue square on the left", "a big green triangle",
                        "a small yellow square")  # the size, the position left out


class StageI(nn.Module):
    """A StackGAN generator's stage-I image, up-sampled to the data's side (for the classifier)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def sample_noise(self, *args: object, **kw: object) -> torch.Tensor:
        return self.net.sample_noise(*args, **kw)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        low = self.net.outputs(latent)["low"]
        return upsample(low)  # as stage II's residual path up-samples it


def _steps_done(root: Path) -> int:
    lines = (root / "stats.jsonl").read_text().splitlines()
    return int(json.loads(lines[-1])["step"]) if lines else 0


def measure(net: nn.Module, per_combo: int, clf: nn.Module, record: dict[str, object]) -> None:
    """Match rates of a generator (both stages, seen and held-out) and the open-attribute spread into
    ``record`` ("rates", "open"), all drawn as the generator samples (through its caption prior when it has
    one); prints them as a markdown table."""
    rows = {}
    for name, combos in (("seen", C.seen_combinations()), ("held-out", C.held_out_combinations())):
        rows[f"real {name}"] = real_match_rate(combos, per_combo, seed=11, classifier=clf)
        rows[f"stage I (16 px) {name}"] = caption_match_rate(StageI(net).eval(), combos, per_combo, seed=12,
                                                             classifier=clf)
        rows[f"stage II (32 px) {name}"] = caption_match_rate(net, combos, per_combo, seed=12, classifier=clf)
    record["rates"] = rows
    # captions that leave size or position open: the samples' spread of the open attribute (entropy of the
    # classifier's readings, nats) against the data's (uniform: ln 2, ln 9)
    opened = {a: open_attribute_entropy(net, C.seen_combinations(), a, per_caption=20, seed=13, classifier=clf)
              for a in ("size", "position")}
    for a, r in opened.items():  # the same captions' real renders, 20 each, read by the same classifier
        r["real"] = open_attribute_entropy(None, C.seen_combinations(), a, per_caption=20, seed=13,
                                           classifier=clf)["entropy"]
    record["open"] = opened
    keys = ["match", *(a for a, _ in C.ATTRIBUTES)]
    print("| images | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{100 * r[k]:.1f} %" for k in keys) + " |")
    for a, r in opened.items():
        print(f"captions without {a}: entropy of the {a} read {r['entropy']:.2f} nats (real renders of the same "
              f"captions: {r['real']:.2f}; uniform: {r['max']:.2f}), the other three right {100 * r['match']:.1f} %")


def canonical_caption(attrs: np.ndarray) -> str:
    """The grammar's plainest full caption of (kind, colour, size, position) indices: "a big red circle at the top"."""
    k, c, s, p = (names[int(i)] for (_, names), i in zip(C.ATTRIBUTES, attrs, strict=True))
    return f"a {s} {c} {k} {C.where_phrase(p)}"


@torch.no_grad()
def prior_reading(net: Any, per_caption: int = 20, seed: int = 14) -> dict[str, float]:
    """Where the caption prior's draws land, on the text side alone (no image, no classifier): each draw φ̂ is
    read as the combination whose plainest caption embeds nearest (cosine). For the open captions of the seen
    combinations (as :func:`open_attribute_entropy` draws them): the entropy of the open attribute so read
    (nats) and how often the three named ones are kept; for full captions: how often a draw stays the caption's
    own combination (seen and held-out)."""
    combos = C.all_combinations()
    anchors = F.normalize(net.encode(C.tokenize([canonical_caption(c) for c in combos])), dim=1)
    gen = torch.Generator().manual_seed(seed)

    def read(text: str) -> np.ndarray:
        tokens = C.tokenize(text).expand(per_caption, -1)
        phi = net.encode(tokens)
        return combos[(F.normalize(net.complete(phi, gen, tokens), dim=1) @ anchors.T).argmax(dim=1).numpy()]

    out: dict[str, float] = {}
    names = [name for name, _ in C.ATTRIBUTES]
    for a in ("size", "position"):
        k = names.index(a)
        named = [j for j in range(4) if j != k]
        entropies, kept = [], []
        for row in np.unique(C.seen_combinations()[:, named], axis=0):
            attrs = np.zeros(4, dtype=np.int64)
            attrs[named] = row
            got = read(open_caption(attrs, a))
            entropies.append(reading_entropy(torch.from_numpy(got[:, k]), len(C.ATTRIBUTES[k][1])))
            kept.append(float((got[:, named] == row).all(axis=1).mean()))
        out[f"open {a} entropy"], out[f"open {a} named kept"] = float(np.mean(entropies)), float(np.mean(kept))
    for name, rows in (("seen", C.seen_combinations()), ("held-out", C.held_out_combinations())):
        out[f"full {name} kept"] = float(np.mean([(read(canonical_caption(r)) == r).all(axis=1).mean()
                                                  for r in rows]))
    return out


def with_prior(net: Any, cfg: Any, temperatures: list[float], per_combo: int, clf: nn.Module
               ) -> dict[str, object]:
    """The generator measured through a caption prior at each sampling temperature, on every caption and on open
    captions only (``model.caption_prior_on``): its own prior when it was trained with
    ``model.caption_prior=true``, else one fitted on top of it now, exactly as the recipe fits it before
    training (same data, encoder, seed and steps; G and D train alike with and without one)."""
    out: dict[str, object] = {}
    if net.caption_prior is None:
        t0 = time.time()
        m = cfg.model
        net.attach_prior(new_caption_prior(m.caption_prior_components, cfg.run.seed))
        nll = fit_caption_prior(net, build_dataset(cfg.data), m.caption_prior_steps, cfg.run.seed)
        out["fit"] = {"seconds_under_load": round(time.time() - t0, 1), "steps": len(nll),
                      "first_nll": float(np.mean(nll[:20])), "final_nll": float(np.mean(nll[-50:])),
                      "components": m.caption_prior_components}
        print(f"fitted a caption prior on top: {out['fit']}")
    gate = float(net.prior_open_only)
    for on in ("all", "open"):
        net.prior_open_only.fill_(float(on == "open"))
        for t in temperatures:
            net.caption_prior.temperature = t
            rec: dict[str, object] = {"text": prior_reading(net)}
            print(f"caption prior on {on} captions, temperature {t:g}: text-side reading {rec['text']}")
            measure(net, per_combo, clf, rec)
            out[f"on {on}, temperature {t:g}"] = rec
    net.prior_open_only.fill_(gate)
    net.caption_prior.temperature = 1.0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--minutes", type=float, default=0.0,
                   help="wall-time budget of training (train.time_limit); 0: none")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config overrides (a variant: model.condition=acgan, model.augment=false, ...)")
    p.add_argument("--tag", default="", help="names the run and benchmarks/out/stackgan[-TAG].json")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-combo", type=int, default=10)
    p.add_argument("--pretrain", type=int, default=0, help="pretrain a fresh text encoder for this many steps first")
    p.add_argument("--out-dir", default="/tmp/gankit-bench")
    p.add_argument("--eval-only", action="store_true", help="measure the run trained before, do not train")
    p.add_argument("--more", type=int, default=0,
                   help="after measuring at --steps, resume the run for this many more steps and measure again")
    p.add_argument("--fit-prior", type=float, nargs="+", default=None, metavar="T",
                   help="after measuring the run's generator, measure it again through a caption prior at each "
                        "sampling temperature T (1: the fitted mixture, 0: its component means): its own "
                        "(model.caption_prior=true), or one fitted on top of it now as training would fit it")
    args = p.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    overrides = [f"train.steps={args.steps}", f"generator.width={args.width}", f"discriminator.width={args.width}",
                 f"data.batch_size={args.batch}", f"run.seed={args.seed}", "run.threads=1", "train.progress=false",
                 f"train.sample_every={max(args.steps // 4, 1)}", f"train.checkpoint_every={args.steps}",
                 f"run.out_dir={args.out_dir}", f"run.name=stackgan-{args.tag or 'run'}-s{args.seed}",
                 f"train.time_limit={args.minutes}", *args.set]
    record: dict[str, object] = {"args": vars(args)}
    if args.pretrain:
        t0 = time.time()
        opened = config_mod.resolve("stackgan-shapes", overrides=overrides).data.open_captions  # the run's captions
        enc, _, losses = pretrain_text_encoder(C.shapes_captions_dataset("train", 32, open_captions=opened),
                                               steps=args.pretrain, seed=args.seed)
        path = Path(args.out_dir) / f"text-encoder-s{args.seed}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_text_encoder(enc, path)
        overrides.append(f"model.text_encoder={path}")
        record["pretrain"] = {"steps": args.pretrain, "seconds": round(time.time() - t0, 1),
                              "final_loss": float(np.mean(losses[-50:]))}
        print(f"pretrained the text encoder: {args.pretrain} steps, loss {record['pretrain']['final_loss']:.3f}")
    cfg = config_mod.resolve("stackgan-shapes", overrides=overrides)
    if args.eval_only:
        run = api.run_dir_for(cfg)
    else:
        t0 = time.time()
        run = api.train(cfg, overwrite=True)
        seconds = time.time() - t0
        record["train_seconds_under_load"] = round(seconds, 1)
        done = _steps_done(run.root)
        record["steps_done"] = done
        print(f"trained {done} steps in {seconds:.0f} s ({done / seconds:.2f} steps/s under load)")

    clf = load_attribute_classifier()
    net = api.load_generator(run.root)[0]
    measure(net, args.per_combo, clf, record)
    if args.fit_prior:
        record["prior"] = with_prior(net, cfg, args.fit_prior, args.per_combo, clf)
    if args.more and not args.eval_only:
        t0 = time.time()
        total = args.steps + args.more
        api.resume(run.root, [f"train.steps={total}", f"train.checkpoint_every={total}"])
        later: dict[str, object] = {"train_seconds_under_load": round(time.time() - t0, 1),
                                    "steps_done": _steps_done(run.root)}
        print(f"resumed to {later['steps_done']} steps in {later['train_seconds_under_load']:.0f} s")
        net = api.load_generator(run.root)[0]
        measure(net, args.per_combo, clf, later)
        record["later"] = later
    (OUT / f"stackgan{'-' + args.tag if args.tag else ''}.json").write_text(json.dumps(record, indent=2) + "\n")

    from gankit.viz import save_image_grid

    gen = torch.Generator().manual_seed(3)
    net.eval()  # batch norm with running statistics: 8 samples of one caption are no batch to normalise
    with torch.no_grad():
        grid = torch.cat([net(net.sample_noise(8, generator=gen, text=t)) for t in FIGURE_CAPTIONS])
    save_image_grid(grid.numpy(), OUT / "stackgan-captions.png", nrow=8)
    print(f"rows of {OUT / 'stackgan-captions.png'}: " + "; ".join(FIGURE_CAPTIONS))
    if getattr(net, "caption_prior", None) is not None:  # open captions without, then with the prior
        path = OUT / f"stackgan-open-captions{'-' + args.tag if args.tag else ''}.png"
        with torch.no_grad():
            grid = torch.cat([net(net.sample_noise(8, generator=torch.Generator().manual_seed(3), text=t,
                                                   through_prior=through))
                              for through in (False, True) for t in OPEN_FIGURE_CAPTIONS])
        save_image_grid(grid.numpy(), path, nrow=8)
        print(f"rows of {path}: " + "; ".join(OPEN_FIGURE_CAPTIONS) + ", without the caption prior, then with it")


if __name__ == "__main__":
    main()
