"""Input limits: a point file huge in one dimension and an image too large to decode per step get one
line naming the file, the limit and the key that raises it; nothing is loaded or decoded first."""

from __future__ import annotations

import logging
import os
import struct
import sys
import warnings
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from gankit.data.captions import read_caption_folder
from gankit.data.images import MAX_PIXELS, ImageTooLarge, build_folder, decode_image
from gankit.data.toy import MAX_DIM, load_points
from gankit.errors import DataError

# ------------------------------------------------------------------------------------------ points


def test_a_point_file_wider_than_max_dim_is_refused_from_its_header(tmp_path):
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((4, MAX_DIM + 1), np.float32))
    with pytest.raises(DataError) as info:
        load_points(wide)
    assert str(info.value) == (f"point file '{wide}' has 1,025 columns, more than data.max_dim=1,024 columns (points "
                               "are rows of a few coordinates: is the file transposed?); raise data.max_dim if the "
                               "columns are real")
    assert load_points(wide, max_dim=MAX_DIM + 1).shape == (4, MAX_DIM + 1)  # the key raises the limit
    assert load_points(tmp_path / "ok.npy" if np.save(tmp_path / "ok.npy", np.ones((3, MAX_DIM))) is None
                       else None).shape == (3, MAX_DIM)  # at the limit: fine
    csv = tmp_path / "wide.csv"
    csv.write_text("# x,y\n\n" + ",".join(["1"] * (MAX_DIM + 1)) + "\n1,2\n")
    with pytest.raises(DataError, match=r"'.*wide.csv' has more than data.max_dim=1,024 columns .*raise data.max_dim"):
        load_points(csv)
    csv.write_text("# a comment, with, commas\n1,2\n3,4")
    assert load_points(csv, max_dim=2).tolist() == [[1, 2], [3, 4]]
    np.save(wide, np.zeros((3, 4, 5)))  # not 2-D: the old rule still applies
    with pytest.raises(DataError, match=r"must have shape \(N, D\) or \(N,\), got \(3, 4, 5\)"):
        load_points(wide)


def _in_limited_child(fn, extra_bytes: int = 3 << 29):
    """Run ``fn()`` in a forked child whose address space may grow by ``extra_bytes`` (1.5 GiB) at most;
    returns what it printed to stdout and stderr and its result, or raises if it crashed."""
    import io
    import json
    import resource

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 99
        try:
            os.close(read_fd)
            used = int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmSize")).split()[1]) * 1024
            resource.setrlimit(resource.RLIMIT_AS, (used + extra_bytes, used + extra_bytes))
            out, err = io.StringIO(), io.StringIO()
            sys.stdout, sys.stderr = out, err
            result = fn()
            with os.fdopen(write_fd, "w") as f:
                json.dump({"out": out.getvalue(), "err": err.getvalue(), "result": result}, f)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        text = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"the child failed: {status}"
    return json.loads(text)


def test_huge_point_files_end_in_one_line_under_a_memory_limit(tmp_path):
    """4 x 2,000,000 .npy and a 3,000,000-column CSV through `gankit train`, with the address space capped at
    1.5 GiB above what the process holds: one line and exit 2 each (before: an allocator traceback)."""
    from gankit.cli import main

    npy, csv = tmp_path / "wide.npy", tmp_path / "wide.csv"
    np.save(npy, np.zeros((4, 2_000_000), np.float64))
    csv.write_text("0.5," * 2_999_999 + "0.5\n")
    argv = ["-q", "train", "ring8", "data.name=points", "train.steps=2", f"run.out_dir={tmp_path / 'runs'}",
            "train.progress=false", "run.threads=1"]
    child = _in_limited_child(lambda: [main([*argv, f"data.path={p}"]) for p in (npy, csv)])
    assert child["result"] == [2, 2]
    lines = child["err"].splitlines()
    assert len(lines) == 2 and all(ln.startswith("gankit: error: point file '") for ln in lines), child["err"]
    assert "wide.npy' has 2,000,000 columns, more than data.max_dim=1,024" in lines[0]
    assert "wide.csv' has more than data.max_dim=1,024 columns" in lines[1]
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------------ images


def _png_claiming(path: Path, width: int, height: int) -> None:
    """A 1x1 PNG whose header says ``width`` x ``height`` (valid CRC): Pillow opens it as that size without
    decoding anything; decoding it would allocate the full image and then fail."""
    buf = path.with_suffix(".tmp")
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.read_bytes())
    buf.unlink()
    ihdr = data.index(b"IHDR")
    data[ihdr + 4: ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17: ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr: ihdr + 17])))
    path.write_bytes(bytes(data))


def _folder_cfg(folder: Path, stream: bool, **kw):
    return SimpleNamespace(path=str(folder), image_size=8, channels=1, labels=False, workers=0,
                           memory_mb=0 if stream else 1024, batch_size=4, **kw)


@pytest.mark.parametrize("stream", [False, True])
def test_images_over_max_pixels_are_skipped_naming_the_file(tmp_path, caplog, stream):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (20, 10), color=40 * i).save(folder / f"ok{i}.png")
    _png_claiming(folder / "scan.png", 13000, 13000)  # 169 million pixels: seconds per decode
    _png_claiming(folder / "bomb.png", 20000, 20000)  # beyond Pillow's own decompression-bomb error
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, logger="gankit"):
        warnings.simplefilter("always")
        ds = build_folder(_folder_cfg(folder, stream))
        x = ds.sample(6)
    assert tuple(x.shape) == (6, 1, 8, 8) and len(ds) == 3
    assert [str(w.message) for w in caught] == []  # Pillow's DecompressionBombWarning is silenced
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert messages[0] == (f"skipped 2 image file(s) of 5 in '{folder}' that are too large: "
                           f"image '{folder / 'bomb.png'}' has more than data.max_pixels=64,000,000 pixels; "
                           "raise data.max_pixels to use it, or "
                           "shrink the file (also Pillow's decompression-bomb limit)")
    # a lower limit applies to real images too, and a folder with nothing under it is one DataError
    with pytest.raises(DataError) as info:
        build_folder(_folder_cfg(folder, stream, max_pixels=199))
    assert str(info.value) == (f"all 5 image files in '{folder}' are too large: image '{folder / 'bomb.png'}' has more "
                               "than data.max_pixels=199 pixels; raise data.max_pixels to use it, or shrink the file "
                               "(also Pillow's decompression-bomb limit)")
    assert len(build_folder(_folder_cfg(folder, stream, max_pixels=200))) == 3  # 20 x 10 = 200: at the limit


def test_decoding_refuses_an_oversized_image_before_decoding_it(tmp_path):
    path = tmp_path / "scan.png"
    _png_claiming(path, 13000, 13000)
    with pytest.raises(ImageTooLarge, match=r"is 13000 x 13000: more than data.max_pixels=64,000,000 pixels"):
        decode_image(path, 8, 1)
    assert MAX_PIXELS == 64_000_000
    (tmp_path / "scan.txt").write_text("a caption\n")
    with pytest.raises(DataError, match=r"^image '.*scan.png' is 13000 x 13000: more than data.max_pixels"):
        read_caption_folder(tmp_path, 8, 3)
