"""``gankit serve``: a read-only local web dashboard over a folder of run directories.

The page (``static/``, shipped as package data: no CDN, works offline) polls a small JSON API once a
second, so curves, sample grids and the toy-data view follow a run while it trains:

====================================  =====================================================================
``GET /api/runs``                      every run under the folder: id, name, step / train.steps, kind, live
``GET /api/config?run=ID``             config.yaml (text and parsed)
``GET /api/stats?run=ID&offset=B&ino=I``  the complete stats.jsonl lines after byte ``B`` and the new offset;
                                       ``reset`` when the file was rewritten (a resumed run truncates it)
``GET /api/metrics?run=ID``            metrics.jsonl and alarms.jsonl
``GET /api/frames?run=ID``             the steps of samples/step-N.png and snapshots/step-N.json, figures
``GET /api/snapshot?run=ID&step=N``    one toy-data snapshot (real/fake points, D on a grid, G's push)
``GET /file?run=ID&path=REL``          a PNG or GIF inside the run (sample grids, montage, curves)
``GET /`` and ``/static/NAME``         the page
====================================  =====================================================================

Security: it serves GET and HEAD only and never writes. Every path a request names is resolved
(symlinks followed) and must stay inside the runs folder (the static folder for assets), so ``..``,
absolute paths, ``%2e%2e`` and symlinks that lead out are refused with 403. It binds 127.0.0.1 unless
told otherwise, and while bound to a loopback address it answers only requests whose Host header is a
loopback name (a web page elsewhere cannot read it through DNS rebinding). A Content-Security-Policy
keeps the page to its own origin.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import re
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from gankit.errors import ConfigError
from gankit.train.rundir import RunDir
from gankit.train.stats import parse_record, read_jsonl

log = logging.getLogger("gankit")

STATIC = Path(str(resources.files("gankit.serve") / "static"))
MAX_DEPTH = 3  # runs/<sweep>/runs/<name>: deep enough for sweeps
SKIP_DIRS = {"checkpoints", "samples", "snapshots", "__pycache__"}
FILE_TYPES = {".png": "image/png", ".gif": "image/gif"}
ASSET_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
LIVE_SECONDS = 60.0  # a run whose stats.jsonl changed this recently and has steps to go is "live"
MAX_STATS_BYTES = 8 << 20  # one /api/stats answer reads at most this much; the page asks again for the rest
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_STEP_FILE = re.compile(r"step-(\d+)\.(png|json)")


class Refused(Exception):
    """A request the dashboard answers with an HTTP error (403 for paths outside, 404, 400)."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def inside(root: Path, rel: str) -> Path:
    """``root / rel`` resolved (symlinks followed); :class:`Refused` (403) unless it stays inside ``root``.

    Args:
        root: an already resolved folder.
        rel: a relative path from a request, percent-decoded.
    """
    if "\x00" in rel:
        raise Refused(HTTPStatus.BAD_REQUEST, "NUL in path")
    path = (root / rel).resolve()
    if path != root and not path.is_relative_to(root):
        raise Refused(HTTPStatus.FORBIDDEN, "the path leads outside the served folder")
    return path


def _is_run(path: Path) -> bool:
    return (path / "config.yaml").is_file() or (path / "stats.jsonl").is_file()


def find_runs(root: str | Path, max_depth: int = MAX_DEPTH) -> list[str]:
    """Ids (POSIX paths relative to ``root``, ``.`` for ``root`` itself) of the run directories under ``root``.

    Symlinked folders are not followed (a link may lead out of the served folder).
    """
    root = Path(root)
    out = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        if _is_run(here):
            out.append(here.relative_to(root).as_posix())
            dirnames[:] = []  # a run's own folders hold no runs
            continue
        if depth >= max_depth:
            dirnames[:] = []
        else:
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
    return sorted(out)


