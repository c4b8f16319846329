"""Train gankit's shipped shapes-captions attribute classifier (kind, colour, size, position).

    python benchmarks/train_shapes_classifier.py [--steps 1500] [--seed 0]

Trains :class:`gankit.metrics.captions.AttributeNet` on 20,000 rendered images of all 216 combinations
(one thread), then measures it on fresh renders (other seeds) of the seen and the held-out combinations,
10 per combination, and refuses (exit 1) to write weights unless every attribute is read right on at
least 95 % of both sets. Writes ``src/gankit/metrics/weights/shapes_attributes.safetensors`` and its
sha256 beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from gankit.data import captions as C
from gankit.metrics.captions import SHA_FILE, WEIGHTS_FILE, real_match_rate, save_attribute_classifier
from gankit.pretrain import train_attribute_classifier

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = ROOT / "src" / "gankit" / "metrics" / "weights"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    net = train_attribute_classifier(steps=args.steps, seed=args.seed)
    print(f"trained in {time.time() - t0:.0f} s")
    worst = 1.0
    for name, combos in (("seen", C.seen_combinations()), ("held-out", C.held_out_combinations())):
        r = real_match_rate(combos, per_combo=10, seed=99, classifier=net)
        worst = min(worst, r["match"])
        print(f"real {name:8s}: all four right {100 * r['match']:.2f} % | "
              + ", ".join(f"{k} {100 * v:.2f} %" for k, v in r.items() if k != "match"))
    if worst < 0.95:
        print(f"accuracy {100 * worst:.2f} % < 95 %: weights not written", file=sys.stderr)
        return 1
    sha = save_attribute_classifier(net, WEIGHTS_DIR / WEIGHTS_FILE)
    (WEIGHTS_DIR / SHA_FILE).write_text(f"{sha}  {WEIGHTS_FILE}\n")
    print(f"wrote {WEIGHTS_DIR / WEIGHTS_FILE} (sha256 {sha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
