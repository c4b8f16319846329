// gankit dashboard: plain JavaScript, no libraries (it must work offline).
// Polls the JSON API of gankit/serve/server.py once a second; draws curves and the toy-data view on canvases.
"use strict";

const POLL_MS = 1000;
const REAL = "#1b7837", FAKE = "#762a83", ARROW = "#222222", D_COLOR = "#1f77b4", PDATA = "#000000";
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
const SERIES_COLORS = { d_loss: "#d62728", g_loss: "#1f77b4", d_real: REAL, d_fake: FAKE };
const D_LOSS_AT_HALF = 2 * Math.log(2);
const ARROW_FRACTION = 0.07, MAX_ARROWS = 300;

const $ = (sel, root = document) => root.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
const q = (params) => new URLSearchParams(params).toString();
async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(`${url}: ${r.status} ${(await r.text()).trim()}`);
  return r.json();
}
// The server answers at most a few MiB at a time (gankit serve --limit page=MiB): these follow its pages.
async function getPages(path, params) {  // a list paged by index (runs, frames): every page, in order
  const pages = [];
  let offset = 0;
  do {
    const p = await getJSON(path + "?" + q({ ...params, offset }));
    pages.push(p);
    offset = p.next;
  } while (offset !== null && offset !== undefined);
  return pages;
}

class Tail {  // a JSON-lines log of a run (stats, metrics, alarms), read on from where the last read stopped
  constructor(log, run) { Object.assign(this, { log, run, rows: [], offset: 0, ino: null, skip: false, skipped: 0 }); }

  async pull() {  // true when rows changed
    let changed = false, s;
    do {
      s = await getJSON(`/api/${this.log}?` + q({ run: this.run, offset: this.offset, ino: this.ino ?? "", skip: this.skip ? 1 : "" }));
      if (s.reset) { this.rows = []; this.skipped = 0; changed = true; }
      this.offset = s.offset; this.ino = s.ino; this.skip = s.skip; this.skipped += s.skipped;
      for (const r of s.rows) this.rows.push(r);
      changed = changed || s.rows.length > 0;
    } while (s.more);
    return changed;
  }
}

function fmt(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v !== "number") return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(3);
  return String(+v.toPrecision(4));
}

// ---------------------------------------------------------------------------------------- line charts
// Panels as in viz/curves.py: losses, D outputs, D accuracy, gradient norms, learning rates.
function chartGroups(keys) {
  const losses = ["d_loss", "g_loss"].filter((k) => keys.has(k));
  for (const k of keys) if (k.endsWith("loss") && !losses.includes(k)) losses.push(k);
  const pick = (f) => [...keys].filter(f).sort();
  return [
    { id: "loss", title: "losses", keys: losses, refs: keys.has("d_loss") ? [[D_LOSS_AT_HALF, "2 log 2"]] : [] },
    { id: "d", title: "discriminator outputs", keys: ["d_real", "d_fake"].filter((k) => keys.has(k)), refs: [[0.5, "1/2"]] },
    { id: "acc", title: "discriminator accuracy", keys: pick((k) => k.startsWith("d_acc")), refs: [[0.5, "chance"]] },
    { id: "grad", title: "gradient norms", keys: pick((k) => k.endsWith("grad_norm")), refs: [], log: true },
    { id: "lr", title: "learning rates", keys: pick((k) => k.startsWith("lr")), refs: [] },
  ].filter((g) => g.keys.length);
}

