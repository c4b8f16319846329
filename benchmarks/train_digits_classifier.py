"""Train gankit's shipped classifier of the 8x8 digits (the ``digits-classifier`` feature extractor).

    python benchmarks/train_digits_classifier.py [--epochs 40] [--seed 0]

Trains :class:`gankit.metrics.digits_classifier.DigitsNet` on a seeded 75 % (1,347) of scikit-learn's
1,797 digits (Adam 1e-3, cosine learning rate, random shifts of up to 1 pixel, one thread), measures it on
the other 450, and refuses (exit 1) to write weights below 97 % test accuracy. Writes
``src/gankit/metrics/weights/digits_classifier.safetensors`` (metadata: test accuracy, seed, epochs) and
its sha256 beside it, and ``benchmarks/out/digits-classifier.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gankit.data.images import load_arrays
from gankit.fileio import atomic_write_bytes, atomic_write_text, sha256_of
from gankit.metrics.digits_classifier import SHA_FILE, WEIGHTS_FILE, DigitsNet

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = ROOT / "src" / "gankit" / "metrics" / "weights"
OUT = ROOT / "benchmarks" / "out" / "digits-classifier.json"
MIN_ACCURACY = 0.97


def shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by -1, 0 or 1 pixel in x and y, padding with the background (-1)."""
    n = x.shape[0]
    pad = F.pad(x, (1, 1, 1, 1), value=-1.0)
    dy, dx = torch.randint(0, 3, (n,), generator=gen), torch.randint(0, 3, (n,), generator=gen)
    rows = dy[:, None] + torch.arange(8)[None]
    cols = dx[:, None] + torch.arange(8)[None]
    return pad[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    x_u8, y_np = load_arrays("digits", "train")
    x = torch.from_numpy(x_u8).float() * (2.0 / 16.0) - 1.0  # as the digits data set scales them
    y = torch.from_numpy(y_np).long()
    perm = np.random.default_rng(args.seed).permutation(len(x))
    n_test = len(x) // 4
    te, tr = torch.from_numpy(perm[:n_test]), torch.from_numpy(perm[n_test:])
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    steps = args.epochs * math.ceil(len(tr) / args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        net.train()
        order = tr[torch.randperm(len(tr), generator=gen)]
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            _, logits = net(shift(x[idx], gen))
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    train_s = time.perf_counter() - t0
    net.eval()
    with torch.no_grad():
        acc = float((net(x[te])[1].argmax(1) == y[te]).float().mean())
        train_acc = float((net(x[tr])[1].argmax(1) == y[tr]).float().mean())
    print(f"{args.epochs} epochs in {train_s:.1f} s: train accuracy {train_acc:.4f}, test accuracy {acc:.4f} "
          f"({n_test} held-out digits)")
    if acc < MIN_ACCURACY:
        print(f"test accuracy {acc:.4f} < {MIN_ACCURACY}: weights NOT written", file=sys.stderr)
        return 1
    from safetensors.torch import save

    meta = {"test_accuracy": f"{acc:.4f}", "epochs": str(args.epochs), "seed": str(args.seed),
            "torch_version": torch.__version__, "script": "benchmarks/train_digits_classifier.py"}
    data = save({k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}, metadata=meta)
    sha = sha256_of(data)
    atomic_write_bytes(WEIGHTS_DIR / WEIGHTS_FILE, data)
    atomic_write_text(WEIGHTS_DIR / SHA_FILE, f"{sha}  {WEIGHTS_FILE}\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT, json.dumps({"test_accuracy": acc, "train_accuracy": train_acc, "test_n": n_test,
                                       "epochs": args.epochs, "seed": args.seed, "train_seconds": round(train_s, 1),
                                       "sha256": sha, "torch_version": torch.__version__}, indent=2) + "\n")
    print(f"wrote {WEIGHTS_DIR / WEIGHTS_FILE} ({len(data)} bytes), sha256 {sha}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
