"""``gankit lab``: the lectures' 1-D and 2-D pictures, live, with the training in the learner's hands.

GAN Lab (Kahng et al., "GAN Lab: Understanding Complex Deep Generative Models using Interactive Visual
Experimentation", IEEE VIS 2018) in gankit's own terms: the page (``static/lab.html``, ``lab.js``, drawing
with ``draw.js``) sets up a toy experiment, drives it and draws it; this module trains it with gankit's
own code. A :class:`LabSession` is a config built by :func:`gankit.config.resolve` from the page's
settings, a recipe from the registry and the :class:`~gankit.train.trainer.Trainer`: playing repeats
``Trainer.iteration`` (what ``gankit train`` repeats), the single steps are ``Trainer.d_update`` and
``Trainer.g_update``. There is no second loop and no second loss.

One worker thread owns the model; every command and every view takes the :class:`Lab`'s lock, so a
view never sees half a step. A view copies the weights into a second recipe under the lock and draws
from the copy outside it (``train.callbacks.toy_snapshot``: points, D on a grid, G's push), so the page
never holds training up for longer than a copy. The view adds what the lectures draw beside it:

- the generator's manifold: a grid of noise space and its image under G (GAN Lab's "generator
  transformation"); in 1-D the map z -> G(z) (Goodfellow et al. 2014, Figure 1);
- for the cross-entropy objectives the optimal discriminator D*(x) = p_data(x) / (p_data(x) + p_G(x))
  (Goodfellow et al. 2014, Proposition 1; Hung-yi Lee, Theory behind GAN), with p_data the data set's
  density (or a KDE of the drawn points) and p_G a KDE of the samples;
- JS (KDE, ``metrics.divergences.kde_divergences``), exact W1 (POT) and, for mixtures, the modes covered
  (``metrics.toy.mode_stats``), at most every ``METRICS_EVERY_S`` seconds, in a thread of their own so
  that a frame never waits for them.

Changes while paused or playing (learning rates, k, the objective, the penalties' weights) are applied
in place (the optimisers' ``param_groups``, the recipe's objective) and written to stats.jsonl as
``{"step": S, "event": "set", "g_optim.lr": ...}``; single steps as ``"event": "d_step"`` / ``"g_step"``
records. "Save as run" writes a normal run folder (config.yaml, stats.jsonl, checkpoint, generator
export, a snapshot) that ``gankit serve``, ``report``, ``eval`` and ``train --resume`` accept.

HTTP: the dashboard's server rules (``serve/server.py``: loopback only, loopback Host headers, paths
checked, a strict Content-Security-Policy) plus, for the POSTs that drive it: JSON bodies only
(``Content-Type: application/json``, which a page of another origin cannot send without a preflight
this server never grants), an ``Origin`` that matches the Host when one is sent, at most ``MAX_BODY``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gankit.errors import ConfigError, GankitError
from gankit.serve.lab_session import (
    GRID,
    MANIFOLD_LINES,
    MANIFOLD_POINTS,
    METRIC_POINTS,
    SAVED_SAMPLE_EVERY,
    LabSession,
    manifold,
    optimal_d,
    packed,
)
from gankit.serve.lab_settings import (
    DEFAULTS,
    DRAWN,
    FIXED,
    LIVE,
    MAX_LR,
    MAX_POINTS,
    SETTINGS,
    TOY_SETS,
    build_config,
    check_points,
    check_settings,
    choices,
)
from gankit.serve.server import STATIC, Handler, Limits, Refused, bind, encode

# The page's settings and one session's training and pictures live in modules of their own; their names stay
# importable from here.
__all__ = [
    "DEFAULTS", "DRAWN", "FIXED", "GRID", "HISTORY_PAGE", "LIVE", "MANIFOLD_LINES", "MANIFOLD_POINTS", "MAX_BODY",
    "MAX_LR", "MAX_POINTS", "METRICS_EVERY_S", "METRIC_POINTS", "SAVED_SAMPLE_EVERY", "SETTINGS", "TOY_SETS",
    "VIEW_SHARE", "Lab", "LabHandler", "LabSession", "build_config", "check_points", "check_settings", "choices",
    "make_lab_server", "manifold", "optimal_d", "packed",
]

log = logging.getLogger("gankit")

MAX_BODY = 1 << 20  # bytes of a POST body (5,000 drawn points are ~100 KB)
METRICS_EVERY_S = 1.0
HISTORY_PAGE = 2000  # history records per view
VIEW_SHARE = 0.05  # while playing, views take at most this share of the time (they share the GIL with training)


class Lab:
    """The server side of the page: one session, the worker thread that plays it, commands and views."""

    def __init__(self, runs_dir: str | Path, workdir: str | Path | None = None) -> None:
        self.runs_dir = Path(runs_dir).resolve()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="gankit-lab-"))
        self.lock = threading.Condition()
        self.session: LabSession | None = None
        self.playing = False
        self.delay = 0.0  # slow motion: seconds between iterations
        self.closed = False
        self._waiting = 0  # views and commands queued for the lock: the worker lets them in
        self._rate = (0, time.perf_counter(), 0.0)  # (step, time, steps/s while playing)
        self._view_lock = threading.Lock()
        self._view_start, self._view_cost = 0.0, 0.0
        self._job: tuple[LabSession, dict[str, Any], dict[str, Any]] | None = None
        self._job_ready = threading.Event()
        threading.Thread(target=self._measure, name="gankit-lab-metrics", daemon=True).start()
        self._generation = 0
        self.thread = threading.Thread(target=self._work, name="gankit-lab", daemon=True)
        self.thread.start()

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """The lock, taken fairly: the worker yields it between iterations when someone waits."""
        self._waiting += 1
        with self.lock:
            self._waiting -= 1
            yield

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        self._job_ready.set()
        self.thread.join(5)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.closed and not (self.playing and self.session is not None):
                    self.lock.wait()
                if self.closed:
                    return
                s = self.session
                assert s is not None  # the wait above ends only when closed or with a session to play
                try:
                    s.iterate()
                except GankitError as exc:  # a non-finite loss: paused, the message in the page
                    self.playing, s.error = False, str(exc)
                except Exception as exc:  # noqa: BLE001 (a bug must pause the lab, never kill its thread)
                    log.warning("gankit lab: training failed: %s: %s", type(exc).__name__, exc)
                    self.playing, s.error = False, f"training stopped: {type(exc).__name__}: {str(exc)[:200]}"
                step = s.trainer.step
            n0, t0, rate = self._rate
            now = time.perf_counter()
            if now - t0 >= 0.5:
                self._rate = (step, now, (step - n0) / (now - t0) if step >= n0 else 0.0)
            if self.delay:
                time.sleep(self.delay)
            elif self._waiting:
                time.sleep(0.0002)  # let the waiting view or command take the lock

    # ------------------------------------------------------------------ commands
    def setup(self, settings: Any) -> dict[str, Any]:
        """A new session (the old one is kept when the settings are refused)."""
        with self._turn():
            was = self.playing
            self.playing = False
            try:
                self._generation += 1
                session = LabSession(settings, self.workdir / f"session-{self._generation}")
            except BaseException:
                self.playing = was
                raise
            old, self.session = self.session, session
        if old is not None:
            shutil.rmtree(old.run.root, ignore_errors=True)
        return {"ok": True, "settings": session.settings}

    def _session(self) -> LabSession:
        if self.session is None:
            raise ConfigError("no experiment is set up yet")
        return self.session

    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        cmd = body.get("cmd")
        if cmd == "reset":
            return self.setup(self._session().settings)
        with self._turn():
            s = self._session()
            if cmd == "play":
                s.error = ""
                self.playing = True
                self._rate = (s.trainer.step, time.perf_counter(), self._rate[2])
                self.lock.notify_all()
            elif cmd == "pause":
                self.playing = False
            elif cmd in ("step-d", "step-g"):
                self.playing = False
                s.error = ""
                try:
                    return {"ok": True, "record": s.single(cmd[-1])}
                except GankitError as exc:
                    s.error = str(exc)
                    raise
            elif cmd == "step":
                self.playing = False
                s.error = ""
                try:
                    s.iterate()
                except GankitError as exc:
                    s.error = str(exc)
                    raise
            elif cmd == "speed":
                delay = body.get("delay")
                if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= 5:
                    raise ConfigError("slow motion takes a delay between 0 and 5 seconds per step")
                self.delay = float(delay)
            elif cmd == "set":
                return {"ok": True, "record": s.set(body.get("changes"))}
            elif cmd == "save":
                run = s.save_as_run(self.runs_dir, body.get("name"))
                return {"ok": True, "run": str(run.root)}
            else:
                raise ConfigError("unknown lab command; use one of: play, pause, step, step-d, step-g, reset, "
                                  "speed, set, save")
            return {"ok": True}

    def state(self, since: int = 0) -> dict[str, Any]:
        """What the page draws: the session's counters and settings, the picture, the history after ``since``."""
        with self._view_lock:  # one view at a time draws from the copy of the weights
            if self.playing:  # tiny nets train at Python speed: every ms a view holds the GIL is a ms lost
                time.sleep(max(0.0, self._view_start + self._view_cost / VIEW_SHARE - time.perf_counter()))
            start = self._view_start = time.perf_counter()  # wall time: on a busy machine the views slow down first
            with self._turn():
                s = self.session
                if s is None:
                    return {"session": None}
                state = s.take()
                state.update(playing=self.playing, delay=self.delay)
                since = min(since, len(s.history))
                history = s.history[since:since + HISTORY_PAGE]
            picture = s.picture(state)
            snap = packed(picture)  # the packing holds the GIL too: part of the view's cost
            self._view_cost = 0.8 * self._view_cost + 0.2 * (time.perf_counter() - start)
        now = time.perf_counter()
        if (state["step"], state["d_updates"]) != s.metrics_at[:2] and now - s.metrics_at[2] >= METRICS_EVERY_S:
            s.metrics_at = (state["step"], state["d_updates"], now)
            self._job = (s, state, picture)  # the metrics thread measures the newest view it finds
            self._job_ready.set()
        state["steps_per_s"] = round(self._rate[2], 1) if self.playing else 0.0
        return {"session": state, "snap": snap, "history": history, "next": since + len(history)}

    def _measure(self) -> None:
        """The metrics thread: JS, W1, modes and D* of the newest view, off the page's path."""
        while True:
            self._job_ready.wait()
            self._job_ready.clear()
            if self.closed:
                return
            if self._job is None:
                continue
            s, state, snap = self._job
            try:
                record = s.measure(state, snap)
            except Exception as exc:  # noqa: BLE001 (a failed estimate costs one curve point)
                log.warning("gankit lab: metrics failed: %s: %s", type(exc).__name__, exc)
                continue
            with self._turn():
                s.history.append(record)



