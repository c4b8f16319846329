// gankit lab: the page sets up, drives and draws; the server (gankit/serve/lab.py) trains with gankit's own
// code. Plain JavaScript, no libraries (it must work offline); draw.js has the drawing helpers it shares with
// the dashboard. The experiment's settings live in the URL's #fragment, so a link opens the same experiment.
"use strict";

const FRAME_MS = 50;          // at most 20 views a second while playing: the page must leave the trainer its CPU
const CHARTS_MS = 500;        // the curves are redrawn at most twice a second
const PAUSED_MS = 250;        // polls while paused (another tab may drive the same lab)
const DRAW_BOX = [[-2, 2], [-2, 2]];  // where a new drawing starts
const MANIFOLD_COLORS = ["#e08214", "#2166ac"];

const lab = {
  choices: null, settings: null, session: null, snap: null, id: null, next: 0,
  rows: [], mrows: [], drawn: [], drawing: false, chartsDue: true, chartsAt: 0, dstarShown: null,
  stats: { fps: 0, frames: 0, latencies: [], snapshot: null },
};
window.labStats = lab.stats;  // read by the browser tests and benchmarks/lab.py

const form = () => $("#setup");
function message(text, kind = "error") {
  const m = $("#message");
  m.hidden = !text; m.textContent = text || ""; m.className = kind;
}

async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  let data;
  try { data = await r.json(); } catch (_) { throw new Error(`${path}: ${r.status} ${r.statusText}`); }
  if (!r.ok) throw new Error(data.error || `${path}: ${r.status}`);
  return data;
}

// ------------------------------------------------------------------------------------ settings <-> form, URL
function typed(name, raw) {  // a form or URL value in the type of the setting's default
  const d = lab.choices.defaults[name];
  if (typeof d === "boolean") return raw === true || raw === "true" || raw === "1";
  if (typeof d === "number") { const v = Number(raw); return raw === "" || !isFinite(v) ? NaN : v; }
  return String(raw);
}

function readForm() {
  const out = {};
  for (const e of form().elements) {
    if (!e.name) continue;
    out[e.name] = e.type === "checkbox" ? e.checked : typed(e.name, e.value.split("|")[0]);
  }
  return out;
}

function fillForm(s) {
  for (const e of form().elements) {
    if (!e.name || !(e.name in s)) continue;
    if (e.type === "checkbox") e.checked = !!s[e.name]; else e.value = String(s[e.name]);
  }
  $("#draw-hint").hidden = s["data.name"] !== lab.choices.drawn;
  $("#dstar-figure").hidden = false;
}

function encodePoints(pts) { return pts.map((p) => p.map((v) => +v.toFixed(3)).join(",")).join(";"); }
function decodePoints(text) {
  return text ? text.split(";").map((p) => p.split(",").map(Number)).filter((p) => p.every(isFinite)) : [];
}

function writeHash(s) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(s)) if (k !== "points" && v !== lab.choices.defaults[k]) p.set(k, String(v));
  if (s["data.name"] === lab.choices.drawn) p.set("points", encodePoints(lab.drawn));
  history.replaceState(null, "", "#" + p.toString());
}

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const s = {};
  for (const [k, v] of p) if (k === "points") lab.drawn = decodePoints(v); else if (k in lab.choices.defaults) s[k] = typed(k, v);
  return s;
}

function settingsToSend(s) {
  const out = { ...s };
  if (out["data.name"] === lab.choices.drawn) out.points = lab.drawn; else delete out.points;
  return out;
}

async function setup(s) {
  try {
    const r = await post("/api/lab/setup", { settings: settingsToSend(s) });
    lab.settings = r.settings;
    fillForm(lab.settings);
    writeHash(lab.settings);
    message("");
  } catch (err) {
    message(err.message);
    if (lab.settings) fillForm({ ...lab.settings, "data.name": s["data.name"] });  // keep the choice being drawn
  }
  await refresh();
}

async function change(e) {
  const s = readForm();
  let changes = { [e.target.name]: s[e.target.name] };
  if (e.target.name === "model.objective") {  // the two WGAN entries also set their Lipschitz remedy
    const [, remedy] = e.target.value.split("|");
    if (remedy === "clip") changes = { ...changes, "reg.clip": 0.01, "reg.gradient_penalty": 0 };
    if (remedy === "gp") changes = { ...changes, "reg.gradient_penalty": 10, "reg.clip": 0 };
  }
  if (Object.keys(changes).every((k) => lab.choices.live.includes(k))) {
    try {
      await command({ cmd: "set", changes });
      lab.settings = { ...lab.settings, ...changes };
      fillForm(lab.settings);
      writeHash(lab.settings);
    } catch (err) { fillForm(lab.settings); }
  } else {
    await setup({ ...lab.settings, ...s, ...changes });
  }
}

