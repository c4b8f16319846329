"""Fixtures for the dashboard tests: a served runs folder, a tiny real toy run, and headless Chromium.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it), driven over the DevTools protocol
with ``websocket-client``; the browser tests skip only when no chromium binary is on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TINY
from gankit import api
from gankit import config as config_mod
from gankit.serve.server import Limits, make_server, url_of

CHROMIUM = next((p for p in (os.environ.get("GANKIT_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), "/usr/bin/chromium") if p and Path(p).exists()), None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1600", "--remote-debugging-port=0"]


@pytest.fixture(scope="session")
def toy_run_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny ring8 run with snapshots at steps 10 and 20 (trained once per test process)."""
    out = tmp_path_factory.mktemp("template")
    cfg = config_mod.resolve("ring8",
                             overrides=[*TINY, f"run.out_dir={out}", "train.sample_every=10", "run.name=ring8"])
    return api.train(cfg).root


@pytest.fixture
def runs_dir(tmp_path: Path, toy_run_template: Path) -> Path:
    """A runs folder holding a copy of the tiny toy run as ``ring8``."""
    root = tmp_path / "runs"
    shutil.copytree(toy_run_template, root / "ring8")
    return root


class Served:
    def __init__(self, root: Path, limits: Limits | None = None) -> None:
        self.server = make_server(root, port=0, limits=limits)
        self.url = url_of(self.server)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve_folder() -> Iterator[Callable[..., Served]]:
    """Start a dashboard over any folder (with any limits); all are stopped after the test."""
    opened: list[Served] = []

    def start(root: Path, limits: Limits | None = None) -> Served:
        opened.append(Served(root, limits))
        return opened[-1]

    yield start
    for s in opened:
        s.close()


@pytest.fixture
def served(runs_dir: Path, serve_folder: Callable[[Path], Served]) -> Served:
    """The dashboard over ``runs_dir``."""
    return serve_folder(runs_dir)


class Page:
    """One Chromium tab over the DevTools protocol: navigate, evaluate JavaScript, wait for a condition."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=15, suppress_origin=True)
        self.next_id = 0
        self.errors: list[str] = []  # uncaught exceptions and console.error calls of the page

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Runtime.exceptionThrown":
                self.errors.append(str(msg["params"]["exceptionDetails"].get("exception", {}).get("description")))
            elif msg.get("method") == "Runtime.consoleAPICalled" and msg["params"].get("type") == "error":
                self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in msg["params"]["args"]))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def eval(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails'].get('exception', {}).get('description')}")
        return r["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout: float = 8.0) -> Any:
        """The first truthy value of ``expression``, polled every 50 ms; AssertionError after ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            try:
                value = self.eval(expression)
            except RuntimeError:
                value = None  # e.g. the element is not there yet
            if value:
                return value
            if time.monotonic() > end:
                status = self.eval("[...document.querySelectorAll('#status, #run-list')].map(e => e.textContent)")
                raise AssertionError(f"timed out waiting for {expression!r}; page status and run list: {status!r}")
            time.sleep(0.05)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    """A headless Chromium (one per test process); yields its DevTools HTTP address."""
    if CHROMIUM is None:
        if os.environ.get("GANKIT_REQUIRE_BROWSER"):  # set by .ci/run: CI must really drive the browser
            pytest.fail("GANKIT_REQUIRE_BROWSER is set but no chromium binary was found (see .ci/run)")
        pytest.skip("no chromium binary (Debian's 'chromium' package; .ci/run installs it)")
    pytest.importorskip("websocket", reason="websocket-client is in requirements-dev.txt")
    profile = tempfile.mkdtemp(prefix="gankit-chromium-")
    proc = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        end = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"chromium did not start (exit code {proc.poll()})")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium: str) -> Iterator[Page]:
    """A fresh tab, closed after the test."""
    req = urllib.request.Request(f"{chromium}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        target = json.loads(r.read())
    p = Page(target["webSocketDebuggerUrl"])
    p.call("Page.enable")
    p.call("Runtime.enable")
    yield p
    p.eval("new Promise(r => setTimeout(r, 50))")  # read the events still on the wire
    assert p.errors == [], "the page raised JavaScript errors"
    p.close()
    urllib.request.urlopen(f"{chromium}/json/close/{target['id']}", timeout=10).close()