function drawChart(canvas, group, rows) {
  const dpr = window.devicePixelRatio || 1;
  const W = canvas.clientWidth || 320, H = canvas.clientHeight || 190;
  canvas.width = W * dpr; canvas.height = H * dpr;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  let L = 48;
  const R = 8, T = 18, B = 22;
  const xs = rows.map((r) => r.step);
  let ylo = Infinity, yhi = -Infinity;
  const usable = (v) => typeof v === "number" && isFinite(v) && (!group.log || v > 0);
  for (const r of rows) for (const k of group.keys) if (usable(r[k])) { ylo = Math.min(ylo, r[k]); yhi = Math.max(yhi, r[k]); }
  for (const [v] of group.refs) if (isFinite(ylo)) { ylo = Math.min(ylo, v); yhi = Math.max(yhi, v); }
  ctx.font = "11px sans-serif"; ctx.fillStyle = "#333";
  ctx.fillText(group.title, L, 12);
  if (!rows.length || !isFinite(ylo)) { ctx.fillText("no data yet", L, H / 2); return; }
  const tf = group.log ? Math.log10 : (v) => v;
  let a = tf(ylo), b = tf(yhi);
  if (a === b) { const d = a ? 0.1 * Math.abs(a) : 0.5; a -= d; b += d; }  // a constant: a flat line mid-panel
  const pad = 0.05 * (b - a); a -= pad; b += pad;
  if (!group.log && ylo >= 0) a = Math.max(a, 0);  // a series never below 0 (a rate decaying to 0): no negative ticks
  const ticks = [0, 1, 2, 3, 4].map((i) => fmt(group.log ? 10 ** (a + (i / 4) * (b - a)) : a + (i / 4) * (b - a)));
  canvas.dataset.ticks = ticks.join(" ");
  L = Math.max(36, 6 + Math.max(...ticks.map((t) => ctx.measureText(t).width)));
  const x0 = xs[0], x1 = xs[xs.length - 1] === x0 ? x0 + 1 : xs[xs.length - 1];
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y) => T + (1 - (tf(y) - a) / (b - a)) * (H - T - B);
  // axes and ticks
  ctx.strokeStyle = "#ccc"; ctx.lineWidth = 1;
  ctx.strokeRect(L, T, W - L - R, H - T - B);
  ctx.fillStyle = "#555"; ctx.textAlign = "right";
  ticks.forEach((t, i) => ctx.fillText(t, L - 3, T + (1 - i / 4) * (H - T - B) + 3));
  for (let i = 0; i <= 4; i++) {
    ctx.textAlign = i === 0 ? "left" : i === 4 ? "right" : "center";
    ctx.fillText(String(Math.round(x0 + (i / 4) * (x1 - x0))), L + (i / 4) * (W - L - R), H - 8);
  }
  ctx.textAlign = "left";
  ctx.setLineDash([4, 3]); ctx.strokeStyle = "#999";
  for (const [v] of group.refs) { ctx.beginPath(); ctx.moveTo(L, py(v)); ctx.lineTo(W - R, py(v)); ctx.stroke(); }
  ctx.setLineDash([]);
  let lx = L + ctx.measureText(group.title).width + 14;
  group.keys.forEach((k, i) => {
    const color = SERIES_COLORS[k] || PALETTE[i % PALETTE.length];
    ctx.strokeStyle = color; ctx.lineWidth = 1.4; ctx.beginPath();
    let pen = false;
    for (const r of rows) {
      if (!usable(r[k])) { pen = false; continue; }   // NaN, null or missing: a gap
      const X = px(r.step), Y = py(r[k]);
      if (pen) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
      pen = true;
    }
    ctx.stroke();
    ctx.fillStyle = color;
    ctx.fillText(k, lx, 12);
    lx += ctx.measureText(k).width + 12;
  });
}

// ----------------------------------------------------------------------------------- toy-data view
// GAN Lab's picture: D's heatmap (purple 0 ... white 1/2 ... green 1), real and fake points, G's push.
function prgn(d) {
  const lo = [118, 42, 131], mid = [247, 247, 247], hi = [27, 120, 55];
  const t = Math.max(0, Math.min(1, d));
  const [c0, c1, s] = t < 0.5 ? [lo, mid, t / 0.5] : [mid, hi, (t - 0.5) / 0.5];
  return c0.map((v, i) => Math.round(v + (c1[i] - v) * s));
}

