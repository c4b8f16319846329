"""The dashboard's HTTP API over plain sockets: what it answers, and every path it must refuse."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tomllib
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from gankit.cli import main
from gankit.serve.server import STATIC, find_runs, make_server
from gankit.train.stats import read_page
from serve_helpers import get_json, request


def test_runs_config_stats_metrics_frames_of_a_real_run(served) -> None:
    runs = get_json(served.url, "/api/runs")["runs"]
    assert [r["id"] for r in runs] == ["ring8"]
    r = runs[0]
    got = (r["name"], r["dataset"], r["objective"], r["step"], r["total"], r["kind"])
    assert got == ("ring8", "ring8", "nsgan", 20, 20, "toy")
    assert r["live"] is False  # it has finished its 20 steps

    cfg = get_json(served.url, "/api/config?run=ring8")
    assert cfg["config"]["train"]["steps"] == 20 and "steps: 20" in cfg["text"]

    s = get_json(served.url, "/api/stats?run=ring8&offset=0")
    assert [row["step"] for row in s["rows"]] == [5, 10, 15, 20] and not s["reset"]
    again = get_json(served.url, f"/api/stats?run=ring8&offset={s['offset']}&ino={s['ino']}")
    assert again["rows"] == [] and again["offset"] == s["offset"]

    m = get_json(served.url, "/api/metrics?run=ring8")
    assert m["rows"][-1]["step"] == 20 and "w1" in m["rows"][-1]

    f = get_json(served.url, "/api/frames?run=ring8")
    assert f["snapshots"] == [10, 20] and f["samples"] == [10, 20] and f["figures"]["montage"] == "montage.png"
    snap = get_json(served.url, "/api/snapshot?run=ring8&step=20")
    assert snap["step"] == 20 and snap["dim"] == 2 and len(snap["arrows"]) == len(snap["fake"])

    status, headers, body = request(served.url, "/file?run=ring8&path=samples/step-000010.png")
    assert status == 200 and headers["Content-Type"] == "image/png" and body[:8] == b"\x89PNG\r\n\x1a\n"
    status, headers, body = request(served.url, "/")
    assert status == 200 and b"/static/app.js" in body and "default-src 'self'" in headers["Content-Security-Policy"]
    status, headers, _ = request(served.url, "/static/app.js")
    assert status == 200 and headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert request(served.url, "/static/missing.js")[0] == 404
    assert request(served.url, "/api/snapshot?run=ring8&step=30")[0] == 404
    assert request(served.url, "/api/stats?run=nope")[0] == 404
    assert request(served.url, "/api/stats")[0] == 400
    assert request(served.url, "/api/snapshot?run=ring8&step=x")[0] == 400


def test_frames_list_every_figure_of_the_run(served, runs_dir: Path) -> None:
    """classes.png, stages.png and latent-*.png were missing from the dashboard's figures."""
    for name in ("classes.png", "stages.png", "latent-grid.png"):
        shutil.copy(runs_dir / "ring8" / "curves.png", runs_dir / "ring8" / name)
    figures = get_json(served.url, "/api/frames?run=ring8")["figures"]
    assert figures == {"classes": "classes.png", "curves": "curves.png", "latent-grid": "latent-grid.png",
                       "montage": "montage.png", "montage_gif": "montage.gif", "stages": "stages.png"}
    status, headers, _ = request(served.url, "/file?run=ring8&path=classes.png")
    assert status == 200 and headers["Content-Type"] == "image/png"


