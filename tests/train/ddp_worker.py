"""One rank of tests/train/test_distributed.py's torchrun job (gloo, CPU): several runs in one process group.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/train/ddp_worker.py OUT OVERRIDES_JSON

Runs under OUT/runs (rank 0 writes them) and OUT/rank-R.pt (what this rank saw):

- ``shard``: run.distributed_data=shard, the test compares it with a single-process run;
- ``indep``: the default independent sampling; each rank's final weights go to rank-R.pt;
- ``half``: stopped half way by a callback on rank 0 (``request_finish``), then resumed: must equal
  ``indep`` bit for bit;
- ``gankit train`` through the CLI: a batch that does not split over the ranks gets the one-line error
  on every rank; a good run prints its summary on rank 0 only;
- ``sigterm``: rank 1 alone receives SIGTERM during step 7; both ranks must stop after step 7 with a
  checkpoint, neither waiting for the other.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys

import torch
import torch.distributed as dist

import gankit  # noqa: F401  (fill the registries)
from gankit import api, cli
from gankit import config as config_mod
from gankit.errors import TrainingInterrupted
from gankit.train.callbacks import Callback


class FinishAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, trainer, step):  # noqa: ANN001, ANN201
        if step == self.step:
            trainer.request_finish()


def main() -> None:
    out, overrides = sys.argv[1], json.loads(sys.argv[2])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    trainers = []
    resuming = False
    build = api.build_trainer

    def capture(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        nonlocal resuming
        trainer = build(*args, **kwargs)
        trainers.append(trainer)
        if trainer.cfg.run.name == "sigterm" and rank == 1:
            g_step = trainer.recipe.g_step

            def g_step_with_signal(batch):  # noqa: ANN001, ANN202
                if trainer.step == 6:  # during step 7
                    os.kill(os.getpid(), signal.SIGTERM)
                return g_step(batch)

            trainer.recipe.g_step = g_step_with_signal
        if trainer.cfg.run.name == "half" and rank == 0 and not resuming:
            trainer.callbacks.append(FinishAt(trainer.cfg.train.steps // 2))
        return trainer

    api.build_trainer = capture

    def cfg(name: str, *extra: str):  # noqa: ANN202
        return config_mod.resolve("ring8",
                                  overrides=[*overrides, f"run.out_dir={out}/runs", f"run.name={name}", *extra])

    result: dict = {"rank": rank, "world_size": dist.get_world_size()}
    api.train(cfg("shard", "run.distributed_data=shard"))
    result["shard_batch"] = trainers[-1].batch_size
    api.train(cfg("indep"))
    result["indep"] = {k: v.clone() for k, v in trainers[-1].recipe.generator.state_dict().items()}
    result["indep_rng"] = torch.get_rng_state()
    api.train(cfg("half"))
    result["half_step"] = trainers[-1].step
    resuming = True
    api.resume(f"{out}/runs/half")
    result["resumed_rng"] = torch.get_rng_state()
    for key, extra in (("cli_bad", ["data.batch_size=63"]), ("cli", [])):
        out_buf, err_buf = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out_buf), contextlib.redirect_stderr(err_buf):
            code = cli.main(["train", "ring8", *overrides, f"run.out_dir={out}/runs", "run.name=cli", *extra])
        result[key] = {"code": code, "stdout": out_buf.getvalue(), "stderr": err_buf.getvalue()}
    try:
        api.train(cfg("sigterm"))
        result["sigterm"] = "not interrupted"
    except TrainingInterrupted as exc:
        result["sigterm"] = {"step": trainers[-1].step, "code": exc.exit_code, "message": str(exc)}
    torch.save(result, f"{out}/rank-{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