function arrowVectors(arrows, span) {
  // as viz/toy.py: the 90th percentile length becomes ARROW_FRACTION * span; longer ones are clipped
  const norms = arrows.map((v) => Math.hypot(...v.map((c) => c || 0)));
  const sorted = norms.filter(isFinite).sort((p, r) => p - r);
  let ref = sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(0.9 * (sorted.length - 1)))] : 0;
  if (!(ref > 0)) ref = sorted.length ? sorted[sorted.length - 1] : 0;
  if (!(ref > 0)) return arrows.map((v) => v.map(() => 0));
  return arrows.map((v, i) => {
    const n = norms[i];
    if (!(n > 0) || !isFinite(n)) return v.map(() => 0);
    const len = (Math.min(n / ref, 1) * ARROW_FRACTION * span) / n;
    return v.map((c) => c * len);
  });
}

function drawArrow(ctx, x, y, dx, dy) {
  const len = Math.hypot(dx, dy);
  if (len < 0.5) return;
  const h = Math.min(5, 0.4 * len), ang = Math.atan2(dy, dx);
  ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + dx, y + dy);
  ctx.lineTo(x + dx - h * Math.cos(ang - 0.45), y + dy - h * Math.sin(ang - 0.45));
  ctx.moveTo(x + dx, y + dy);
  ctx.lineTo(x + dx - h * Math.cos(ang + 0.45), y + dy - h * Math.sin(ang + 0.45));
  ctx.stroke();
}

function drawSnapshot(canvas, snap) {
  const dpr = window.devicePixelRatio || 1;
  const W = canvas.clientWidth || 480, H = snap.dim === 2 ? W : Math.round(0.65 * W);
  canvas.style.height = H + "px";
  canvas.width = W * dpr; canvas.height = H * dpr;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  if (snap.dim === 2) draw2d(ctx, W, H, snap); else draw1d(ctx, W, H, snap);
}

function draw2d(ctx, W, H, snap) {
  const [[xlo, xhi], [ylo, yhi]] = snap.bounds;
  const px = (x) => ((x - xlo) / (xhi - xlo)) * W, py = (y) => (1 - (y - ylo) / (yhi - ylo)) * H;
  if (snap.grid) {
    const nx = snap.grid.x.length, ny = snap.grid.y.length;
    const img = new ImageData(nx, ny);
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      const c = prgn(snap.grid.d[j][i] ?? 0.5), o = 4 * ((ny - 1 - j) * nx + i);  // row 0 is y = ylo: the bottom
      img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 150;
    }
    const off = document.createElement("canvas");
    off.width = nx; off.height = ny;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, W, H);
  }
  const dots = (pts, color, r, ring) => {
    ctx.fillStyle = color; ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 0.8;
    for (const [x, y] of pts) {
      if (!isFinite(x) || !isFinite(y)) continue;
      ctx.beginPath(); ctx.arc(px(x), py(y), r, 0, 2 * Math.PI); ctx.fill();
      if (ring) ctx.stroke();
    }
  };
  dots(snap.fake || [], FAKE, 2.2, false);
  dots(snap.real || [], REAL, 2.6, true);  // on top, ringed: the data stays visible under a crowd of fakes
  if (snap.arrows && snap.fake) {
    const step = Math.max(1, Math.ceil(snap.fake.length / MAX_ARROWS));
    const idx = snap.fake.map((_, i) => i).filter((i) => i % step === 0);
    const vec = arrowVectors(idx.map((i) => snap.arrows[i]), Math.max(xhi - xlo, yhi - ylo));
    ctx.strokeStyle = ARROW; ctx.globalAlpha = 0.8; ctx.lineWidth = 1;
    idx.forEach((i, k) => {
      const [x, y] = snap.fake[i], [dx, dy] = vec[k];
      if (isFinite(x) && isFinite(y)) drawArrow(ctx, px(x), py(y), px(x + dx) - px(x), py(y + dy) - py(y));
    });
    ctx.globalAlpha = 1;
  }
}

