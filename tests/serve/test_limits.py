"""The dashboard's caps (issue 16): oversized and damaged log lines are skipped and counted with the offset
moving on, every list comes in pages no bigger than the page limit, files over a limit get a one-line 413
naming the limit and how to raise it, and many clients at once are all answered."""

from __future__ import annotations

import http.client
import json
import threading
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gankit.cli import main
from gankit.errors import ConfigError
from gankit.serve import server as server_mod
from gankit.serve.server import BACKLOG, Limits, find_runs, parse_limits
from gankit.train.stats import last_record, read_page
from serve_helpers import get_json, request

MiB = 1 << 20


def _pages(url: str, path: str, limit: int) -> list[dict]:
    """Every page of a log endpoint from offset 0, following ``offset``/``ino``/``skip`` while ``more``;
    each answer must fit in ``limit`` bytes."""
    out, cursor = [], "offset=0"
    for _ in range(100):
        status, _, body = request(url, f"{path}&{cursor}")
        assert status == 200 and len(body) <= limit, (status, len(body))
        page = json.loads(body)
        out.append(page)
        cursor = f"offset={page['offset']}&ino={page['ino']}&skip={int(page['skip'])}"
        if not page["more"]:
            return out
    raise AssertionError("more than 100 pages")


def test_a_10_mb_stats_line_is_skipped_counted_and_never_read_again(served, runs_dir: Path) -> None:
    stats = runs_dir / "ring8" / "stats.jsonl"
    with open(stats, "ab") as f:
        f.write(b'{"step": 21, "junk": "' + b"x" * (10 * MiB) + b'"}\n{"step": 22, "d_loss": 1.0}\n')
    pages = _pages(served.url, "/api/stats?run=ring8", Limits().page)
    assert [r["step"] for p in pages for r in p["rows"]] == [5, 10, 15, 20, 22]
    assert sum(p["skipped"] for p in pages) == 1
    offsets = [0] + [p["offset"] for p in pages]
    steps = [b - a for a, b in zip(offsets, offsets[1:])]
    assert all(0 < s <= Limits().page + Limits().line for s in steps)  # each answer reads a bounded piece
    assert offsets[-1] == stats.stat().st_size and len(pages) <= 4
    last = pages[-1]
    again = get_json(served.url, f"/api/stats?run=ring8&offset={last['offset']}&ino={last['ino']}")
    assert (again["rows"], again["skipped"], again["offset"], again["more"]) == ([], 0, last["offset"], False)


