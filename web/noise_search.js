// Noise Search: live score chart and candidate gallery on the search nodes.
//
// Hooks (public frontend API only):
//   app.registerExtension({ beforeRegisterNodeDef })  - adds a DOM widget to the search nodes
//   node.addDOMWidget(name, type, element, options)   - the panel (chart + gallery), not serialized
//   api.addEventListener("noise_search.progress")     - one event per scored candidate -> chart point
//   api.addEventListener("noise_search.done")         - report + temp images -> gallery
//   api.addEventListener("executing")                 - our node starts running -> reset the panel
//   nodeType.prototype.onExecuted                     - same payload from the history (ui output)
//   control widget beforeQueued / afterQueued          - "increment" steps the seed past the run's candidates
// Dependency-free: plain DOM + SVG. Stable hooks for tests: data-testid="ns-panel", "ns-chart",
// "ns-point", "ns-best-line", "ns-summary", "ns-gallery", "ns-candidate", "ns-use-seed",
// "ns-copy-seed-selected".
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const EXT = "comfyui-noise-search.ui";
const SEARCH_NODES = new Set(["NoiseSearchSampler", "NoiseSearchSamplerAdvanced"]);
const SVG = "http://www.w3.org/2000/svg";
const CHART_H = 150;
const GALLERY_H = 196;
const HEADER_H = 54;
const SEED_WIDGETS = ["seed", "noise_seed"];