function histogram(values, lo, hi, bins) {
  const h = new Array(bins).fill(0), w = (hi - lo) / bins;
  let n = 0;
  for (const v of values) if (isFinite(v) && v >= lo && v <= hi) { h[Math.min(bins - 1, Math.floor((v - lo) / w))]++; n++; }
  return h.map((c) => (n ? c / (n * w) : 0));  // a density
}

function draw1d(ctx, W, H, snap) {
  const [[lo, hi]] = snap.bounds, bins = 50, B = 18, T = 6;
  const real = (snap.real || []).map((p) => p[0]), fake = (snap.fake || []).map((p) => p[0]);
  const hr = histogram(real, lo, hi, bins), hf = histogram(fake, lo, hi, bins);
  let top = Math.max(...hr, ...hf, 1e-9);
  if (snap.density) top = Math.max(top, ...snap.density.p.filter(isFinite));
  const px = (x) => ((x - lo) / (hi - lo)) * W, py = (y) => T + (1 - y / (1.05 * top)) * (H - T - B);
  const pd = (d) => T + (1 - d) * (H - T - B);  // D(x) on its own [0, 1] scale
  const bw = W / bins;
  for (const [h, color] of [[hr, REAL], [hf, FAKE]]) {
    ctx.fillStyle = color; ctx.globalAlpha = 0.35;
    h.forEach((v, i) => ctx.fillRect(i * bw, py(v), bw - 1, py(0) - py(v)));
  }
  ctx.globalAlpha = 1;
  const line = (xs, ys, color, f, dash) => {
    ctx.strokeStyle = color; ctx.lineWidth = 1.6; ctx.setLineDash(dash || []); ctx.beginPath();
    xs.forEach((x, i) => (i ? ctx.lineTo(px(x), f(ys[i])) : ctx.moveTo(px(x), f(ys[i]))));
    ctx.stroke(); ctx.setLineDash([]);
  };
  if (snap.density) line(snap.density.x, snap.density.p, PDATA, py, [5, 3]);
  if (snap.grid) line(snap.grid.x, snap.grid.d.map((d) => d ?? 0.5), D_COLOR, pd);
  ctx.strokeStyle = "#bbb"; ctx.setLineDash([2, 3]); ctx.beginPath(); ctx.moveTo(0, pd(0.5)); ctx.lineTo(W, pd(0.5)); ctx.stroke();
  ctx.setLineDash([]);
  if (snap.arrows && fake.length) {  // G's push on a subsample of fake points, along the x axis
    const step = Math.max(1, Math.ceil(fake.length / 60));
    const idx = fake.map((_, i) => i).filter((i) => i % step === 0);
    const vec = arrowVectors(idx.map((i) => [snap.arrows[i][0]]), hi - lo);
    ctx.strokeStyle = ARROW; ctx.lineWidth = 1;
    idx.forEach((i, k) => drawArrow(ctx, px(fake[i]), H - B + 8, px(fake[i] + vec[k][0]) - px(fake[i]), 0));
  }
  ctx.fillStyle = "#555"; ctx.font = "11px sans-serif"; ctx.textAlign = "right";
  for (const d of [0, 0.5, 1]) ctx.fillText(`D ${d}`, W - 2, pd(d) + (d === 1 ? 10 : -2));  // D's own scale
  ctx.textAlign = "left";
  ctx.fillText(fmt(lo), 2, H - 2); ctx.textAlign = "right"; ctx.fillText(fmt(hi), W - 2, H - 2); ctx.textAlign = "left";
}

function legend(snap) {
  const items = [[REAL, "real"], [FAKE, "fake (G)"], [ARROW, "G's push (−∇ of G's loss)"]];
  if (snap.dim === 1) items.push([D_COLOR, snap.d_label || "D(x)"]);
  if (snap.density) items.push([PDATA, "p_data"]);
  const p = el("p", { class: "legend" });
  if (snap.dim === 2 && snap.grid) p.append(`heatmap: ${snap.d_label || "D(x)"} (purple 0, green 1)`);
  for (const [color, label] of items) {
    const chip = el("i"); chip.style.background = color;
    p.append(chip, label);
  }
  return p;
}

