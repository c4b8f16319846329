"""``gankit serve`` (a local dashboard over a runs folder) and ``gankit report`` (one shareable HTML file).

Both only read run directories (train/rundir.py): the dashboard polls the files a run keeps appending to,
the report embeds them. Neither imports torch.
"""

from __future__ import annotations

from gankit.serve.report import write_report
from gankit.serve.server import Dashboard, find_runs, make_server

__all__ = ["Dashboard", "find_runs", "make_server", "write_report"]