// -- small helpers -------------------------------------------------------------------------------
function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k === "style") Object.assign(e.style, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.appendChild(c);
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

// a candidate scored on an x0 prediction part-way down the schedule ("particle@6", "path@4"), not
// on a finished sample (search/result.py Candidate.intermediate)
function isIntermediate(stage) {
  return typeof stage === "string" && stage.includes("@");
}

function fmt(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return x.toExponential(2);
  return x.toFixed(a < 1 ? 4 : a < 100 ? 3 : 1);
}

function viewUrl(img) {
  const q = new URLSearchParams({ filename: img.filename, subfolder: img.subfolder ?? "", type: img.type ?? "temp" });
  return api.apiURL(`/view?${q.toString()}`);
}

function injectStyle() {
  if (document.getElementById("ns-style")) return;
  const css = `
.ns-panel{box-sizing:border-box;display:flex;flex-direction:column;gap:4px;width:100%;height:100%;
  font:11px/1.3 sans-serif;color:var(--input-text,#ddd);overflow:hidden;padding:2px 0}
.ns-summary{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;opacity:.9}
.ns-actions{display:flex;gap:4px;flex-wrap:wrap}
.ns-actions button{font:11px sans-serif;padding:2px 6px;border-radius:4px;cursor:pointer;
  background:var(--comfy-input-bg,#222);color:var(--input-text,#ddd);border:1px solid var(--border-color,#555)}
.ns-actions button:disabled{opacity:.45;cursor:default}
.ns-chart{width:100%;height:${CHART_H}px;flex:0 0 auto;background:var(--comfy-input-bg,#1b1b1b);border-radius:4px}
.ns-chart text{fill:var(--input-text,#bbb);font:9px sans-serif}
.ns-gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(74px,1fr));gap:4px;overflow-y:auto;
  flex:1 1 auto;min-height:0;align-content:start}
.ns-gallery:empty{display:none}
.ns-candidate{position:relative;border:2px solid transparent;border-radius:4px;background:#0003;cursor:pointer}
.ns-candidate img{display:block;width:100%;aspect-ratio:1/1;object-fit:cover;border-radius:2px}
.ns-candidate .ns-cap{font-size:10px;padding:1px 2px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.ns-candidate.ns-winner{border-color:#f5c542}
.ns-candidate .ns-badge{position:absolute;top:2px;left:2px;background:#f5c542;color:#000;font-weight:bold;
  border-radius:3px;padding:0 3px;font-size:10px}
.ns-candidate.ns-selected{outline:2px solid #4aa3ff}
/* Nodes 2.0 before node.hideOutputImages (frontend 1.32): the stock image grid is a child of the
   node's body beside the widgets; hide the one in our node's body (the gallery shows the images) */
[data-testid^="node-body-"]:has(.ns-panel) > div:not(:has(.ns-panel)):has(img, video){display:none}
`;
  document.head.appendChild(el("style", { id: "ns-style", text: css }));
}

// -- the panel -----------------------------------------------------------------------------------
class SearchPanel {
  constructor(node) {
    this.node = node;
    this.points = [];
    this.report = null;
    this.images = [];
    this.budget = null;
    this.selected = null; // candidate index chosen in the gallery (default: the winner)

    this.summary = el("div", { class: "ns-summary", "data-testid": "ns-summary", text: "Noise search: not run yet" });
    this.chart = svg("svg", { class: "ns-chart", "data-testid": "ns-chart", preserveAspectRatio: "none" });
    this.useSeed = el("button", {
      "data-testid": "ns-use-seed", text: "Use seed ↺", disabled: "",
      title: "copy the selected (default: winning) seed into this search's seed (its Random Noise node for the advanced sampler) and set it to fixed",
      onclick: (e) => { e.stopPropagation(); this.copySeed(false); },
    });
    this.copySelected = el("button", {
      "data-testid": "ns-copy-seed-selected", text: "Seed → selected KSampler", disabled: "",
      title: "copy the selected (default: winning) seed into the selected KSampler / Random Noise nodes and set them to fixed",
      onclick: (e) => { e.stopPropagation(); this.copySeed(true); },
    });
    this.actions = el("div", { class: "ns-actions" }, [this.useSeed, this.copySelected]);
    this.gallery = el("div", { class: "ns-gallery", "data-testid": "ns-gallery" });
    this.root = el("div", { class: "ns-panel", "data-testid": "ns-panel" },
      [this.summary, this.chart, this.actions, this.gallery]);
    // keep wheel scrolling inside the gallery instead of zooming the canvas
    this.gallery.addEventListener("wheel", (e) => e.stopPropagation(), { passive: true });
    this.drawChart();
  }

  get nodeId() { return String(this.node.id); }

  reset() {
    this.points = [];
    this.report = null;
    this.images = [];
    this.budget = null;
    this.selected = null;
    this.root.dataset.state = "running";
    this.gallery.replaceChildren();
    this.summary.textContent = "Noise search: running…";
    this.useSeed.disabled = this.copySelected.disabled = true;
    this.drawChart();
    this.resize();
  }

  onProgress(d) {
    if (this.report) this.reset(); // a new run that we did not see start
    this.points.push({ index: d.index, score: d.score, best: d.best, nfe: d.nfe, seed: d.seed, stage: d.stage });
    if (d.budget) this.budget = d.budget;
    this.root.dataset.state = "running";
    const last = this.points[this.points.length - 1];
    // best: of the finished samples only; the x0 predictions' best is shown as what it is
    const inter = d.best_intermediate ?? null;
    this.summary.textContent = `running · ${this.points.length} scored · NFE ${last.nfe}` +
      `${this.budget ? "/" + this.budget : ""} · best finished ${fmt(last.best)}` +
      (inter !== null ? ` · best x0 prediction ${fmt(inter)}` : "");
    this.drawChart();
  }

  onDone(report, images) {
    if (!report) return;
    if (this.report && this.report === report) return;
    this.report = report;
    this.images = images ?? [];
    if (!this.points.length && Array.isArray(report.candidates)) {
      // not watched live (page reloaded, another tab queued it): rebuild the curve from the report
      let best = -Infinity;
      for (const c of report.candidates) {
        if (!isIntermediate(c.stage)) best = Math.max(best, c.score);
        this.points.push({ index: c.index, score: c.score, best, nfe: c.nfe, seed: c.seed, stage: c.stage });
      }
    }
    if (!this.budget && report.settings?.budget) this.budget = report.settings.budget;
    this.selected = report.best?.candidate ?? null;
    this.root.dataset.state = "done";
    const b = report.best ?? {};
    const t = report.totals ?? {};
    this.runSummary = `${report.algorithm ?? "search"} · ${t.candidates ?? this.points.length} scored · ` +
      `NFE ${t.nfe ?? "?"} · best ${fmt(b.score)}` + (b.seed !== null && b.seed !== undefined ? ` (seed ${b.seed})` : "");
    this.summary.textContent = this.runSummary;
    this.drawChart();
    this.drawGallery();
    this.updateButtons();
    this.resize();
  }

  candidate(index) {
    return this.report?.candidates?.find((c) => c.index === index);
  }

  selectedSeed() {
    const c = this.selected !== null ? this.candidate(this.selected) : null;
    if (c && c.seed !== null && c.seed !== undefined) return c.seed;
    if (this.selected === null || this.selected === this.report?.best?.candidate) {
      const s = this.report?.best?.seed;
      return s === undefined ? null : s;
    }
    return null;
  }

  updateButtons() {
    const s = this.selectedSeed();
    const ok = s !== null && s >= 0;
    this.useSeed.disabled = this.copySelected.disabled = !ok;
    this.useSeed.textContent = ok ? `Use seed ${s}` : "Use seed";
    if (!ok) this.useSeed.title = "this candidate has no seed (not plain seeded noise): use the best_noise output";
  }

  // -- chart -----------------------------------------------------------------------------------
  drawChart() {
    const W = 300, H = CHART_H, L = 36, R = 8, T = 8, B = 16;
    const c = this.chart;
    c.setAttribute("viewBox", `0 0 ${W} ${H}`);
    c.replaceChildren();
    const pts = this.points.filter((p) => Number.isFinite(p.score));
    const xmax = Math.max(1, this.budget ?? 0, ...pts.map((p) => p.nfe));
    let ymin = Math.min(...pts.map((p) => p.score));
    let ymax = Math.max(...pts.map((p) => p.score));
    if (!pts.length) { ymin = 0; ymax = 1; }
    if (ymax - ymin < 1e-9) { ymin -= 0.5; ymax += 0.5; }
    const pad = (ymax - ymin) * 0.08;
    ymin -= pad; ymax += pad;
    const x = (v) => L + (W - L - R) * (v / xmax);
    const y = (v) => T + (H - T - B) * (1 - (v - ymin) / (ymax - ymin));
    c.appendChild(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#555", "stroke-width": 0.5 }));
    const label = (tx, ty, s, anchor = "end") => {
      const t = svg("text", { x: tx, y: ty, "text-anchor": anchor });
      t.textContent = s;
      c.appendChild(t);
    };
    label(L - 3, T + 7, fmt(ymax));
    label(L - 3, H - B, fmt(ymin));
    label(L, H - 4, "0", "start");
    label(W - R, H - 4, `${xmax} NFE`);
    label(L + (W - L - R) / 2, H - 4, "score vs NFE", "middle");
    if (!pts.length) return;
    // best so far: a step line
    let d = "";
    let prev = null;
    for (const p of pts) {
      if (!Number.isFinite(p.best)) continue; // nothing finished yet (x0 predictions are not a best)
      const b = p.best;
      if (prev === null) d += `M${x(p.nfe).toFixed(1)},${y(b).toFixed(1)}`;
      else d += `H${x(p.nfe).toFixed(1)}V${y(b).toFixed(1)}`;
      prev = b;
    }
    if (d) d += `H${x(Math.max(...pts.map((p) => p.nfe))).toFixed(1)}`;
    if (d) c.appendChild(svg("path", { d, fill: "none", stroke: "#f5c542", "stroke-width": 1.5, "data-testid": "ns-best-line", "vector-effect": "non-scaling-stroke" }));
    const winner = this.report?.best?.candidate;
    for (const p of pts) {
      const final = !isIntermediate(p.stage);
      const isW = winner !== undefined && winner !== null && p.index === winner;
      const dot = svg("circle", {
        cx: x(p.nfe).toFixed(1), cy: y(p.score).toFixed(1), r: isW ? 4 : 2.6,
        fill: isW ? "#f5c542" : final ? "#4aa3ff" : "#9a7bff", stroke: isW ? "#000" : "none",
        "data-testid": "ns-point", "data-index": p.index, "data-nfe": p.nfe, "data-score": p.score,
      });
      const title = svg("title");
      title.textContent = `#${p.index} ${p.stage ?? ""}${final ? "" : " (x0 prediction, not a finished image)"} ` +
        `score ${fmt(p.score)} · NFE ${p.nfe}` +
        (p.seed !== null && p.seed !== undefined ? ` · seed ${p.seed}` : "");
      dot.appendChild(title);
      c.appendChild(dot);
    }
  }

  // -- gallery ---------------------------------------------------------------------------------
  drawGallery() {
    const r = this.report;
    const finals = Array.isArray(r?.finals) && r.finals.length === this.images.length
      ? r.finals : this.images.map((_, i) => (r?.candidates?.[i]?.index ?? i));
    const items = this.images.map((img, i) => {
      const idx = finals[i];
      const c = this.candidate(idx) ?? {};
      const isW = idx === r?.best?.candidate;
      // rank ensembles pick the winner by joint average rank over the finished samples
      const shown = c.joint_rank ?? c.score;
      const item = el("div", {
        class: "ns-candidate" + (isW ? " ns-winner" : "") + (idx === this.selected ? " ns-selected" : ""),
        "data-testid": "ns-candidate", "data-index": idx, "data-winner": String(isW),
        "data-seed": c.seed ?? "", "data-score": shown ?? "",
        title: `candidate #${idx}${c.stage ? " (" + c.stage + ")" : ""}\nscore ${fmt(c.score)}` +
          (c.joint_rank !== undefined ? `\njoint rank ${fmt(c.joint_rank)}` : "") + `\nseed ${c.seed ?? "–"}` +
          "\nclick: select (the seed buttons use the selection)",
        onclick: (e) => { e.stopPropagation(); this.select(idx); },
      }, [
        el("img", { src: viewUrl(img), loading: "lazy", alt: `candidate ${idx}`, draggable: "false" }),
        el("div", { class: "ns-cap", text: `${c.joint_rank !== undefined ? "rank " : ""}${fmt(shown)} · ${c.seed ?? "–"}` }),
      ]);
      if (isW) item.appendChild(el("span", { class: "ns-badge", text: "★ best" }));
      return item;
    });
    // winner first, then by score
    items.sort((a, b) => (b.dataset.winner === "true") - (a.dataset.winner === "true") ||
      (parseFloat(b.dataset.score) || -Infinity) - (parseFloat(a.dataset.score) || -Infinity));
    this.gallery.replaceChildren(...items);
  }

  select(idx) {
    this.selected = idx;
    for (const it of this.gallery.children) it.classList.toggle("ns-selected", Number(it.dataset.index) === idx);
    this.updateButtons();
  }

  // -- seed copy -------------------------------------------------------------------------------
  copySeed(toSelected) {
    const seed = this.selectedSeed();
    if (seed === null || seed < 0) return;
    const targets = toSelected ? selectedSeedNodes(this.node) : [seedHolder(this.node)].filter(Boolean);
    if (!targets.length) {
      this.summary.textContent = toSelected ? "select a KSampler (or Random Noise) node first" : "no seed widget to copy into";
      return;
    }
    const set = targets.flatMap((n) => setSeed(n, seed, this.execIdOf(n)));
    this.summary.textContent = `seed ${seed} → ${set.map((t) => t.node.title || t.node.type).join(", ")}`;
    clearTimeout(this._restore);
    this._restore = setTimeout(() => { if (this.report) this.summary.textContent = this.runSummary; }, 1500);
    app.canvas?.setDirty?.(true, true);
  }

  /** The execution id of `n` when it sits beside this node in the subgraph instance that ran last. */
  execIdOf(n) {
    if (!this.execId || n.graph !== this.node.graph) return null;
    return [...this.execId.split(":").slice(0, -1), String(n.id)].join(":");
  }

  // -- size ------------------------------------------------------------------------------------
  height() {
    return HEADER_H + CHART_H + (this.images.length ? GALLERY_H : 0);
  }

  resize() {
    const n = this.node;
    if (!n?.size || typeof n.computeSize !== "function") return;
    const need = n.computeSize();
    if (n.size[1] < need[1] || n.size[0] < need[0]) n.setSize([Math.max(n.size[0], need[0]), Math.max(n.size[1], need[1])]);
    n.setDirtyCanvas?.(true, true);
  }
}

function seedWidget(node) {
  return node?.widgets?.find((w) => SEED_WIDGETS.includes(w.name));
}

/** Set `node`'s seed (and its control widget to fixed). Inside a subgraph whose node promotes the
 *  seed, the prompt takes the value from the subgraph node's widget: set that one too. */
function setSeed(node, seed, execId) {
  const w = seedWidget(node);
  if (!w) return [];
  const targets = [{ node, widget: w }, ...promotedHosts(node, w, execId)];
  for (const t of targets) {
    t.widget.value = seed;
    t.widget.callback?.(seed);
    fixControl(t.node, t.widget);
  }
  return targets;
}

/** The "control after generate" widget of seed widget `w`. */
function controlOf(node, w) {
  return w.linkedWidgets?.find((x) => x.name?.startsWith("control_")) ??
    node.widgets?.find((x) => x.name === "control_after_generate" || x.name === "control_before_generate");
}

function fixControl(node, w) {
  const ctl = controlOf(node, w);
  if (ctl && ctl.value !== "fixed") { ctl.value = "fixed"; ctl.callback?.("fixed"); }
}

// -- seed control: "increment" / "decrement" step past the last run's candidates -----------------
// Candidate i is seed + i, so a run uses the stock seeds seed .. seed + span - 1; the stock control
// moves the seed by one step, and the next run would repeat span - 1 candidates. The wrapped control
// moves it by span steps instead. The count widget of each strategy: zero-order draws only `seed`
// itself as a stock seed (its other noises are derived from it), so its span is 1, as is an unknown
// strategy's.
const SPAN_WIDGET = { NoiseSearchRandom: "candidates", NoiseSearchPaths: "n", NoiseSearchParticles: "particles" };
const SEED_LIMIT = 0x4000000000000; // the frontends clamp a controlled value to ±2^50

function intWidget(node, name) {
  const v = Math.round(Number(node?.widgets?.find((w) => w.name === name)?.value));
  return Number.isFinite(v) && v >= 1 ? v : 1;
}

/** How many stock seeds a run of search node `node` uses: its strategy's count, else `candidates`. */
function seedSpan(node) {
  const slot = node.inputs?.findIndex((i) => i.name === "strategy") ?? -1;
  const src = slot >= 0 ? node.getInputNode?.(slot) : null;
  if (!src) return intWidget(node, "candidates");
  const name = SPAN_WIDGET[src.comfyClass ?? src.type];
  return name ? intWidget(src, name) : 1;
}

/** Make the control of `node`'s seed widget step by `span()` seeds. The stock step runs first (it
 *  knows whether the seed is linked, the control mode, the partial-execution case); when it moved
 *  the seed by increment or decrement, the seed is set to the old value ± span steps instead. */
function stepSeedBySpan(node, span) {
  const seed = seedWidget(node);
  const ctl = seed && controlOf(node, seed);
  if (!ctl) return;
  for (const hook of ["beforeQueued", "afterQueued"]) {
    const stock = ctl[hook];
    if (typeof stock !== "function" || stock.__nsSpan) continue;
    const wrapped = function (...args) {
      const old = seed.value;
      const r = stock.apply(this, args);
      const dir = { increment: 1, decrement: -1 }[ctl.value];
      if (dir && typeof old === "number" && seed.value !== old) {
        const { min = 0, max = SEED_LIMIT, step2 = 1 } = seed.options ?? {};
        const v = Math.min(Math.max(old + dir * step2 * span(), Math.max(min, -SEED_LIMIT)), Math.min(max, SEED_LIMIT));
        if (v !== seed.value) { seed.value = v; seed.callback?.(v); }
      }
      return r;
    };
    wrapped.__nsSpan = true;
    ctl[hook] = wrapped;
  }
}

/** A Random Noise node feeding Advanced searches: its span is the largest of theirs (1 for none). */
function noiseSpan(noiseNode) {
  let span = 1;
  for (const n of noiseNode.graph?.nodes ?? []) {
    if (n.type !== "NoiseSearchSamplerAdvanced") continue;
    const slot = n.inputs?.findIndex((i) => i.name === "noise") ?? -1;
    if (slot >= 0 && n.getInputNode?.(slot) === noiseNode) span = Math.max(span, seedSpan(n));
  }
  return span;
}

/** The subgraph nodes' widgets that feed `w` of `node`, outermost last. Frontends 1.48 and 1.58
 *  promote a widget by linking its input to a subgraph input: the prompt then sends the value of the
 *  subgraph node's widget. (1.32 mirrors the inner widget in a proxy widget instead, with no link:
 *  setting the inner widget is enough there, and this finds nothing.) */
function promotedHosts(node, w, execId) {
  const out = [];
  let path = execPathNodes(execId);
  for (let depth = 0; node && depth < 16; depth++) {
    const slot = node.inputs?.findIndex((i) => i.widget?.name === w.name) ?? -1;
    const link = slot >= 0 ? inputLink(node, slot) : null;
    const graph = node.graph;
    const from = graph?.inputNode;
    if (!link || !from || String(link.origin_id) !== String(from.id)) break;
    const subIn = graph.inputs?.[link.origin_slot];
    const host = subgraphHost(graph, path);
    path = path?.slice(0, -1);
    const hostIn = host?.inputs?.find((i) => i._subgraphSlot === subIn) ?? host?.inputs?.find((i) => i.name === subIn?.name);
    const hw = hostIn?.widget && host.widgets?.find((x) => x.name === hostIn.widget.name);
    if (!hw) break;
    out.push({ node: host, widget: hw });
    node = host; w = hw;
  }
  return out;
}

/** The link into input `slot` of `node`, through LGraphNode's own getInputLink: a subgraph node
 *  overrides it (it answers for the inner link), and `input.link` is deprecated in newer frontends. */
function inputLink(node, slot) {
  const get = globalThis.LiteGraph?.LGraphNode?.prototype?.getInputLink ?? node.getInputLink;
  return get?.call(node, slot) ?? null;
}

/** The nodes of an execution id ("12:5" -> [root's node 12, its subgraph's node 5]). */
function execPathNodes(id) {
  if (id === null || id === undefined) return null;
  const nodes = [];
  let graph = app.graph;
  for (const p of String(id).split(":")) {
    const n = graph?.getNodeById?.(p) ?? graph?.getNodeById?.(Number(p));
    if (!n) return null;
    nodes.push(n);
    graph = n.subgraph;
  }
  return nodes;
}

/** The subgraph node that holds `graph`: the one on the execution path, else the only instance. */
function subgraphHost(graph, path) {
  const onPath = path?.length >= 2 ? path[path.length - 2] : null;
  if (onPath?.subgraph === graph) return onPath;
  const found = [];
  const walk = (g, depth) => {
    for (const n of g?.nodes ?? []) {
      if (!n.subgraph || depth > 16) continue;
      if (n.subgraph === graph) found.push(n);
      else walk(n.subgraph, depth + 1);
    }
  };
  walk(app.graph, 0);
  return found.length === 1 ? found[0] : null;
}

/** The node whose seed drives this search: itself (KSampler-style) or its Random Noise input. */
function seedHolder(node) {
  if (seedWidget(node)) return node;
  const slot = node.inputs?.findIndex((i) => i.name === "noise");
  if (slot === undefined || slot < 0) return null;
  const src = node.getInputNode?.(slot);
  return seedWidget(src) ? src : null;
}

/** Selected nodes: `selectedItems` (nodes, groups, reroutes); `selected_nodes` is deprecated and
 *  used only by frontends without `selectedItems`. */
function selectedSeedNodes(self) {
  const c = app.canvas;
  const sel = c?.selectedItems ? [...c.selectedItems] : Object.values(c?.selected_nodes ?? {});
  return sel.filter((n) => n !== self && seedWidget(n));
}

// -- routing events to panels ----------------------------------------------------------------
function nodeByExecutionId(id) {
  return execPathNodes(id)?.at(-1) ?? null;
}

function panelFor(id) {
  const panel = nodeByExecutionId(id)?.__nsPanel ?? null;
  if (panel) panel.execId = String(id); // which subgraph instance ran (its promoted seed is the one to set)
  return panel;
}

app.registerExtension({
  name: EXT,

  async setup() {
    injectStyle();
    api.addEventListener("noise_search.progress", ({ detail }) => {
      try { panelFor(detail?.node)?.onProgress(detail); } catch (e) { console.warn("[noise search] progress", e); }
    });
    api.addEventListener("noise_search.done", ({ detail }) => {
      try { panelFor(detail?.node)?.onDone(detail.report, detail.images); } catch (e) { console.warn("[noise search] done", e); }
    });
    api.addEventListener("executing", ({ detail }) => {
      const id = typeof detail === "object" && detail !== null ? detail.node : detail;
      panelFor(id)?.reset();
    });
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name === "RandomNoise") {
      const created = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function () {
        const r = created?.apply(this, arguments);
        stepSeedBySpan(this, () => noiseSpan(this));
        return r;
      };
      return;
    }
    if (!SEARCH_NODES.has(nodeData?.name)) return;
    injectStyle();

    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      stepSeedBySpan(this, () => seedSpan(this));
      const panel = new SearchPanel(this);
      this.__nsPanel = panel;
      // the candidates are shown in our gallery, with scores: no stock image grid under it
      // (Nodes 2.0 reads this flag; the classic canvas draws the grid in onDrawBackground, below)
      this.hideOutputImages = true;
      const widget = this.addDOMWidget("noise_search_panel", "noise_search", panel.root, {
        serialize: false,
        hideOnZoom: false,
        getMinHeight: () => panel.height(),
        getMaxHeight: () => panel.height() + 400,
      });
      widget.serialize = false; // not part of widgets_values in saved workflows
      this.setSize([Math.max(this.size[0], 340), this.computeSize()[1]]);
      return r;
    };

    // the candidates are shown in our gallery, with scores: skip the stock image preview
    nodeType.prototype.onDrawBackground = function () {};

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      const r = onExecuted?.apply(this, arguments);
      try {
        const rep = message?.noise_search?.[0];
        if (rep) this.__nsPanel?.onDone(typeof rep === "string" ? JSON.parse(rep) : rep, message.images);
      } catch (e) {
        console.warn("[noise search] executed", e);
      }
      return r;
    };
  },
});