// ------------------------------------------------------------------------------------------ a pane
class Pane {
  constructor(runId, node, closable) {
    this.run = runId; this.node = node;
    this.stats = new Tail("stats", runId); this.metrics = new Tail("metrics", runId); this.alarms = new Tail("alarms", runId);
    this.frames = { samples: [], snapshots: [], figures: {} };
    this.sampleFollow = true; this.snapFollow = true;
    this.snapCache = new Map(); this.shownSnap = null; this.shownSample = null;
    this.groupsKey = "";
    node.hidden = false; node.replaceChildren();
    node.dataset.run = runId; node.dataset.step = "0";
    this.title = el("span", { class: "name", text: runId });
    this.stepLabel = el("span", { class: "step", text: "" });
    const h = el("h2", {}, this.title, this.stepLabel);
    if (closable) h.append(el("button", { text: "close", onclick: () => closePane(1) }));
    this.configPre = el("pre", { class: "config" });
    this.charts = el("div", { class: "charts" });
    this.metricsBox = el("div", { class: "metrics-box" }, el("p", { class: "muted", text: "no metrics yet" }));
    this.framesBox = el("div", {});
    node.append(h, el("details", {}, el("summary", { text: "config" }), this.configPre),
      el("h3", { text: "training curves" }), this.charts,
      el("h3", { text: "metrics" }), this.metricsBox, this.framesBox);
    this.buildFrames();
    getJSON("/api/config?" + q({ run: runId })).then((c) => {
      this.configPre.textContent = c.text;
      const r = c.config.run || {}, m = c.config.model || {}, d = c.config.data || {};
      this.title.textContent = `${r.name || runId} · ${d.name || ""} · ${m.objective || ""}`;
      this.total = (c.config.train || {}).steps;
    }).catch(report);
  }

  buildFrames() {
    this.sampleImg = el("img", { class: "sample", alt: "sample grid" });
    this.sampleRange = el("input", { type: "range", min: 0, max: 0, value: 0, class: "sample-slider" });
    this.sampleStep = el("span", { class: "sample-step" });
    this.sampleRange.addEventListener("input", () => {
      this.sampleFollow = +this.sampleRange.value === this.frames.samples.length - 1;
      this.showSample();
    });
    this.samplesBox = el("section", { class: "frames samples", hidden: "" },
      el("h3", { text: "samples from fixed noise" }),
      el("div", { class: "controls" }, el("span", { text: "step" }), this.sampleRange, this.sampleStep), this.sampleImg);
    this.snapCanvas = el("canvas", { class: "toy" });
    this.snapRange = el("input", { type: "range", min: 0, max: 0, value: 0, class: "snapshot-slider" });
    this.snapStep = el("span", { class: "snapshot-step" });
    this.snapLegend = el("div", {});
    this.snapRange.addEventListener("input", () => {
      this.snapFollow = +this.snapRange.value === this.frames.snapshots.length - 1;
      this.showSnapshot();
    });
    this.snapBox = el("section", { class: "frames toy-view", hidden: "" },
      el("h3", { text: "live view: real and generated points, D, G's push" }),
      el("div", { class: "controls" }, el("span", { text: "step" }), this.snapRange, this.snapStep),
      this.snapCanvas, this.snapLegend);
    this.figuresBox = el("section", { class: "frames figures" });
    this.framesBox.append(this.snapBox, this.samplesBox, this.figuresBox);
  }

