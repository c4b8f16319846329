// gankit's drawing helpers, shared by the dashboard (app.js) and the lab (lab.js): plain JavaScript, no
// libraries (the pages must work offline). Curves of stats records and GAN Lab's toy-data view on canvases.
"use strict";

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