def test_read_page_holds_an_oversized_line_in_bounded_memory_and_resumes_inside_it(tmp_path: Path) -> None:
    p = tmp_path / "stats.jsonl"
    p.write_bytes(b'{"step": 1}\n{"step": 2, "junk": "' + b"x" * (10 * MiB))  # being written, no newline yet
    tracemalloc.start()
    try:
        a = read_page(p, 0, None, max_line=MiB, max_bytes=2 * MiB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB  # never the 10 MB line whole
    assert a["rows"] == [{"step": 1}] and a["skipped"] == 1 and a["skip"] and a["more"]
    pos, ino, skip = a["offset"], a["ino"], a["skip"]
    for _ in range(10):  # the rest of the line, in bounded pieces, counted once
        b = read_page(p, pos, ino, skip, max_line=MiB, max_bytes=2 * MiB)
        assert b["rows"] == [] and b["skipped"] == 0 and b["skip"] and b["offset"] > pos
        pos, skip = b["offset"], b["skip"]
        if not b["more"]:
            break
    assert pos == p.stat().st_size and skip
    with open(p, "ab") as f:
        f.write(b'"}\nnot json\n\n{"step": 3}\n')  # the line ends; a damaged line; a blank one (not counted)
    c = read_page(p, pos, ino, skip, max_line=MiB, max_bytes=2 * MiB)
    assert c["rows"] == [{"step": 3}] and c["skipped"] == 1 and not c["skip"] and not c["more"]


def test_a_record_whose_json_outgrows_the_line_limit_is_skipped(tmp_path: Path) -> None:
    p = tmp_path / "stats.jsonl"
    wide = json.dumps({"step": 1, "label": "é" * 290}, ensure_ascii=False)  # 600 bytes; 1,780 as ASCII JSON
    p.write_text(wide + '\n{"step": 2}\n', encoding="utf-8")
    page = read_page(p, 0, None, max_line=1000, max_bytes=4000)
    assert page["rows"] == [{"step": 2}] and page["skipped"] == 1
    assert len(read_page(p, 0, None, max_line=2000, max_bytes=4000)["rows"]) == 2


def test_last_record_reads_a_bounded_tail(tmp_path: Path) -> None:
    p = tmp_path / "stats.jsonl"
    p.write_bytes(b'{"step": 1}\n{"junk": "' + b"x" * (10 * MiB) + b'"}\n{"step": 2}\n{"step": 3, "torn')
    assert last_record(p) == {"step": 2}
    p.write_bytes(b'{"step": 1}\n{"junk": "' + b"x" * (10 * MiB) + b'"}\n')
    tracemalloc.start()
    try:
        assert last_record(p, max_line=MiB) is None  # gives up past 2 MiB of damage rather than read 10 MB
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB
    p.write_bytes(b'{"step": 1}\n' + b'{"step": 2}\n' * 100_000)  # 1.2 MB of good lines: the last one, from the tail
    assert last_record(p) == {"step": 2}
    assert last_record(tmp_path / "missing.jsonl") is None


def test_metrics_of_a_huge_file_come_in_pages_within_the_limit(runs_dir: Path, serve_folder) -> None:
    limits = Limits(page=MiB, line=MiB // 4)
    url = serve_folder(runs_dir, limits).url
    metrics = runs_dir / "ring8" / "metrics.jsonl"
    records = [{"step": i, "w1": 0.5, "note": "n" * 400} for i in range(100, 7100)]  # ~3 MB
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    pages = _pages(url, "/api/metrics?run=ring8", limits.page)
    assert len(pages) >= 3 and all(p["more"] for p in pages[:-1])
    assert [r["step"] for p in pages for r in p["rows"]] == [r["step"] for r in records]
    for log in ("alarms", "diagnostics"):  # the same reader behind every log
        (runs_dir / "ring8" / f"{log}.jsonl").write_text(f'{{"step": 7, "kind": "{log}"}}\n')
        assert [a["kind"] for a in get_json(url, f"/api/{log}?run=ring8")["rows"]] == [log]


def test_runs_and_frames_are_paged_by_index(served, runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        (runs_dir / f"r{i}").mkdir()
        (runs_dir / f"r{i}" / "config.yaml").write_text(f"run:\n  name: r{i}\n")
    seen, offset, nexts = [], 0, []
    while offset is not None:
        page = get_json(served.url, f"/api/runs?offset={offset}&limit=2")
        assert len(page["runs"]) <= 2 and page["total"] == 6
        seen += [r["id"] for r in page["runs"]]
        offset = page["next"]
        nexts.append(offset)
    assert seen == find_runs(runs_dir) and nexts == [2, 4, None]

    monkeypatch.setattr(server_mod, "FRAMES_PAGE", 1)
    a = get_json(served.url, "/api/frames?run=ring8")
    b = get_json(served.url, f"/api/frames?run=ring8&offset={a['next']}")
    assert (a["samples"], a["snapshots"], a["next"]) == ([10], [10], 1)
    assert (b["samples"], b["snapshots"], b["next"]) == ([20], [20], None) and b["figures"] == a["figures"]
    for bad in ("offset=-1", "offset=x", "limit=1.5"):
        status, _, body = request(served.url, f"/api/runs?{bad}")
        assert status == 400 and body.count(b"\n") == 1 and b"whole number" in body


def _one_line_413(url: str, path: str, limit: str) -> str:
    status, _, body = request(url, path)
    text = body.decode()
    assert status == 413 and text.count("\n") == 1, (status, text)
    assert f"{limit} limit" in text and f"gankit serve --limit {limit}=" in text
    return text


def test_files_over_a_limit_get_a_413_that_names_it(runs_dir: Path, serve_folder) -> None:
    run = runs_dir / "ring8"
    snap = json.loads((run / "snapshots" / "step-000020.json").read_text())
    snap["real"] = [[0.123456, 0.654321]] * 60_000  # 1.4 MB
    (run / "snapshots" / "step-000030.json").write_text(json.dumps({**snap, "step": 30}))
    (run / "snapshots" / "step-000040.json").write_text('{"step": 40, "real": [')
    url = serve_folder(runs_dir, Limits(page=MiB, line=MiB // 4, config=1024, image=100)).url
    text = _one_line_413(url, "/api/snapshot?run=ring8&step=30", "page")
    assert "snapshots/step-000030.json is 1.4 MiB" in text and "page limit of 1 MiB" in text
    status, _, body = request(url, "/api/snapshot?run=ring8&step=40")
    assert status == 422 and b"not valid JSON" in body and body.count(b"\n") == 1
    assert request(url, "/api/snapshot?run=ring8&step=20")[0] == 200
    _one_line_413(url, "/api/config?run=ring8", "config")
    runs = get_json(url, "/api/runs")["runs"]  # the run is still listed, from its folder name and its stats
    assert [(r["name"], r["step"], r["total"]) for r in runs] == [("ring8", 20, None)]
    _one_line_413(url, "/file?run=ring8&path=samples/step-000010.png", "image")
    # the defaults serve them all; an image is streamed whole
    url = serve_folder(runs_dir).url
    assert len(get_json(url, "/api/snapshot?run=ring8&step=30")["real"]) == 60_000
    status, headers, body = request(url, "/file?run=ring8&path=montage.png")
    assert status == 200 and int(headers["Content-Length"]) == len(body) == (run / "montage.png").stat().st_size


def test_a_yaml_alias_bomb_config_is_not_expanded(runs_dir: Path, served) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]  # 9^10 leaves if expanded
    (runs_dir / "ring8" / "config.yaml").write_text("\n".join(lines) + "\n")
    t = time.monotonic()
    cfg = get_json(served.url, "/api/config?run=ring8")
    assert cfg["config"] == {} and cfg["text"].startswith("a0:") and time.monotonic() - t < 5
    assert get_json(served.url, "/api/runs")["runs"][0]["name"] == "ring8"


def test_limits_are_checked_and_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_limits(["page=8", "line=2"]) == Limits(page=8 * MiB, line=2 * MiB)
    for items, match in ((["foo=1"], "NAME one of line, page, config, image"), (["page"], "NAME=MiB"),
                         (["page=x"], "size in MiB"), (["page=inf"], "finite"), (["image=0"], "positive"),
                         (["page=1.5"], "twice the line"), (["line=3"], "twice the line")):
        with pytest.raises(ConfigError, match=match):
            parse_limits(items)
    assert main(["serve", str(tmp_path), "--port", "0", "--limit", "page=0.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: the page limit (0.5 MiB) must be at least 1 MiB") and err.count("\n") == 1


def test_fifty_concurrent_clients_are_all_answered(served) -> None:
    assert served.server.request_queue_size == BACKLOG >= 256  # socketserver's default of 5 made clients wait seconds
    u = urlsplit(served.url)
    n = 50
    start = threading.Barrier(n, timeout=20)
    results: list[int | str] = []

    def client() -> None:
        try:
            start.wait()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
            conn.request("GET", "/api/stats?run=ring8&offset=0")
            r = conn.getresponse()
            results.append(r.status if len(json.loads(r.read())["rows"]) == 4 else "short")
            conn.close()
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            results.append(repr(exc))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(n)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert results == [200] * n and time.monotonic() - t < 30


def test_an_unexpected_error_is_a_one_line_500_and_the_server_goes_on(served, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a, **_k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(server_mod.Dashboard, "frames", boom)
    status, _, body = request(served.url, "/api/frames?run=ring8")
    assert status == 500 and body == b"internal error (ZeroDivisionError; the server's log has the details)\n"
    assert request(served.url, "/api/runs")[0] == 200