async function command(body) {
  try {
    const r = await post("/api/lab/command", body);
    message("");
    return r;
  } catch (err) { message(err.message); throw err; }
}

// ------------------------------------------------------------------------------------------------ drawing
function isDrawing() { return (lab.settings || {})["data.name"] === lab.choices.drawn || form().elements["data.name"].value === lab.choices.drawn; }
function box() {
  const drawnSession = lab.snap && (lab.settings || {})["data.name"] === lab.choices.drawn && lab.snap.dim === 2;
  return drawnSession ? lab.snap.bounds : DRAW_BOX;
}
function toData(ev) {
  const c = $("#view"), r = c.getBoundingClientRect();
  const [[xlo, xhi], [ylo, yhi]] = box();
  return [xlo + ((ev.clientX - r.left) / r.width) * (xhi - xlo), yhi - ((ev.clientY - r.top) / r.height) * (yhi - ylo)];
}
function addPoint(ev) {
  const p = toData(ev), last = lab.drawn[lab.drawn.length - 1];
  const [[xlo, xhi]] = box();
  if (!last || Math.hypot(p[0] - last[0], p[1] - last[1]) > 0.01 * (xhi - xlo)) lab.drawn.push(p);
  if (lab.drawn.length > lab.choices.max_points) lab.drawn.shift();
  drawView();
}

