"""``gankit serve``: a read-only local web dashboard over a folder of run directories.

The page (``static/``, shipped as package data: no CDN, works offline) polls a small JSON API once a
second, so curves, sample grids and the toy-data view follow a run while it trains:

====================================  =====================================================================
``GET /api/runs?offset=I``             the runs under the folder from the I-th: id, name, step / train.steps,
                                       kind, live; ``next`` is the offset of the next page (null: no more)
``GET /api/config?run=ID``             config.yaml (text and parsed)
``GET /api/stats?run=ID&offset=B&ino=I&skip=S``  the complete stats.jsonl records after byte ``B``, one
                                       page; the next call passes ``offset``, ``ino`` and ``skip`` back
                                       (:func:`gankit.train.stats.read_page`): ``more`` when the file has
                                       more now, ``skipped`` damaged or oversized lines, ``reset`` when the
                                       file was rewritten (a resumed run truncates it)
``GET /api/metrics?...``               the same for metrics.jsonl (``/api/alarms``, ``/api/diagnostics``:
                                       alarms.jsonl, diagnostics.jsonl)
``GET /api/frames?run=ID&offset=I``    the steps of samples/step-N.png and snapshots/step-N.json from the I-th,
                                       figures; ``next`` as for runs
``GET /api/snapshot?run=ID&step=N``    one toy-data snapshot (real/fake points, D on a grid, G's push)
``GET /file?run=ID&path=REL``          a PNG or GIF inside the run (sample grids, montage, curves)
``GET /`` and ``/static/NAME``         the page
====================================  =====================================================================

Limits (:class:`Limits`; ``gankit serve --limit NAME=MiB`` changes one): every JSON answer is at most
``page`` (4 MiB) and the page asks for the next page; a JSON line over ``line`` (1 MiB) is skipped and
counted, never read whole; a config.yaml over ``config`` (1 MiB), a snapshot over ``page`` and an image over
``image`` (64 MiB) are refused with 413 and a line naming the limit. A real run is far inside them: its
stats lines are a few hundred bytes, its config a few KB, a toy snapshot (512 points, a 60 x 60 grid)
about 100 KB. The listen queue holds ``BACKLOG`` connections, each served by its own thread (with the
standard library's 5, the kernel dropped connections under 200 clients and they waited for TCP's retries).

Security: it serves GET and HEAD only and never writes. Every path a request names is resolved
(symlinks followed) and must stay inside the runs folder (the static folder for assets), so ``..``,
absolute paths, ``%2e%2e`` and symlinks that lead out are refused with 403. It binds 127.0.0.1 unless
told otherwise, and while bound to a loopback address it answers only requests whose Host header is a
loopback name (a web page elsewhere cannot read it through DNS rebinding). A Content-Security-Policy
keeps the page to its own origin.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import logging
import math
import os
import re
import shutil
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gankit.errors import ConfigError
from gankit.train.rundir import RunDir
from gankit.train.stats import LINE_BYTES, last_record, read_page
from gankit.yamlio import read_yaml

log = logging.getLogger("gankit")

STATIC = Path(str(resources.files("gankit.serve") / "static"))
MAX_DEPTH = 3  # runs/<sweep>/runs/<name>: deep enough for sweeps
SKIP_DIRS = {"checkpoints", "samples", "snapshots", "__pycache__"}
FILE_TYPES = {".png": "image/png", ".gif": "image/gif"}
ASSET_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
LIVE_SECONDS = 60.0  # a run whose stats.jsonl changed this recently and has steps to go is "live"
MiB = 1 << 20
RESERVE = 8192  # room in a page for what surrounds the rows (the served folder's path is at most 4096 bytes)
RUNS_PAGE = 200  # runs per /api/runs answer (each summary reads the tail of its stats.jsonl)
FRAMES_PAGE = 10_000  # steps per list per /api/frames answer
TEXT_CHARS = 200  # a name or label shown in the run list is cut to this
BACKLOG = 1024  # listen queue (socketserver's default, 5, left 200 concurrent clients waiting up to a minute)
LOGS = ("stats", "metrics", "alarms", "diagnostics")  # /api/NAME serves the run's NAME.jsonl
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_STEP_FILE = re.compile(r"step-(\d+)\.(png|json)")


@dataclass(frozen=True)
class Limits:
    """The dashboard's caps in bytes (module docstring); ``gankit serve --limit NAME=MiB`` changes one."""

    line: int = LINE_BYTES  # a JSON-lines record longer than this is skipped and counted
    page: int = 4 * MiB  # one JSON answer (what is beyond comes in the next page), so also a snapshot
    config: int = 1 * MiB  # config.yaml
    image: int = 64 * MiB  # a PNG or GIF served by /file

    def __post_init__(self) -> None:
        if min(getattr(self, f.name) for f in fields(self)) <= 0:
            raise ConfigError("every gankit serve --limit must be positive")
        if self.page < 2 * self.line or self.page < MiB:
            raise ConfigError(f"the page limit ({self.page / MiB:g} MiB) must be at least 1 MiB and twice the line "
                              f"limit ({self.line / MiB:g} MiB), so that a page holds any line")

    def refuse(self, what: str, size: int, name: str) -> Refused:
        """413 for ``what`` of ``size`` bytes, over limit ``name``: which limit, and how to raise it."""
        cap = getattr(self, name)
        return Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       f"{what} is {size / MiB:.1f} MiB, over the dashboard's {name} limit of {cap / MiB:g} MiB "
                       f"(gankit serve --limit {name}={max(1, math.ceil(2 * size / MiB))} raises it)")


