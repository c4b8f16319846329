"""``gankit serve``, ``lab``, ``report`` and ``export``: a run shown elsewhere (a dashboard, the GAN Lab page,
one HTML file, TensorBoard event files)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import cast


def cmd_serve(args: argparse.Namespace) -> int:
    from gankit.serve.server import Handler, is_loopback, make_server, parse_limits, url_of

    server = make_server(args.runs_dir, host=args.host, port=args.port, limits=parse_limits(args.limit))
    handler = cast("type[Handler]", server.RequestHandlerClass)  # the Handler subclass make_server built
    print(f"gankit: serving {handler.dashboard.root} at {url_of(server)} (Ctrl-C stops)", flush=True)
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


def cmd_export(args: argparse.Namespace) -> int:
    from gankit import api
    from gankit.train.tensorboard import export

    run = api.find_run(args.run)
    folder, events = export(run, Path(args.output) if args.output else None)
    print(f"wrote {events} TensorBoard events to {folder} (view: tensorboard --logdir {folder})")
    return 0