# ---------------------------------------------------------------------------------------------- HTTP

class LabHandler(Handler):
    """GET: the page, its assets, ``/api/lab/choices`` and ``/api/lab/state?since=N``; POST (JSON):
    ``/api/lab/setup`` (settings) and ``/api/lab/command`` ({"cmd": ...})."""

    lab: Lab  # set on the subclass make_lab_server builds
    limits = Limits()

    def _route(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if path in ("/", "/lab.html"):
            self._path(STATIC / "lab.html", "text/html; charset=utf-8")
        elif path.startswith("/static/"):
            self._static(path)
        elif path == "/api/lab/choices":
            self._json(choices())
        elif path == "/api/lab/state":
            since = query.get("since", "0")
            if not since.isdigit():
                raise Refused(HTTPStatus.BAD_REQUEST, "query parameter 'since' must be a whole number >= 0")
            self._json(self.lab.state(int(since)))
        else:
            raise Refused(HTTPStatus.NOT_FOUND, f"no page '{path}'")

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self._answer(self._post)

    def _post(self) -> None:
        if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the lab takes JSON (Content-Type: application/json)")
        origin = self.headers.get("Origin")
        if origin and urlsplit(origin).netloc != self.headers.get("Host", ""):
            raise Refused(HTTPStatus.FORBIDDEN, "a page of another origin may not drive the lab")
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a lab request is at most {MAX_BODY >> 10} KiB")
        try:
            body = json.loads(self.rfile.read(int(length)) or b"{}")
        except (ValueError, RecursionError):
            raise Refused(HTTPStatus.BAD_REQUEST, "the request is not valid JSON") from None
        if not isinstance(body, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, "the request must be a JSON object")
        path = urlsplit(self.path).path
        try:
            if path == "/api/lab/setup":
                answer = self.lab.setup(body.get("settings", {}))
            elif path == "/api/lab/command":
                answer = self.lab.command(body)
            else:
                raise Refused(HTTPStatus.NOT_FOUND, f"no action '{path[:60]}'")
        except GankitError as exc:  # the page shows the message; the server and the session live on
            self._send(HTTPStatus.BAD_REQUEST, encode({"error": str(exc)}), "application/json")
            return
        self._json(answer)


def make_lab_server(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 8060,
                    settings: dict[str, Any] | None = None, workdir: str | Path | None = None) -> Any:
    """A lab server (not started: call ``serve_forever``; ``server.lab.close()`` at the end); port 0 picks one.

    ``runs_dir`` is where "save as run" writes (created when missing); the session starts from ``settings``
    (the defaults when None).
    """
    runs = Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    lab = Lab(runs, workdir)
    try:
        lab.setup(settings or {})
        server = bind(type("LabHandler", (LabHandler,), {"lab": lab}), host, port)
    except BaseException:
        lab.close()
        raise
    server.lab = lab  # type: ignore[attr-defined]
    return server
