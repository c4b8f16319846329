// gankit dashboard: plain JavaScript, no libraries (it must work offline); draw.js has the drawing helpers.
// Polls the JSON API of gankit/serve/server.py once a second; draws curves and the toy-data view on canvases.
"use strict";

const POLL_MS = 1000;

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
      for (const r of s.rows) if (!("event" in r)) this.rows.push(r);  // gankit lab's notes (a change, one step) are not curve points
      changed = changed || s.rows.length > 0;
    } while (s.more);
    return changed;
  }
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