def _last_line(path: Path, chunk: int = 65536) -> dict[str, Any] | None:
    """The last complete JSON record of a JSON-lines file (reads only its tail)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - chunk))
            lines = f.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(lines[:-1] if lines and lines[-1] else lines):
        record = parse_record(line)
        if record is not None:
            return record
    return None


def _steps(folder: Path, suffix: str) -> list[int]:
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = _STEP_FILE.fullmatch(p.name)
        if m and m.group(2) == suffix:
            out.append(int(m.group(1)))
    return sorted(out)


def read_lines_from(path: Path, offset: int, ino: int | None, limit: int = MAX_STATS_BYTES) -> dict[str, Any]:
    """The complete JSON lines of ``path`` after byte ``offset``.

    Returns ``{"rows", "offset", "ino", "reset"}``: the next call passes ``offset`` and ``ino`` back. A
    torn last line (still being written) is left for the next call. When the file was replaced (another
    inode, as when a resumed run truncates its stats) or shrank, it is read again from the start and
    ``reset`` is true, so the page drops what it had.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return {"rows": [], "offset": 0, "ino": None, "reset": offset > 0}
    reset = (ino is not None and ino != st.st_ino) or offset > st.st_size
    if reset:
        offset = 0
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(limit)
    end = data.rfind(b"\n") + 1  # only complete lines
    rows = [r for r in map(parse_record, data[:end].splitlines()) if r is not None]  # corrupt lines skipped
    return {"rows": rows, "offset": offset + end, "ino": st.st_ino, "reset": reset}


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities (which JSON cannot carry to a browser) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