// ---------------------------------------------------------------------------------------------- the view
function overlay(ctx, W, H, snap) {
  const s = lab.settings || {};
  if (snap.dim === 2) {
    const [[xlo, xhi], [ylo, yhi]] = snap.bounds;
    const px = (x) => ((x - xlo) / (xhi - xlo)) * W, py = (y) => (1 - (y - ylo) / (yhi - ylo)) * H;
    if ($("#show-manifold").checked && snap.manifold) {
      const half = snap.manifold.x.length / 2;
      ctx.lineWidth = 1; ctx.globalAlpha = 0.75;
      snap.manifold.x.forEach((line, i) => {
        ctx.strokeStyle = MANIFOLD_COLORS[s["generator.noise_dim"] === 2 && i >= half ? 1 : 0];
        ctx.beginPath();
        line.forEach(([x, y], j) => (j ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
        ctx.stroke();
      });
      ctx.globalAlpha = 1;
    }
  } else {
    const [[lo, hi]] = snap.bounds, T = 6, B = 18;  // draw1d's frame
    const px = (x) => ((x - lo) / (hi - lo)) * W, pd = (d) => T + (1 - d) * (H - T - B);
    if ($("#show-dstar").checked && snap.dstar) {  // D* on its own grid (measured a moment ago)
      const { x: xs, d } = snap.dstar;
      ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.6; ctx.setLineDash([6, 3]); ctx.beginPath();
      xs.forEach((x, i) => (i ? ctx.lineTo(px(x), pd(d[i])) : ctx.moveTo(px(x), pd(d[i]))));
      ctx.stroke(); ctx.setLineDash([]);
    }
    if ($("#show-manifold").checked && snap.manifold) {  // z on the bottom edge -> G(z) on the x axis (the GAN paper's Fig. 1)
      const [zlo, zhi] = snap.manifold.box, line = snap.manifold.x[0], zs = snap.manifold.z[0];
      ctx.strokeStyle = MANIFOLD_COLORS[0]; ctx.globalAlpha = 0.6; ctx.lineWidth = 1;
      line.forEach(([x], j) => {
        if (j % 2) return;
        const z = lo + ((zs[j][zs[j].length - 1] - zlo) / (zhi - zlo)) * (hi - lo);
        ctx.beginPath(); ctx.moveTo(px(z), H - 1); ctx.lineTo(px(x), H - B); ctx.stroke();
      });
      ctx.globalAlpha = 1;
    }
  }
}

function drawView(force = true) {
  const canvas = $("#view");
  const snap = lab.snap;
  const sessionDrawn = (lab.settings || {})["data.name"] === lab.choices.drawn;
  if (!snap || (isDrawing() && !sessionDrawn)) {  // a drawing not yet trained on: the points alone
    drawSnapshot(canvas, { dim: 2, bounds: DRAW_BOX, real: lab.drawn, fake: [], grid: null, arrows: null });
  } else {
    const shown = { ...snap, grid: $("#show-heatmap").checked ? snap.grid : null, arrows: $("#show-arrows").checked ? snap.arrows : null };
    if (isDrawing() && snap.dim === 2) shown.real = lab.drawn;
    drawSnapshot(canvas, shown);
    const dpr = window.devicePixelRatio || 1, ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    overlay(ctx, canvas.width / dpr, canvas.height / dpr, snap);
  }
  const dfig = $("#dstar-figure");
  dfig.hidden = !(snap && snap.dim === 2 && snap.dstar && $("#show-dstar").checked);
  const stamp = snap && snap.metrics ? `${snap.metrics.step}/${snap.metrics.d_updates}` : null;
  if (!dfig.hidden && (force || stamp !== lab.dstarShown)) {  // D* changes with the metrics (about once a second)
    drawSnapshot($("#dstar"), { ...snap, bounds: snap.dstar.bounds, grid: snap.dstar, fake: [], arrows: null });
    lab.dstarShown = stamp;
  }
}

function drawCharts() {
  const box = $("#charts");
  const keys = new Set();
  for (const r of lab.rows) for (const [k, v] of Object.entries(r)) if (k !== "step" && typeof v === "number") keys.add(k);
  const groups = chartGroups(keys).filter((g) => g.id === "loss" || g.id === "d");
  const m = lab.mrows.length ? lab.mrows[lab.mrows.length - 1] : null;
  const mgroups = [
    { id: "js", title: "JS(p_data ‖ p_G), KDE", keys: ["js"], refs: [[Math.log(2), "ln 2"]] },
    { id: "w1", title: "W1 (exact, POT)", keys: ["w1"], refs: [] },
  ];
  if (m && m.modes_total) mgroups.push({ id: "modes", title: `modes covered (of ${m.modes_total})`, keys: ["modes"], refs: [[m.modes_total, "all"]] });
  const all = [...groups.map((g) => [g, lab.rows]), ...mgroups.map((g) => [g, lab.mrows])];
  if (box.children.length !== all.length) box.replaceChildren(...all.map(([g]) => el("canvas", { "data-chart": g.id })));
  all.forEach(([g, rows], i) => drawChart(box.children[i], g, rows));
}

function show(st) {
  const s = st.session;
  if (s.id !== lab.id) { lab.id = s.id; lab.next = 0; lab.rows = []; lab.mrows = []; lab.chartsDue = true; }
  else {
    for (const r of st.history) {
      if (r.event === "metrics") lab.mrows.push(r);
      else if (!r.event) lab.rows.push(r);
    }
    lab.next = st.next;
    lab.chartsDue = lab.chartsDue || st.history.length > 0;
  }
  lab.session = s;
  lab.snap = st.snap;
  if (!lab.settings || JSON.stringify(lab.settings) !== JSON.stringify(s.settings)) {
    lab.settings = s.settings; fillForm(s.settings);
  }
  const c = $("#counter");
  c.dataset.step = String(s.step); c.dataset.dUpdates = String(s.d_updates); c.dataset.playing = String(s.playing);
  c.textContent = `G steps ${s.step} · D updates ${s.d_updates}` + (s.playing ? " · playing" : " · paused");
  $("#rate").textContent = s.playing ? `${s.steps_per_s} steps/s · ${lab.stats.fps} frames/s` : "";
  const m = st.snap && st.snap.metrics;
  $("#metrics").textContent = m ? `step ${m.step}: JS ${fmt(m.js)} · W1 ${fmt(m.w1)}` + (m.modes_total ? ` · modes ${m.modes}/${m.modes_total}` : "") : "";
  if (s.error) message(s.error);
  $("#legend").replaceChildren(...(st.snap ? legend(st.snap).childNodes : []));
  drawView(false);
  const now = performance.now();
  if (lab.chartsDue && (now - lab.chartsAt >= CHARTS_MS || !s.playing)) { drawCharts(); lab.chartsDue = false; lab.chartsAt = now; }
}

// ------------------------------------------------------------------------------------------ refresh loop
function unpack(v) {  // the server's {shape, f32: base64 float32} arrays -> the nested lists draw.js takes
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(unpack);
  if (typeof v.f32 === "string" && Array.isArray(v.shape)) {
    const bytes = Uint8Array.from(atob(v.f32), (c) => c.charCodeAt(0));
    const flat = Array.from(new Float32Array(bytes.buffer));
    const nest = (a, shape) => {
      if (shape.length <= 1) return a;
      const n = a.length / shape[0];
      return Array.from({ length: shape[0] }, (_, i) => nest(a.slice(i * n, (i + 1) * n), shape.slice(1)));
    };
    return nest(flat, v.shape);
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unpack(x)]));
}