  async poll() {
    if (await this.stats.pull()) this.drawCharts();
    const rows = this.stats.rows, last = rows.length ? rows[rows.length - 1].step : 0;
    this.node.dataset.step = String(last);
    this.stepLabel.textContent = `step ${last}` + (this.total ? ` / ${this.total}` : "") +
      (this.stats.skipped ? ` (${this.stats.skipped} damaged or oversized log line${this.stats.skipped > 1 ? "s" : ""} skipped)` : "");
    const [mChanged, aChanged, pages] = await Promise.all([this.metrics.pull(), this.alarms.pull(),
      getPages("/api/frames", { run: this.run })]);
    if (mChanged || aChanged || !this.shownMetrics) this.showMetrics({ rows: this.metrics.rows, alarms: this.alarms.rows });
    await this.updateFrames({ samples: pages.flatMap((p) => p.samples), snapshots: pages.flatMap((p) => p.snapshots),
      figures: pages[pages.length - 1].figures });
  }

  drawCharts() {
    const keys = new Set();
    for (const r of this.stats.rows) for (const [k, v] of Object.entries(r)) if (k !== "step" && k !== "time" && (typeof v === "number" || v === null)) keys.add(k);
    const groups = chartGroups(keys), gk = JSON.stringify(groups.map((g) => g.keys));
    if (gk !== this.groupsKey) {
      this.groupsKey = gk;
      this.canvases = groups.map((g) => el("canvas", { "data-chart": g.id }));
      this.charts.replaceChildren(...this.canvases);
    }
    groups.forEach((g, i) => drawChart(this.canvases[i], g, this.stats.rows));
  }

  showMetrics(m) {
    this.shownMetrics = true;
    const rows = m.rows.filter((r) => Object.keys(r).some((k) => typeof r[k] === "number" && !["step", "samples"].includes(k)));
    const box = [];
    if (rows.length) {
      // as the report: every metric any record has, and the latest real-vs-real floor (gankit eval records one)
      const floor = ([...rows].reverse().find((r) => r.floor && typeof r.floor === "object") || {}).floor || null;
      const names = [];
      for (const r of rows) for (const k of Object.keys(r)) {
        if (typeof r[k] === "number" && !["step", "samples"].includes(k) && !names.includes(k)) names.push(k);
      }
      const head = el("tr", {}, el("th", { text: "metric" }), ...rows.map((r) => el("th", { text: `step ${r.step}` + (r.source ? ` (${r.source})` : "") })),
        floor ? el("th", { text: "real vs real", title: floor.kind || "" }) : null);
      const body = names.map((n) => el("tr", {}, el("td", { text: n }), ...rows.map((r) => el("td", { text: fmt(r[n]) })),
        floor ? el("td", { text: fmt(floor[n]) }) : null));
      box.push(el("table", { class: "metrics" }, head, ...body));
    } else box.push(el("p", { class: "muted", text: "no metrics yet" }));
    if (m.alarms.length) box.push(el("p", { class: "alarms", text: "alarms: " + m.alarms.map((a) => `${a.kind} at step ${a.step}`).join(", ") }));
    this.metricsBox.replaceChildren(...box);
  }

  async updateFrames(f) {
    const prev = this.frames;
    this.frames = f;
    if (f.samples.length && f.snapshots.length === 0) {
      this.samplesBox.hidden = false;
      this.sampleRange.max = f.samples.length - 1;
      if (this.sampleFollow) this.sampleRange.value = f.samples.length - 1;
      this.showSample();
    }
    if (f.snapshots.length) {
      this.snapBox.hidden = false;
      this.snapRange.max = f.snapshots.length - 1;
      if (this.snapFollow) this.snapRange.value = f.snapshots.length - 1;
      await this.showSnapshot();
    }
    const figs = JSON.stringify(f.figures);
    if (figs !== JSON.stringify(prev.figures) || !this.figuresBox.childElementCount) {
      const items = [];
      for (const [name, file] of Object.entries(f.figures)) {
        if (name === "montage_gif") continue;
        items.push(el("h3", { text: name }), el("img", { src: "/file?" + q({ run: this.run, path: file, v: Date.now() }), alt: name }));
      }
      this.figuresBox.replaceChildren(...items);
    }
  }