def test_non_finite_stats_reach_the_page_as_null(served, runs_dir: Path) -> None:
    with open(runs_dir / "ring8" / "stats.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 25, "d_loss": NaN, "g_loss": Infinity}\n')
    status, _, body = request(served.url, "/api/stats?run=ring8&offset=0")
    assert status == 200 and b"NaN" not in body and b"Infinity" not in body
    assert json.loads(body)["rows"][-1] == {"step": 25, "d_loss": None, "g_loss": None}


@pytest.mark.parametrize("path", [
    "/file?run=ring8&path=../../../../../../etc/passwd",
    "/file?run=ring8&path=" + quote("/etc/passwd", safe=""),
    "/file?run=../../../../../../etc&path=passwd",
    "/file?run=" + quote("/etc", safe="") + "&path=passwd",
    "/file?run=%2e%2e&path=x.png",
    "/file?run=ring8&path=%2e%2e/%2e%2e/secret.png",
    "/api/config?run=..",
    "/api/stats?run=" + quote("/tmp", safe=""),
    "/static/../server.py",
    "/static/%2e%2e/server.py",
    "/static/%2e%2e%2fserver.py",
    "/static/" + quote("/etc/passwd", safe=""),
])
def test_paths_outside_the_runs_folder_are_refused(served, runs_dir: Path, path: str) -> None:
    (runs_dir.parent / "secret.png").write_bytes(b"\x89PNG secret")
    status, _, body = request(served.url, path)
    assert status == 403, (path, status, body)
    assert b"PNG secret" not in body and b"root:" not in body


def test_symlinks_leading_out_are_refused_and_not_listed(served, runs_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"\x89PNG secret")
    (outside / "config.yaml").write_text("run:\n  name: outside\n")
    os.symlink(outside / "secret.png", runs_dir / "ring8" / "samples" / "step-000099.png")
    os.symlink(outside, runs_dir / "linked")
    status, _, body = request(served.url, "/file?run=ring8&path=samples/step-000099.png")
    assert status == 403 and b"secret" not in body
    assert request(served.url, "/api/config?run=linked")[0] == 403
    assert request(served.url, "/file?run=linked&path=secret.png")[0] == 403
    assert [r["id"] for r in get_json(served.url, "/api/runs")["runs"]] == ["ring8"]
    # a symlink that stays inside is fine
    os.symlink(runs_dir / "ring8" / "samples" / "step-000010.png", runs_dir / "ring8" / "samples" / "step-000098.png")
    assert request(served.url, "/file?run=ring8&path=samples/step-000098.png")[0] == 200


def test_only_images_are_served_from_a_run_and_only_get(served) -> None:
    assert request(served.url, "/file?run=ring8&path=config.yaml")[0] == 404
    assert request(served.url, "/file?run=ring8&path=checkpoints/last.pt")[0] == 404
    assert request(served.url, "/api/runs", method="POST")[0] == 501
    assert request(served.url, "/api/runs", method="DELETE")[0] == 501
    status, _, body = request(served.url, "/api/runs", method="HEAD")
    assert status == 200 and body == b""


def test_a_foreign_host_header_is_refused_on_loopback(served) -> None:
    port = urlsplit(served.url).port
    assert request(served.url, "/api/runs", host="evil.example")[0] == 403
    assert request(served.url, "/api/runs", host=f"evil.example:{port}")[0] == 403
    assert request(served.url, "/api/runs", host=f"localhost:{port}")[0] == 200
    assert request(served.url, "/api/runs", host=f"127.0.0.1:{port}")[0] == 200


def test_read_page_leaves_torn_lines_and_restarts_on_a_rewritten_file(tmp_path: Path) -> None:
    p = tmp_path / "stats.jsonl"
    p.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "d_lo')
    a = read_page(p, 0, None)
    assert [r["step"] for r in a["rows"]] == [1, 2] and a["offset"] == len('{"step": 1}\n{"step": 2}\n')
    assert (a["skipped"], a["more"], a["skip"]) == (0, False, False)
    with open(p, "a") as f:
        f.write('ss": 1.0}\n')
    b = read_page(p, a["offset"], a["ino"])
    assert b["rows"] == [{"step": 3, "d_loss": 1.0}] and not b["reset"] and b["offset"] == p.stat().st_size
    # replaced by a shorter file (a resumed run truncates): read from the start, flagged
    q = tmp_path / "new.jsonl"
    q.write_text('{"step": 1}\n')
    q.replace(p)
    c = read_page(p, b["offset"], b["ino"])
    assert c["reset"] and c["rows"] == [{"step": 1}]
    # replaced by a longer file with another inode: also a reset
    q.write_text('{"step": 1}\n' * 10)
    q.replace(p)
    d = read_page(p, c["offset"], c["ino"])
    assert d["reset"] and len(d["rows"]) == 10
    assert read_page(tmp_path / "missing.jsonl", 5, None) == {
        "rows": [], "offset": 0, "ino": None, "skip": False, "reset": True, "skipped": 0, "more": False}
    # a page budget stops before the record that would not fit; the next page starts with it
    e = read_page(p, 0, None, max_line=20, max_bytes=30)
    assert len(e["rows"]) == 2 and e["offset"] == 24 and e["more"]
    with pytest.raises(ValueError, match="max_line"):
        read_page(p, 0, None, max_line=31, max_bytes=30)


def test_find_runs_goes_three_levels_deep_and_skips_run_internals(tmp_path: Path) -> None:
    for rel in ("a", "sweep/runs/s0", "sweep/runs/s1", "x/y/z/too-deep", ".hidden/r"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "config.yaml").write_text("run: {}\n")
    (tmp_path / "a" / "samples" / "inner").mkdir(parents=True)
    (tmp_path / "a" / "samples" / "inner" / "config.yaml").write_text("")
    assert find_runs(tmp_path) == ["a", "sweep/runs/s0", "sweep/runs/s1"]
    assert find_runs(tmp_path / "a") == ["."]  # RUNS_DIR may be one run


def test_port_zero_picks_a_free_port_and_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    server = make_server(tmp_path, port=0)
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1" and port > 0
        with pytest.raises(Exception, match=f"cannot listen on 127.0.0.1:{port}"):
            make_server(tmp_path, port=port)
    finally:
        server.server_close()


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: no folder") and err.count("\n") == 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert main(["serve", str(tmp_path), "--port", str(s.getsockname()[1])]) == 2
    assert "cannot listen" in capsys.readouterr().err


def test_static_assets_are_package_data_and_reference_nothing_outside() -> None:
    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gankit"]
    package = root / "src" / "gankit"
    shipped = {p for g in globs for p in package.glob(g)}
    assets = [p for p in STATIC.iterdir() if p.is_file()]
    assert {p.name for p in assets} >= {"index.html", "app.js", "style.css"}
    assert set(assets) <= shipped
    for p in assets:
        text = p.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), p.name  # no CDN: it must work offline
        assert "http://" not in text and "https://" not in text, p.name


