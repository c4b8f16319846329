"""Pretrain gankit's character-level CNN-RNN text encoder with the contrastive matching loss.

    python benchmarks/pretrain_text_encoder.py [--steps 1500] [--seed 0]            # the shipped weights
    python benchmarks/pretrain_text_encoder.py --folder DIR --out enc.safetensors    # your caption folder

Trains :class:`gankit.nets.text.CharCNNRNN` against an image encoder with
:func:`gankit.nets.text.contrastive_loss` (Adam 2e-3, batches of 64 pairs, one thread). On the
``shapes-captions`` training split (the default, with its open captions: ``--open-captions``) it then
measures caption -> image retrieval: for every one of the 216 attribute combinations, one caption of the
grammar against a gallery of one rendered image per combination (chance 1/216), separately for seen and
held-out (kind, colour) combinations, and for captions that leave out the size or the position, and writes
``src/gankit/nets/weights/text_encoder.safetensors`` with its sha256 beside it (the recipe ``stackgan``
loads them when ``model.text_encoder`` is empty). With ``--folder`` it trains on your images and captions
(``caption-folder``) and writes ``--out``; give that file to ``model.text_encoder``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gankit.data import captions as C
from gankit.nets.text import SHA_FILE, WEIGHTS_FILE, save_text_encoder
from gankit.pretrain import pretrain_text_encoder

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = ROOT / "src" / "gankit" / "nets" / "weights"


@torch.no_grad()
def retrieval(text_net: torch.nn.Module, image_net: torch.nn.Module, seed: int = 5) -> dict[str, float]:
    """Top-1 caption -> image retrieval over one image per combination, seen and held-out; and for captions that
    leave the size / the position out ("open_size", "open_position", seen combinations), a hit is any image
    with the three attributes the caption names."""
    combos = C.all_combinations()
    rng = np.random.default_rng(seed)
    gallery = torch.from_numpy(C.render(combos, 32, seed)).float() / 127.5 - 1
    v = F.normalize(image_net(gallery), dim=1)
    held = C.is_held_out(combos)
    out = {}
    for name, omit in (("", ()), ("open_size", ("size",)), ("open_position", ("position",))):
        t = F.normalize(text_net(C.tokenize([C.caption(a, rng, omit) for a in combos])), dim=1)
        best = combos[(t @ v.T).argmax(1).numpy()]
        keep = [k for k, (a, _) in enumerate(C.ATTRIBUTES) if a not in omit]
        hit = (best[:, keep] == combos[:, keep]).all(axis=1)
        if name:
            out[name] = float(hit[~held].mean())
        else:
            out.update(seen=float(hit[~held].mean()), held_out=float(hit[held].mean()))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folder", help="a caption folder (image + same-name .txt) instead of shapes-captions")
    p.add_argument("--size", type=int, default=32, help="image side for --folder (default 32)")
    p.add_argument("--out", help="where to write the weights (default: the shipped file, shapes-captions only)")
    p.add_argument("--open-captions", type=int, default=C.OPEN_CAPTIONS,
                   help="shapes-captions: captions per image that omit size and/or position (data.open_captions)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.folder:
        if not args.out:
            p.error("--folder needs --out (the shipped weights are for shapes-captions)")
        data = C.read_caption_folder(args.folder, args.size, 3)
    else:
        data = C.shapes_captions_dataset("train", 32, open_captions=args.open_captions)
    t0 = time.time()
    text, image, losses = pretrain_text_encoder(data, steps=args.steps, seed=args.seed, log_every=250)
    print(f"{args.steps} steps in {time.time() - t0:.0f} s; final loss {np.mean(losses[-50:]):.4f}")
    if not args.folder:
        r = retrieval(text, image)
        print(f"caption -> image top-1 retrieval among 216 combinations: seen {100 * r['seen']:.1f} %, "
              f"held-out {100 * r['held_out']:.1f} % (chance 0.5 %); captions without the size "
              f"{100 * r['open_size']:.1f} %, without the position {100 * r['open_position']:.1f} % (chance 0.9, "
              "4.2 %)")
    out = Path(args.out) if args.out else WEIGHTS_DIR / WEIGHTS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    sha = save_text_encoder(text, out)
    if not args.out:
        (WEIGHTS_DIR / SHA_FILE).write_text(f"{sha}  {WEIGHTS_FILE}\n")
    print(f"wrote {out} (sha256 {sha})")


if __name__ == "__main__":
    main()