  showSample() {
    const step = this.frames.samples[+this.sampleRange.value];
    if (step === undefined || step === this.shownSample) return;
    this.shownSample = step;
    this.sampleStep.textContent = String(step);
    this.sampleImg.src = "/file?" + q({ run: this.run, path: `samples/step-${String(step).padStart(6, "0")}.png` });
  }

  async showSnapshot() {
    const step = this.frames.snapshots[+this.snapRange.value];
    if (step === undefined || step === this.shownSnap) return;
    let snap = this.snapCache.get(step);
    if (!snap) {
      snap = await getJSON("/api/snapshot?" + q({ run: this.run, step }));
      if (this.snapCache.size > 50) this.snapCache.delete(this.snapCache.keys().next().value);
      this.snapCache.set(step, snap);
    }
    this.shownSnap = step;
    this.snapStep.textContent = String(step);
    this.snapCanvas.dataset.step = String(step);
    drawSnapshot(this.snapCanvas, snap);
    this.snapLegend.replaceChildren(legend(snap));
  }
}

// ---------------------------------------------------------------------------------------- the page
const panes = [null, null];
let runs = [];

function report(err) { $("#status").textContent = String(err.message || err); }

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  return [h.get("a"), h.get("b")];
}
function writeHash() {
  const h = {};
  if (panes[0]) h.a = panes[0].run;
  if (panes[1]) h.b = panes[1].run;
  history.replaceState(null, "", "#" + q(h));
}
function openPane(i, runId) {
  if (panes[i] && panes[i].run === runId) return;
  panes[i] = new Pane(runId, $(`#pane-${i}`), i === 1);
  writeHash(); renderRuns(); pollPane(i);
}
function closePane(i) {
  panes[i] = null;
  const node = $(`#pane-${i}`);
  node.replaceChildren(); node.hidden = i === 1;
  writeHash(); renderRuns();
}

function renderRuns() {
  const list = $("#run-list");
  list.replaceChildren(...runs.map((r) => {
    const li = el("li", { "data-run": r.id, title: `${r.id}: ${r.dataset} · ${r.objective} · ${r.generator}` },
      r.live ? el("span", { class: "live", title: "training" }) : null,
      el("span", { class: "name", text: r.id === "." ? r.name : r.id }),
      el("span", { class: "progress", text: `${r.step}${r.total ? "/" + r.total : ""}` }),
      el("button", { text: "⇆", title: "show beside the first run", onclick: (e) => { e.stopPropagation(); openPane(1, r.id); } }));
    li.addEventListener("click", () => openPane(0, r.id));
    if (panes[0] && panes[0].run === r.id) li.classList.add("selected");
    if (panes[1] && panes[1].run === r.id) li.classList.add("selected-b");
    return li;
  }));
}

async function pollRuns() {
  const pages = await getPages("/api/runs", {});
  $("#root").textContent = pages[0].root;
  runs = pages.flatMap((p) => p.runs);
  renderRuns();
  if (!panes[0] && runs.length) {
    const [a, b] = readHash();
    const pick = runs.find((r) => r.id === a) || runs.find((r) => r.live) || runs[0];
    openPane(0, pick.id);
    if (b && runs.some((r) => r.id === b)) openPane(1, b);
  }
}

const busy = [false, false];
async function pollPane(i) {
  const p = panes[i];
  if (!p || busy[i]) return;
  busy[i] = true;
  try { await p.poll(); $("#status").textContent = ""; } catch (err) { report(err); } finally { busy[i] = false; }
}

async function tick() {
  try { await pollRuns(); } catch (err) { report(err); }
  await Promise.all([pollPane(0), pollPane(1)]);
  setTimeout(tick, POLL_MS);
}
window.addEventListener("resize", () => panes.forEach((p) => p && p.drawCharts()));
tick();