let chain = Promise.resolve();
function refresh() {  // views one after another, never two at once
  chain = chain.then(async () => {
    const st = await getJSON("/api/lab/state?since=" + lab.next);
    if (st.session) show({ ...st, snap: unpack(st.snap) });
    lab.stats.frames++;
  }).catch((err) => message(err.message));
  return chain;
}

let frameTimes = [];
async function loop() {
  const t0 = performance.now();
  await refresh();
  const now = performance.now();
  if (lab.session && lab.session.playing) {
    frameTimes.push(now);
    while (frameTimes.length && frameTimes[0] < now - 1000) frameTimes.shift();
    lab.stats.fps = frameTimes.length;
  } else { frameTimes = []; lab.stats.fps = 0; }
  const wait = lab.session && lab.session.playing ? FRAME_MS : PAUSED_MS;
  setTimeout(loop, Math.max(0, wait - (now - t0)));
}

async function stepOnce(cmd) {  // press -> one update on the server -> the redrawn view; the latency is kept
  const t0 = performance.now();
  try { await command({ cmd }); } catch (_) { return; }
  await refresh();
  const ms = performance.now() - t0;
  lab.stats.latencies.push(ms);
  lab.stats.lastLatencyMs = ms;
}

function snapshot() {
  const c = $("#view");
  c.toBlob((blob) => {
    const name = `gankit-lab-step-${lab.session ? lab.session.step : 0}.png`;
    const a = $("#download");
    a.href = URL.createObjectURL(blob); a.download = name;
    a.click();
    lab.stats.snapshot = { name, bytes: blob.size, type: blob.type };
  }, "image/png");
}

async function save() {
  const name = $("#run-name").value.trim();
  try {
    const r = await command({ cmd: "save", name });
    message(`saved as ${r.run}: gankit serve, report and eval read it; continue it with 'gankit train --resume ${r.run}'`, "info");
  } catch (_) { /* the message is shown */ }
}

async function init() {
  lab.choices = await getJSON("/api/lab/choices");
  const opts = (sel, values, labels) => sel.replaceChildren(...values.map((v, i) => el("option", { value: v, text: labels ? labels[i] : v })));
  const f = form();
  opts(f.elements["data.name"], [...lab.choices.datasets, lab.choices.drawn],
       [...lab.choices.datasets, "draw your own"]);
  opts(f.elements["generator.prior"], lab.choices.priors);
  for (const sel of f.querySelectorAll("select[data-choices]")) opts(sel, lab.choices[sel.dataset.choices]);
  const objs = lab.choices.objectives.map((o) => o.name);
  opts(f.elements["model.objective"], [...objs, "wgan|clip", "wgan|gp"], [...objs, "wgan + weight clipping", "wgan-gp"]);
  for (const o of lab.choices.objectives) f.elements["model.objective"].querySelector(`option[value="${o.name}"]`).title = o.description;
  f.addEventListener("change", (e) => { if (e.target.name) change(e); });
  f.addEventListener("submit", (e) => e.preventDefault());
  $("#play").addEventListener("click", () => command({ cmd: "play" }).then(refresh, () => {}));
  $("#pause").addEventListener("click", () => command({ cmd: "pause" }).then(refresh, () => {}));
  $("#step-d").addEventListener("click", () => stepOnce("step-d"));
  $("#step-g").addEventListener("click", () => stepOnce("step-g"));
  $("#step").addEventListener("click", () => stepOnce("step"));
  $("#reset").addEventListener("click", () => command({ cmd: "reset" }).then(refresh, () => {}));
  $("#slow").addEventListener("change", (e) => command({ cmd: "speed", delay: +e.target.value / 1000 }).catch(() => {}));
  $("#save").addEventListener("click", save);
  $("#snapshot").addEventListener("click", snapshot);
  $("#clear-drawing").addEventListener("click", () => { lab.drawn = []; drawView(); });
  for (const id of ["show-heatmap", "show-arrows", "show-manifold", "show-dstar"]) $("#" + id).addEventListener("change", () => drawView());
  const view = $("#view");
  view.addEventListener("mousedown", (ev) => { if (isDrawing()) { lab.drawing = true; addPoint(ev); } });
  view.addEventListener("mousemove", (ev) => { if (lab.drawing) addPoint(ev); });
  window.addEventListener("mouseup", () => {
    if (!lab.drawing) return;
    lab.drawing = false;
    setup({ ...lab.settings, ...readForm(), "data.name": lab.choices.drawn });
  });
  const fromUrl = readHash();
  if (Object.keys(fromUrl).length || lab.drawn.length) await setup({ ...lab.choices.defaults, ...fromUrl });
  loop();
}

init().catch((err) => message(err.message));