def parse_limits(items: Iterable[str]) -> Limits:
    """``NAME=MiB`` strings (``page=8``) over the defaults; ConfigError for an unknown name or a bad number."""
    names = [f.name for f in fields(Limits)]
    changes = {}
    for item in items:
        name, eq, value = item.partition("=")
        if name not in names or not eq:
            raise ConfigError(f"--limit takes NAME=MiB with NAME one of {', '.join(names)}, got '{item}'")
        try:
            mib = float(value)
        except ValueError:
            raise ConfigError(f"--limit {name} takes a size in MiB (e.g. {name}=8), got '{value}'") from None
        if not math.isfinite(mib):
            raise ConfigError(f"--limit {name} takes a finite size in MiB, got '{value}'")
        changes[name] = int(mib * MiB)
    return replace(Limits(), **changes)


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


def _steps(folder: Path, suffix: str) -> list[int]:
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = _STEP_FILE.fullmatch(p.name)
        if m and m.group(2) == suffix:
            out.append(int(m.group(1)))
    return sorted(out)


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities (which JSON cannot carry to a browser) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def encode(value: Any) -> bytes:
    """The JSON the API sends (NaN and infinities as null)."""
    return json.dumps(finite(value), allow_nan=False, default=str).encode()


def _json_size(value: Any) -> int:
    return len(encode(value)) + 2  # and the ", " between rows


def page_of(items: Iterator[Any], offset: int, count: int, budget: int) -> tuple[list[Any], int | None]:
    """Up to ``count`` of ``items`` (which start at index ``offset``) whose JSON fits in ``budget`` bytes, and
    the index of the next page (None when ``items`` ran out)."""
    out: list[Any] = []
    used = 0
    for item in items:
        cost = _json_size(item)
        if len(out) == count or (out and used + cost > budget):
            return out, offset + len(out)
        out.append(item)
        used += cost
    return out, None


def _nodes(value: Any, limit: int) -> int:
    """How many values ``value`` holds, counting stops past ``limit`` (YAML aliases can make a small file
    parse into a tree too big to send)."""
    stack, n = [value], 0
    while stack and n <= limit:
        v = stack.pop()
        n += 1
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return n


def _clip(value: Any) -> str:
    return str(value)[:TEXT_CHARS] if value is not None else ""