class Dashboard:
    """What the API answers, from the run directories under ``root`` (read only)."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise ConfigError(f"no folder '{root}' to serve (give the folder that holds your runs, e.g. runs/)")
        self.root = root.resolve()
        self._config_cache: dict[Path, tuple[float, dict[str, Any]]] = {}

    def run(self, run_id: str) -> RunDir:
        """The run ``run_id`` names; 403 outside the folder, 404 when it is not a run."""
        path = inside(self.root, run_id)
        if not _is_run(path):
            raise Refused(HTTPStatus.NOT_FOUND, f"no run '{run_id}'")
        return RunDir(path)

    def _config(self, run: RunDir) -> dict[str, Any]:
        try:
            mtime = run.config.stat().st_mtime
        except FileNotFoundError:
            return {}
        cached = self._config_cache.get(run.config)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            cfg = yaml.safe_load(run.config.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            cfg = {}
        cfg = cfg if isinstance(cfg, dict) else {}
        self._config_cache[run.config] = (mtime, cfg)
        return cfg

    def summary(self, run_id: str) -> dict[str, Any]:
        run = self.run(run_id)
        cfg = self._config(run)
        sect = lambda name: cfg.get(name) if isinstance(cfg.get(name), dict) else {}  # noqa: E731
        last = _last_line(run.stats) or {}
        try:
            updated = max(p.stat().st_mtime for p in (run.stats, run.metrics, run.config) if p.exists())
        except ValueError:
            updated = 0.0
        total = sect("train").get("steps")
        step = last.get("step", 0)
        snapshots = run.snapshots.is_dir() and any(run.snapshots.glob("step-*.json"))
        return {
            "id": run_id,
            "name": sect("run").get("name") or run.root.name,
            "dataset": sect("data").get("name", ""),
            "objective": sect("model").get("objective", ""),
            "generator": sect("generator").get("name", ""),
            "step": step,
            "total": total,
            "kind": "toy" if snapshots else "image" if run.samples.is_dir() else "",
            "updated": updated,
            "live": bool(time.time() - updated < LIVE_SECONDS and (total is None or step < total)),
        }

    def runs(self) -> list[dict[str, Any]]:
        return [self.summary(r) for r in find_runs(self.root)]

    def config(self, run_id: str) -> dict[str, Any]:
        run = self.run(run_id)
        text = run.config.read_text(encoding="utf-8") if run.config.is_file() else ""
        return {"text": text, "config": self._config(run)}

    def stats(self, run_id: str, offset: int, ino: int | None) -> dict[str, Any]:
        return read_lines_from(self.run(run_id).stats, offset, ino)

    def metrics(self, run_id: str) -> dict[str, Any]:
        run = self.run(run_id)
        return {"rows": read_jsonl(run.metrics), "alarms": read_jsonl(run.alarms)}

    def frames(self, run_id: str) -> dict[str, Any]:
        run = self.run(run_id)
        # every figure the run wrote (classes.png, stages.png, latent-*.png too): "name" or "name_gif"
        figures = {p.stem + ("_gif" if p.suffix.lower() == ".gif" else ""): p.name for p in run.figures()}
        return {"samples": _steps(run.samples, "png"), "snapshots": _steps(run.snapshots, "json"), "figures": figures}

    def snapshot_path(self, run_id: str, step: int) -> Path:
        path = self.run(run_id).snapshot_path(step)
        if not path.is_file():
            raise Refused(HTTPStatus.NOT_FOUND, f"no snapshot at step {step}")
        return path

    def file(self, run_id: str, rel: str) -> Path:
        run = self.run(run_id)
        path = inside(self.root, (Path(run_id) / rel).as_posix())
        if not path.is_relative_to(run.root.resolve()):
            raise Refused(HTTPStatus.FORBIDDEN, "the path leads outside the run")
        if path.suffix.lower() not in FILE_TYPES or not path.is_file():
            raise Refused(HTTPStatus.NOT_FOUND, f"no image '{rel}' in the run")
        return path


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) means this machine only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Handler(BaseHTTPRequestHandler):
    """GET/HEAD only; JSON for /api/*, files for /file and /static/*."""

    dashboard: Dashboard  # set on the subclass make_server builds
    server_version = "gankit-serve"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s - %s", self.address_string(), format % args)

    def _host_ok(self) -> bool:
        bound = self.server.server_address[0]
        if not is_loopback(str(bound)):
            return True  # told to listen beyond this machine: any Host
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]", 1)[0]
        return is_loopback(name)

    def _send(self, status: HTTPStatus, body: bytes, ctype: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any) -> None:
        self._send(HTTPStatus.OK, json.dumps(finite(value), allow_nan=False, default=str).encode(), "application/json")

    def _path(self, path: Path, ctype: str, cache: bool = False) -> None:
        self._send(HTTPStatus.OK, path.read_bytes(), ctype, cache)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        try:
            if not self._host_ok():
                raise Refused(HTTPStatus.FORBIDDEN, "Host header is not a loopback name")
            self._route()
        except Refused as exc:
            self._send(exc.status, (str(exc) + "\n").encode(), "text/plain; charset=utf-8")
        except (ValueError, KeyError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, f"bad request: {exc}\n".encode(), "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except OSError as exc:  # a file vanished between listing and reading (a run being rewritten)
            self._send(HTTPStatus.NOT_FOUND, f"{exc.strerror or exc}\n".encode(), "text/plain; charset=utf-8")

    def _route(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        d = self.dashboard

        def arg(name: str) -> str:
            if name not in query:
                raise Refused(HTTPStatus.BAD_REQUEST, f"missing query parameter '{name}'")
            return query[name]

        if path in ("/", "/index.html"):
            self._path(STATIC / "index.html", "text/html; charset=utf-8")
        elif path.startswith("/static/"):
            asset = inside(STATIC.resolve(), path[len("/static/"):])
            if not asset.is_file():
                raise Refused(HTTPStatus.NOT_FOUND, "no such asset")
            # fixed types, not the system's mime.types: with nosniff a wrong one would stop the script
            self._path(asset, ASSET_TYPES.get(asset.suffix.lower(), "application/octet-stream"))
        elif path == "/api/runs":
            self._json({"root": str(d.root), "runs": d.runs()})
        elif path == "/api/config":
            self._json(d.config(arg("run")))
        elif path == "/api/stats":
            ino = query.get("ino")
            self._json(d.stats(arg("run"), int(query.get("offset", 0) or 0), int(ino) if ino else None))
        elif path == "/api/metrics":
            self._json(d.metrics(arg("run")))
        elif path == "/api/frames":
            self._json(d.frames(arg("run")))
        elif path == "/api/snapshot":
            self._json(json.loads(d.snapshot_path(arg("run"), int(arg("step"))).read_bytes()))
        elif path == "/file":
            p = d.file(arg("run"), arg("path"))
            self._path(p, FILE_TYPES[p.suffix.lower()])
        else:
            raise Refused(HTTPStatus.NOT_FOUND, f"no page '{path}'")


def make_server(root: str | Path, host: str = "127.0.0.1", port: int = 8050) -> ThreadingHTTPServer:
    """A dashboard server over ``root`` (not started: call ``serve_forever``); port 0 picks a free one."""
    dashboard = Dashboard(root)
    handler = type("DashboardHandler", (Handler,), {"dashboard": dashboard})
    server_class = ThreadingHTTPServer
    if ":" in host:
        server_class = type("DashboardServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    try:
        server = server_class((host, port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = str(host)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"
