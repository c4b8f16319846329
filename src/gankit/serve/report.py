"""``gankit report RUN``: one self-contained HTML file of a run, to share.

Everything is inside the file: the config as text, the training curves (redrawn from stats.jsonl, so a run
still training gets its current curves), the metrics table with the real-vs-real floor when ``gankit eval``
recorded one, sample grids at the lecture's steps, the training montage (PNG and animated GIF), the
diagnostics figure and every other figure the run wrote (:meth:`RunDir.figures`: classes.png, stages.png,
latent-grid.png, latent-codes.png, ...), each image a base64 ``data:`` URI with a caption. No script, no
stylesheet or font from elsewhere: it opens offline and can be mailed as it is.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import tempfile
from pathlib import Path
from typing import Any

from gankit.errors import ConfigError
from gankit.fileio import atomic_write_text
from gankit.train.rundir import RunDir
from gankit.train.stats import read_jsonl
from gankit.yamlio import read_yaml

MAX_GIF_BYTES = 8 << 20  # a longer animation is left out (the PNG montage stays)
SKIP_METRIC_KEYS = {"step", "samples", "ema"}
FIGURE_CAPTIONS = {  # what the recipes' own end-of-run figures show; any other figure is named by its file
    "classes.png": "samples of each class from fixed noise, one row per class",
    "stages.png": "coarse-to-fine sampling: every stage of the generator, one row per sample",
    "latent-grid.png": "the decoder over an evenly spaced lattice of 2-D codes",
    "latent-codes.png": "codes of held-out samples, coloured by class",
}

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 1100px;
       margin: 1.5em auto; padding: 0 1em; }
h1 { margin-bottom: 0.1em; } h2 { border-bottom: 1px solid #ddd; margin-top: 1.6em; }
.muted { color: #777; }
pre { background: #f6f6f6; padding: 0.6em; overflow: auto; max-height: 30em; font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { display: inline-block; margin: 0.4em; vertical-align: top; }
figcaption { text-align: center; font-size: 12px; color: #555; }
img { max-width: 100%; }
img.grid { image-rendering: pixelated; max-width: 320px; }
.alarms { color: #a33; }
"""


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _png_of(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def _img(data: bytes, mime: str, alt: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<img{c} alt="{html.escape(alt)}" src="{data_uri(data, mime)}">'


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-" if v is None else html.escape(str(v))
    return f"{v:.4g}"


def metrics_html(rows: list[dict[str, Any]]) -> str:
    """A table of every metrics.jsonl record (one column each) and the last recorded real-vs-real floor."""
    rows = [r for r in rows if any(isinstance(v, (int, float)) and not isinstance(v, bool) and k not in SKIP_METRIC_KEYS
                                   for k, v in r.items())]
    if not rows:
        return '<p class="muted">No metrics recorded (eval.metrics is empty, or the run has not finished).</p>'
    names: list[str] = []
    for r in rows:
        names += [k for k, v in r.items() if k not in SKIP_METRIC_KEYS and k not in names
                  and isinstance(v, (int, float)) and not isinstance(v, bool)]
    floor = next((r["floor"] for r in reversed(rows) if isinstance(r.get("floor"), dict)), None)
    head = "".join(f"<th>step {r.get('step', '?')}"
                   f"{' (' + html.escape(str(r['source'])) + ')' if r.get('source') else ''}</th>" for r in rows)
    if floor is not None:
        head += f'<th title="{html.escape(str(floor.get("kind", "")))}">real vs real</th>'
    body = []
    for n in names:
        cells = "".join(f"<td>{_fmt(r.get(n))}</td>" for r in rows)
        if floor is not None:
            cells += f"<td>{_fmt(floor.get(n))}</td>"
        body.append(f"<tr><td>{html.escape(n)}</td>{cells}</tr>")
    note = (f'<p class="muted">real vs real: {html.escape(str(floor.get("kind", "")))}, scored the same way '
            "(what a perfect generator would get).</p>" if floor is not None else "")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(body)}</table>{note}"


def _montage(run: RunDir, frames: list[tuple[int, Path]]) -> tuple[bytes | None, bytes | None]:
    """montage.png and montage.gif of the run, or drawn now from its frames when training has not ended."""
    from gankit.viz import make_montage, pick_steps

    if run.montage_png.is_file():
        gif = run.montage_gif.read_bytes() if run.montage_gif.is_file() else None
        return run.montage_png.read_bytes(), gif
    if not frames:
        return None, None
    chosen = set(pick_steps([s for s, _ in frames]))
    with tempfile.TemporaryDirectory(prefix="gankit-report-") as tmp:
        png, gif = Path(tmp) / "montage.png", Path(tmp) / "montage.gif"
        make_montage([f for f in frames if f[0] in chosen], png, gif, gif_frames=frames)
        return png.read_bytes(), gif.read_bytes()


def build_report(run: RunDir) -> str:
    """The HTML text of the report of ``run`` (see the module docstring)."""
    from gankit.viz import diagnostics_figure, pick_steps, stats_figure

    config_text = run.config.read_text(encoding="utf-8") if run.config.is_file() else ""
    try:
        cfg = read_yaml(config_text, f"'{run.config}'") or {}
    except ConfigError:
        cfg = {}

    def sect(name: str) -> dict[str, Any]:
        value = cfg.get(name) if isinstance(cfg, dict) else None
        return value if isinstance(value, dict) else {}

    name = sect("run").get("name") or run.root.name
    stats = read_jsonl(run.stats)
    last_step = stats[-1].get("step", 0) if stats else 0
    total = sect("train").get("steps")
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"<h1>{html.escape(str(name))}</h1>",
        f'<p class="muted">{html.escape(str(sect("data").get("name", "")))}'
        f' · {html.escape(str(sect("model").get("objective", "")))}'
        f' · generator {html.escape(str(sect("generator").get("name", "")))} · step {last_step}'
        f'{" of " + str(total) if total else ""} · report made {when} by gankit report</p>',
    ]

    parts.append("<h2>Metrics</h2>" + metrics_html(read_jsonl(run.metrics)))

    parts.append("<h2>Training curves</h2>")
    if stats:
        parts.append(_img(_png_of(stats_figure(stats, title=f"{name}: training curves")), "image/png",
                          "training curves"))
    elif run.curves.is_file():
        parts.append(_img(run.curves.read_bytes(), "image/png", "training curves"))
    else:
        parts.append('<p class="muted">No stats.jsonl records yet.</p>')

    frames = run.sample_frames()
    parts.append("<h2>Samples from fixed noise</h2>")
    if frames:
        chosen = set(pick_steps([s for s, _ in frames]))
        grid = "grid" if not run.snapshots.is_dir() else ""
        parts += [f"<figure>{_img(p.read_bytes(), 'image/png', f'step {s}', grid)}"
                  f"<figcaption>step {s}</figcaption></figure>" for s, p in frames if s in chosen]
    else:
        parts.append('<p class="muted">No sample frames (train.sample_every=0, or none written yet).</p>')

    png, gif = _montage(run, frames)
    if png is not None:
        parts.append("<h2>Training montage</h2>" + _img(png, "image/png", "training montage"))
        if gif is not None and len(gif) <= MAX_GIF_BYTES:
            parts.append("<h3>Animated</h3>" + _img(gif, "image/gif", "training animation"))

    shown = {run.curves, run.montage_png, run.montage_gif, run.diagnostics_png}
    others = [p for p in run.figures() if p not in shown
              and (p.suffix.lower() == ".png" or p.stat().st_size <= MAX_GIF_BYTES)]
    if others:
        parts.append("<h2>Figures</h2>")
        parts += [f"<figure>{_img(p.read_bytes(), 'image/gif' if p.suffix.lower() == '.gif' else 'image/png', p.name)}"
                  f"<figcaption>{html.escape(p.name)}: {html.escape(FIGURE_CAPTIONS.get(p.name, p.stem))}</figcaption>"
                  "</figure>" for p in others]

    diag, alarms = read_jsonl(run.diagnostics), read_jsonl(run.alarms)
    if diag:
        figure = diagnostics_figure(diag, alarms, title=f"{name}: diagnostics")
        parts.append("<h2>Diagnostics</h2>" + _img(_png_of(figure), "image/png", "diagnostics"))
    elif run.diagnostics_png.is_file():
        parts.append("<h2>Diagnostics</h2>" + _img(run.diagnostics_png.read_bytes(), "image/png", "diagnostics"))
    if alarms:
        items = "".join(f"<li>{html.escape(str(a.get('kind')))} at step {a.get('step')}: "
                        f"{html.escape(str(a.get('message', '')))}</li>" for a in alarms)
        parts.append(f'<ul class="alarms">{items}</ul>')

    parts.append(f"<h2>Config</h2><pre>{html.escape(config_text)}</pre>")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(str(name))} · gankit report</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def write_report(run: RunDir | str | Path, out: str | Path) -> int:
    """Write the report of ``run`` to ``out`` (atomically); returns its size in bytes."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    text = build_report(run)
    atomic_write_text(out, text)
    return len(text.encode("utf-8"))