class Dashboard:
    """What the API answers, from the run directories under ``root`` (read only)."""

    def __init__(self, root: str | Path, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
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
        """The parsed config.yaml ({} when missing, damaged, over the config limit or expanding past it)."""
        try:
            st = run.config.stat()
        except FileNotFoundError:
            return {}
        mtime = st.st_mtime
        cached = self._config_cache.get(run.config)
        if cached and cached[0] == mtime:
            return cached[1]
        if st.st_size > self.limits.config:
            return {}
        try:
            cfg = read_yaml(run.config.read_text(encoding="utf-8"), f"'{run.config}'") or {}
        except (ConfigError, OSError, UnicodeDecodeError):  # a broken or hostile config.yaml: this run only
            cfg = {}
        cfg = cfg if isinstance(cfg, dict) and _nodes(cfg, st.st_size) <= st.st_size else {}
        self._config_cache[run.config] = (mtime, cfg)
        return cfg

    def summary(self, run_id: str) -> dict[str, Any]:
        run = self.run(run_id)
        cfg = self._config(run)

        def sect(name: str) -> dict[str, Any]:
            value = cfg.get(name)
            return value if isinstance(value, dict) else {}

        last = last_record(run.stats, self.limits.line) or {}
        try:
            updated = max(p.stat().st_mtime for p in (run.stats, run.metrics, run.config) if p.exists())
        except ValueError:
            updated = 0.0
        total = sect("train").get("steps")
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        step = last.get("step", 0)
        snapshots = run.snapshots.is_dir() and any(run.snapshots.glob("step-*.json"))
        return {
            "id": run_id,
            "name": _clip(sect("run").get("name") or run.root.name),
            "dataset": _clip(sect("data").get("name", "")),
            "objective": _clip(sect("model").get("objective", "")),
            "generator": _clip(sect("generator").get("name", "")),
            "step": step,
            "total": total,
            "kind": "toy" if snapshots else "image" if run.samples.is_dir() else "",
            "updated": updated,
            "live": bool(time.time() - updated < LIVE_SECONDS and (total is None or step < total)),
        }

    def runs(self, offset: int = 0, count: int = RUNS_PAGE) -> dict[str, Any]:
        """One page of the run list: the runs from index ``offset``; ``next`` is the next page's offset."""
        ids = find_runs(self.root)
        summaries = (self.summary(r) for r in itertools.islice(ids, offset, None))
        rows, nxt = page_of(summaries, offset, min(count, RUNS_PAGE), self.limits.page - RESERVE)
        return {"root": str(self.root), "runs": rows, "total": len(ids), "next": nxt}

    def config(self, run_id: str) -> dict[str, Any]:
        run = self.run(run_id)
        if not run.config.is_file():
            return {"text": "", "config": {}}
        size = run.config.stat().st_size
        if size > self.limits.config:
            raise self.limits.refuse("config.yaml", size, "config")
        return {"text": run.config.read_text(encoding="utf-8", errors="replace"), "config": self._config(run)}

    def log(self, run_id: str, name: str, offset: int, ino: int | None, skip: bool) -> dict[str, Any]:
        """One page of the JSON-lines log ``name`` (stats, metrics, alarms, diagnostics) after byte ``offset``."""
        lim = self.limits
        return read_page(getattr(self.run(run_id), name), offset, ino, skip,
                         max_line=lim.line, max_bytes=lim.page - RESERVE, size=_json_size)

    def frames(self, run_id: str, offset: int = 0) -> dict[str, Any]:
        """The steps of the sample grids and snapshots from index ``offset`` (``FRAMES_PAGE`` of each at most)
        and the figures; ``next`` is the next page's offset."""
        run = self.run(run_id)
        # every figure the run wrote (classes.png, stages.png, latent-*.png too): "name" or "name_gif"
        figures = {p.stem + ("_gif" if p.suffix.lower() == ".gif" else ""): p.name for p in run.figures()}
        samples, snapshots = _steps(run.samples, "png"), _steps(run.snapshots, "json")
        end = offset + FRAMES_PAGE
        return {"samples": samples[offset:end], "snapshots": snapshots[offset:end], "figures": figures,
                "next": end if max(len(samples), len(snapshots)) > end else None}

    def snapshot(self, run_id: str, step: int) -> dict[str, Any]:
        """The snapshot at ``step``; 413 over the page limit, 422 when it is not JSON."""
        path = self.run(run_id).snapshot_path(step)
        if not path.is_file():
            raise Refused(HTTPStatus.NOT_FOUND, f"no snapshot at step {step}")
        size = path.stat().st_size
        if size > self.limits.page - RESERVE:
            raise self.limits.refuse(f"snapshots/{path.name}", size, "page")
        try:
            return json.loads(path.read_bytes())
        except (ValueError, RecursionError):
            raise Refused(HTTPStatus.UNPROCESSABLE_ENTITY, f"snapshots/{path.name} is not valid JSON") from None

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
    timeout = 30  # seconds a silent client may hold its thread

    @property
    def limits(self) -> Limits:
        return self.dashboard.limits

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s - %s", self.address_string(), format % args)

    def _host_ok(self) -> bool:
        address = self.server.server_address  # (host, port[, flow, scope]) for the IP families this binds
        bound = address[0] if isinstance(address, tuple) else address
        if not is_loopback(str(bound)):
            return True  # told to listen beyond this machine: any Host
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]", 1)[0]
        return is_loopback(name)

    def _headers(self, status: HTTPStatus, ctype: str, length: int, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()

    def _send(self, status: HTTPStatus, body: bytes, ctype: str, cache: bool = False) -> None:
        self._headers(status, ctype, len(body), cache)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any) -> None:
        body = encode(value)
        if len(body) > self.limits.page:  # the readers page below it: a guard, not the paging
            raise self.limits.refuse("the answer", len(body), "page")
        self._send(HTTPStatus.OK, body, "application/json")

    def _path(self, path: Path, ctype: str, cache: bool = False) -> None:
        self._send(HTTPStatus.OK, path.read_bytes(), ctype, cache)

    def _stream(self, path: Path, ctype: str, what: str) -> None:
        """A file in 64 KiB pieces (never whole in memory); 413 over the image limit."""
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > self.limits.image:
                raise self.limits.refuse(what, size, "image")
            self._headers(HTTPStatus.OK, ctype, size)
            if self.command != "HEAD":
                shutil.copyfileobj(f, self.wfile, 1 << 16)

    def _static(self, path: str) -> None:
        """``/static/NAME``: a file of the static folder (403 outside it)."""
        asset = inside(STATIC.resolve(), path[len("/static/"):])
        if not asset.is_file():
            raise Refused(HTTPStatus.NOT_FOUND, "no such asset")
        # fixed types, not the system's mime.types: with nosniff a wrong one would stop the script
        self._path(asset, ASSET_TYPES.get(asset.suffix.lower(), "application/octet-stream"))

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        self._answer(self._route)

    def _answer(self, route: Any) -> None:
        """Run ``route`` after the Host check; every failure becomes one plain-text answer, never a dead thread."""
        try:
            if not self._host_ok():
                raise Refused(HTTPStatus.FORBIDDEN, "Host header is not a loopback name")
            route()
        except Refused as exc:
            self._send(exc.status, (str(exc) + "\n").encode(), "text/plain; charset=utf-8")
        except (ValueError, KeyError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, f"bad request: {exc}\n".encode(), "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except OSError as exc:  # a file vanished between listing and reading (a run being rewritten)
            self._send(HTTPStatus.NOT_FOUND, f"{exc.strerror or exc}\n".encode(), "text/plain; charset=utf-8")
        except Exception as exc:  # noqa: BLE001 (a bug must cost one answer and one log line, not the thread's traceback)
            log.warning("gankit serve: %s failed: %s: %s", self.path, type(exc).__name__, exc)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(exc).__name__}; the server's log "
                       "has the details)\n".encode(), "text/plain; charset=utf-8")

    def _route(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        d = self.dashboard

        def arg(name: str) -> str:
            if name not in query:
                raise Refused(HTTPStatus.BAD_REQUEST, f"missing query parameter '{name}'")
            return query[name]

        def count(name: str, default: int | None = 0) -> int:
            text = query.get(name) or (arg(name) if default is None else str(default))
            if not text.isdigit():  # digits only: no sign, no blanks
                raise Refused(HTTPStatus.BAD_REQUEST, f"query parameter '{name}' must be a whole number >= 0")
            return int(text)

        api = path.removeprefix("/api/")

        if path in ("/", "/index.html"):
            self._path(STATIC / "index.html", "text/html; charset=utf-8")
        elif path.startswith("/static/"):
            self._static(path)
        elif path == "/api/runs":
            self._json(d.runs(count("offset"), count("limit", RUNS_PAGE)))
        elif path == "/api/config":
            self._json(d.config(arg("run")))
        elif api in LOGS:
            ino = count("ino") if query.get("ino") else None
            self._json(d.log(arg("run"), api, count("offset"), ino, query.get("skip") in ("1", "true")))
        elif path == "/api/frames":
            self._json(d.frames(arg("run"), count("offset")))
        elif path == "/api/snapshot":
            self._json(d.snapshot(arg("run"), count("step", None)))
        elif path == "/file":
            p = d.file(arg("run"), arg("path"))
            self._stream(p, FILE_TYPES[p.suffix.lower()], p.name)
        else:
            raise Refused(HTTPStatus.NOT_FOUND, f"no page '{path}'")


class DashboardServer(ThreadingHTTPServer):
    """A thread per connection (daemon threads: Ctrl-C never waits for a client) and a listen queue of
    ``BACKLOG`` connections."""

    request_queue_size = BACKLOG
    daemon_threads = True


class DashboardServer6(DashboardServer):
    """The same server on an IPv6 address."""

    address_family = socket.AF_INET6


def make_server(root: str | Path, host: str = "127.0.0.1", port: int = 8050,
                limits: Limits | None = None) -> ThreadingHTTPServer:
    """A dashboard server over ``root`` (not started: call ``serve_forever``); port 0 picks a free one."""
    dashboard = Dashboard(root, limits)
    return bind(type("DashboardHandler", (Handler,), {"dashboard": dashboard}), host, port)


def bind(handler: type[BaseHTTPRequestHandler], host: str, port: int) -> ThreadingHTTPServer:
    """A :class:`DashboardServer` for ``handler`` on ``host:port`` (IPv6 too); ConfigError when it cannot listen."""
    server_class = DashboardServer6 if ":" in host else DashboardServer
    try:
        return server_class((host, port), handler)
    except (OSError, OverflowError) as exc:  # OverflowError: a port outside 0-65535
        raise ConfigError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from exc


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = str(host)
    shown = ("127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::"
             else f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/"