def test_cli_serve_prints_the_url_of_a_free_port_and_serves_until_stopped(
        runs_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from gankit.serve import server as server_mod

    made = []
    real_make_server = server_mod.make_server
    monkeypatch.setattr(server_mod, "make_server", lambda *a, **k: made.append(real_make_server(*a, **k)) or made[-1])
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(["serve", str(runs_dir), "--port", "0"])), daemon=True)
    thread.start()
    out, end = "", time.monotonic() + 10
    while "http://" not in out and time.monotonic() < end:
        time.sleep(0.02)
        out += capsys.readouterr().out
    m = re.search(r"serving (\S+) at (http://127\.0\.0\.1:(\d+)/)", out)
    assert m and Path(m.group(1)) == runs_dir.resolve() and int(m.group(3)) > 0, out
    assert [r["id"] for r in get_json(m.group(2), "/api/runs")["runs"]] == ["ring8"]
    made[0].shutdown()
    thread.join(10)
    assert result == [0]


def test_runs_dir_may_be_a_single_run(runs_dir: Path, serve_folder) -> None:
    url = serve_folder(runs_dir / "ring8").url
    runs = get_json(url, "/api/runs")["runs"]
    assert [(r["id"], r["name"], r["step"]) for r in runs] == [(".", "ring8", 20)]
    assert [r["step"] for r in get_json(url, "/api/stats?run=.")["rows"]] == [5, 10, 15, 20]
    assert request(url, "/file?run=.&path=montage.png")[0] == 200
    assert request(url, "/file?run=..&path=ring8/montage.png")[0] == 403
