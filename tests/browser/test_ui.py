"""The web extension in the real frontend: headless Chromium on the test host's ComfyUI page loads
an example workflow, queues it, watches the live chart fill and the gallery appear (and no stock
image grid), copies the winning seed (also into a seed promoted out of a subgraph), and finds no
console errors and no warning from this pack; every UI-format example loads with all node types
known. Each test runs in every node-rendering mode the frontend has (classic, Nodes 2.0)."""
import json
import re
import time
from pathlib import Path

import pytest

from scripts.examples import API_DIR, substitute_tiny_ui
from scripts.make_ui_workflows import EXAMPLES

pytestmark = pytest.mark.browser

DEMO = "best_of_n_color"

#: console errors that are not about this page or this pack; everything else fails the tests.
#: (message pattern, URL pattern or None, why it is ignored)
IGNORED_CONSOLE_ERRORS = [
    # A fresh user profile: the frontend probes optional per-user files and folders that do not
    # exist yet (custom CSS, saved workflows, saved subgraphs, the templates cache) and the server
    # answers 404; plus the browser's automatic favicon request (ComfyUI serves none).
    (r"Failed to load resource: the server responded with a status of 404",
     r"/(api/userdata/user\.css|user\.css|favicon\.ico|api/userdata\?dir=(workflows|subgraphs)[^/]*"
     r"|api/userdata/comfy\.templates\.json)$", "optional per-user files of a fresh profile"),
    # The sandbox has no internet: what the frontend fetches from other hosts (registry, release
    # notes, fonts) fails with a net:: error. Only for URLs that are not on the test server.
    (r"net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED|ADDRESS_UNREACHABLE|"
     r"NETWORK_ACCESS_DENIED|TIMED_OUT)", None, "no internet in the test sandbox"),
    # Frontend 1.32.9's own start-up: GraphView's load() sets a setting that has no registered
    # definition and the store's onChange reads `.id` of undefined. It happens with this pack's
    # extension blocked too (checked by serving an empty module in its place).
    (r"^TypeError: Cannot read properties of undefined \(reading 'id'\)\s+at onChange \(\S+/assets/index-[\w-]+\.js"
     r"[^)]*\)\s+at Proxy\.set", None, "a frontend start-up bug, not caused by this pack"),
    # Frontends 1.48.7 and 1.58.1 at start-up: something reads app.rootGraph before the graph
    # exists, and the getter logs this. It happens with this pack's extension blocked too (checked
    # by serving an empty module in its place); the message comes from the frontend's own bundle.
    # Version skew between the host's own parts: frontend 1.58.1 is newer than core v0.33.0 and asks
    # the core's job API for routes it does not have yet (/api/jobs/{id}/assets, answered 404 by
    # v0.33.0's server.py, which serves only /api/jobs, /api/jobs/{id} and the cancel routes). The
    # queue/assets panels make these requests, not this pack: only for URLs under /api/jobs.
    (r"Failed to load resource: the server responded with a status of (404|405)", r"/api/jobs(/[^?]*)?(\?.*)?$",
     "the frontend's job API is newer than the core's (host version skew)"),
    (r"^ComfyApp graph accessed before initialization$", r"/assets/[\w-]+\.js$",
     "a frontend start-up message, not caused by this pack"),
]


def _unexpected(errors, host_url):
    out = []
    for kind, text, url in errors:
        ignored = False
        for msg, url_pat, _why in IGNORED_CONSOLE_ERRORS:
            if not re.search(msg, text):
                continue
            if url_pat is not None and not (url.startswith(host_url) and re.search(url_pat, url[len(host_url):])):
                continue
            if msg.startswith("net::") and url.startswith(host_url):
                continue
            ignored = True
            break
        if not ignored:
            out.append((kind, text, url))
    return out


def test_console_filter_ignores_only_the_listed_host_messages():
    """The filter keeps what the list does not name: the same message from another URL, or from
    this pack's extension, still fails the tests."""
    u = "http://127.0.0.1:8188"
    e404 = "Failed to load resource: the server responded with a status of 404 (Not Found)"
    errs = [("error", e404, u + "/api/jobs/0b1c/assets?limit=500&offset=0"),
            ("error", "ComfyApp graph accessed before initialization", u + "/assets/app-sW8NrIg5.js"),
            ("error", e404, u + "/api/view?filename=x.png"),
            ("error", e404, "http://elsewhere/api/jobs/0b1c/assets"),
            ("error", "ComfyApp graph accessed before initialization", u + "/extensions/comfyui-noise-search/noise_search.js")]
    assert _unexpected(errs, u) == errs[2:]


def _check_console(log, host_url, what="console errors"):
    """No unexpected console error, and no warning or error at all from this pack's extension
    (a deprecation warning printed by the frontend while our code is on the stack counts)."""
    errs = _unexpected(log.errors(), host_url)
    assert not errs, f"{what}:\n" + "\n".join(map(str, errs))
    ours = log.ours()
    assert not ours, "warnings / errors from this pack's extension:\n" + "\n".join(map(str, ours))


def _ui_examples():
    return sorted(EXAMPLES.glob("*.json"))


LOAD_JS = """async (wf) => {
  await app.loadGraphData(wf, true, true, 'test');
  await new Promise(r => setTimeout(r, 100));
  const nodes = app.graph.nodes;
  const dialogs = [...document.querySelectorAll('.p-dialog, .p-toast-message')]
    .map(d => d.innerText.slice(0, 300)).filter(t => t.trim());
  document.querySelectorAll('.p-toast-message .p-toast-close-button').forEach(b => b.click());
  return {
    count: nodes.length,
    types: nodes.map(n => n.type),
    unknown: nodes.filter(n => !LiteGraph.registered_node_types[n.type] || n.has_errors).map(n => n.type),
    links: Object.keys(app.graph.links instanceof Map ? Object.fromEntries(app.graph.links) : app.graph.links).length,
    dialogs,
  };
}"""


def test_every_ui_example_loads_without_missing_nodes(comfy_page, ui_host):
    page, log = comfy_page
    files = _ui_examples()
    assert len(files) >= 6, [f.name for f in files]
    for f in files:
        # the tiny test checkpoint in place of the real model the file names (the frontend would
        # rightly offer that model's download: test_missing_model_is_offered_for_download)
        wf = substitute_tiny_ui(json.loads(f.read_text()))
        assert "nodes" in wf and "links" in wf, f"{f.name} is not UI format"
        assert (API_DIR / f.name.replace(".json", ".api.json")).exists(), f"{f.name} has no API twin"
        res = page.evaluate(LOAD_JS, wf)
        assert not res["unknown"], f"{f.name}: node types unknown to the frontend: {res['unknown']}"
        assert not [d for d in res["dialogs"] if re.search(r"missing|invalid|error", d, re.I)], \
            f"{f.name}: {res['dialogs']}"
        assert res["count"] == len(wf["nodes"]), (f.name, res)
        assert res["links"] == len(wf["links"]), (f.name, res)
        # every API node is in the UI file, with the same type
        api = json.loads((API_DIR / f.name.replace(".json", ".api.json")).read_text())
        ui_types = {str(n["id"]): n["type"] for n in wf["nodes"]}
        for nid, node in api.items():
            assert ui_types.get(nid) == node["class_type"], (f.name, nid, node["class_type"])
    bad = [m for m in log.since() if m[0] == "warning" and re.search(r"zod|invalid workflow", m[1], re.I)]
    assert not bad, bad
    _check_console(log, ui_host.url, "console errors while loading the examples")


RUN_SETUP_JS = """async ([wf, seed]) => {
  await app.loadGraphData(wf, true, true, 'demo');
  // the demo at 64x64 px, 4 candidates of 4 steps: the tiny CPU checkpoint, seconds per run
  for (const n of app.graph.nodes) if (n.type === 'EmptyLatentImage') {
    n.widgets.find(w => w.name === 'width').value = 64;
    n.widgets.find(w => w.name === 'height').value = 64;
  }
  const s = app.graph.nodes.find(n => n.type === 'NoiseSearchSampler');
  s.widgets.find(w => w.name === 'candidates').value = 4;
  s.widgets.find(w => w.name === 'steps').value = 4;
  // a seed of its own per mode: the same prompt again would come from the server's cache, unwatched
  s.widgets.find(w => w.name === 'seed').value = seed;
  return {id: s.id, candidates: s.widgets.find(w => w.name === 'candidates').value,
          seed: s.widgets.find(w => w.name === 'seed').value,
          panel: !!s.widgets.find(w => w.name === 'noise_search_panel')};
}"""

FOCUS_JS = """(id) => {
  // frame the search node (title included) below the top bar, for the screenshot
  document.querySelectorAll('.p-toast-message .p-toast-close-button').forEach(b => b.click());
  const s = app.graph.getNodeById(id);
  const ds = app.canvas.ds;
  const cw = app.canvas.canvas.clientWidth, ch = app.canvas.canvas.clientHeight;
  const top = 90, title = LiteGraph.NODE_TITLE_HEIGHT;
  ds.scale = Math.min(1.3, (ch - top - 20) / (s.size[1] + title));
  ds.offset[0] = cw / ds.scale / 2 - (s.pos[0] + s.size[0] / 2);
  ds.offset[1] = top / ds.scale - (s.pos[1] - title);
  app.canvas.setDirty(true, true);
}"""


STOCK_GRID_JS = """(id) => {
  // the images the frontend shows for the node outside our panel: Nodes 2.0 renders the node as
  // DOM (its output preview is an <img> in the node's element); the classic canvas keeps a
  // preview widget or draws node.imgs in onDrawBackground
  const s = app.graph.getNodeById(id);
  const el = document.querySelector(`[data-node-id="${id}"]`);
  const stock = el ? [...el.querySelectorAll('img, video')]
    .filter(i => !i.closest('[data-testid=ns-panel]') && i.checkVisibility()) : [];  // shown to the user
  return {nodeEl: !!el, stockImgs: stock.length, hide: !!s.hideOutputImages,
          previewWidgets: (s.widgets ?? []).filter(w => w.name?.startsWith('$$canvas-image-preview')).length};
}"""


def test_live_chart_and_gallery_after_a_run(comfy_page, ui_host, artifacts, ui_mode):
    page, log = comfy_page
    wf = substitute_tiny_ui(json.loads((EXAMPLES / f"{DEMO}.json").read_text()))
    info = page.evaluate(RUN_SETUP_JS, [wf, {"classic": 42, "nodes2": 4242}[ui_mode]])
    assert info["panel"], "the search node has no noise_search_panel widget"
    n = info["candidates"]
    chart = page.locator(f'[data-testid="ns-chart"]')
    assert chart.count() == 1
    # the points arrive live, while the prompt runs (the promise resolves when queued)
    # record (points, gallery items) every time the panel changes
    page.evaluate("""() => { window.__nsStates = [];
      const root = document.querySelector('[data-testid=ns-panel]');
      new MutationObserver(() => window.__nsStates.push([
          root.querySelectorAll('[data-testid=ns-point]').length,
          root.querySelectorAll('[data-testid=ns-candidate]').length]))
        .observe(root, {childList: true, subtree: true}); }""")
    page.evaluate("() => app.queuePrompt(0, 1)")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=ns-point]').length >= 2", timeout=120_000)
    page.wait_for_function(f"() => document.querySelectorAll('[data-testid=ns-candidate]').length === {n}",
                           timeout=120_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=ns-candidate] img').length > 0 && "
                           "[...document.querySelectorAll('[data-testid=ns-candidate] img')].every(i => i.complete && i.naturalWidth > 0)",
                           timeout=30_000)

    # no stock image grid under our gallery (the gallery shows the same candidates, with scores)
    page.wait_for_timeout(300)  # the frontend's own preview (if any) follows the same executed event
    grid = page.evaluate(STOCK_GRID_JS, info["id"])
    if ui_mode == "nodes2":
        assert grid["nodeEl"], "Nodes 2.0: no DOM element for the search node"
        assert grid["stockImgs"] == 0, grid
    else:
        assert grid["previewWidgets"] == 0, grid

    # live: points were drawn one progress event at a time, before the gallery existed
    states = page.evaluate("() => window.__nsStates")
    before_gallery = sorted({p for p, g in states if g == 0 and p > 0})
    assert len(before_gallery) >= 2, states
    points = page.locator('[data-testid="ns-point"]')
    assert points.count() == n
    nfes = [int(points.nth(i).get_attribute("data-nfe")) for i in range(n)]
    assert all(x > 0 for x in nfes) and nfes == sorted(nfes)
    assert page.locator('[data-testid="ns-best-line"]').count() == 1

    cands = page.locator('[data-testid="ns-candidate"]')
    rows = [{"seed": int(cands.nth(i).get_attribute("data-seed")), "score": float(cands.nth(i).get_attribute("data-score")),
             "winner": cands.nth(i).get_attribute("data-winner") == "true"} for i in range(n)]
    assert sorted(r["seed"] for r in rows) == [info["seed"] + i for i in range(n)]
    winners = [r for r in rows if r["winner"]]
    assert len(winners) == 1
    assert winners[0]["score"] == max(r["score"] for r in rows)
    # same winner as the server's report
    # (the gallery is drawn on noise_search.done, sent before the prompt is in the history)
    reports, t0 = [], time.time()
    while not reports and time.time() - t0 < 60:
        reports = [v["outputs"][str(info["id"])]["noise_search"][0] for v in ui_host.get("/history").values()
                   if str(info["id"]) in v.get("outputs", {})]
        time.sleep(0.2)
    assert reports and reports[-1]["best"]["seed"] == winners[0]["seed"]

    # the winning seed goes into the node's own seed widget (and the widget is set to fixed)
    page.evaluate("""(id) => { const s = app.graph.getNodeById(id);
        s.widgets.find(w => w.name === 'seed').value = 0; }""", info["id"])
    page.evaluate("() => document.querySelector('[data-testid=ns-use-seed]').click()")
    seed, ctl = page.evaluate("""(id) => { const s = app.graph.getNodeById(id);
        return [s.widgets.find(w => w.name === 'seed').value,
                s.widgets.find(w => w.name === 'control_after_generate').value]; }""", info["id"])
    assert (seed, ctl) == (winners[0]["seed"], "fixed")

    # ... and into a selected stock KSampler
    ks_seed = page.evaluate("""(id) => {
        const ks = LiteGraph.createNode('KSampler'); ks.pos = [0, -400]; app.graph.add(ks);
        app.canvas.selectNode(ks);
        document.querySelector('[data-testid=ns-copy-seed-selected]').click();
        const v = ks.widgets.find(w => w.name === 'seed').value;
        app.graph.remove(ks);
        return v; }""", info["id"])
    assert ks_seed == winners[0]["seed"]

    page.wait_for_function("() => / NFE /.test(document.querySelector('[data-testid=ns-summary]').textContent)",
                           timeout=10_000)  # the run summary is back after the seed-copy notice
    page.evaluate(FOCUS_JS, info["id"])
    page.wait_for_timeout(300)
    shot = artifacts / f"ui_after_run_{ui_mode}.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    _check_console(log, ui_host.url)


SUBGRAPH_JS = """async (wf) => {
  await app.loadGraphData(wf, true, true, 'subgraph');
  const s = app.graph.nodes.find(n => n.type === 'NoiseSearchSampler');
  // the user's way: select the search node, "Convert to Subgraph" (its seed gets promoted)
  app.canvas.deselectAll?.();
  app.canvas.selectNode(s);
  await app.extensionManager.command.execute('Comfy.Graph.ConvertToSubgraph');
  await new Promise(r => setTimeout(r, 200));
  const host = app.graph.nodes.find(n => n.subgraph?.nodes?.some(x => x.type === 'NoiseSearchSampler'));
  if (!host) return {error: 'no subgraph node after Convert to Subgraph'};
  const inner = host.subgraph.nodes.find(x => x.type === 'NoiseSearchSampler');
  const execId = `${host.id}:${inner.id}`;
  const promoted = (host.widgets ?? []).map(w => w.name);
  // a finished run of the inner node, as the server sends it (no images: only the seed logic)
  const report = {algorithm: 'random', best: {score: 0.9, seed: 1234, candidate: 1},
    totals: {nfe: 8, verifier_calls: 2, candidates: 2}, finals: [],
    candidates: [{index: 0, seed: 1233, score: 0.1, nfe: 4, stage: 'final'},
                 {index: 1, seed: 1234, score: 0.9, nfe: 8, stage: 'final'}]};
  window.comfyAPI.api.api.dispatchEvent(new CustomEvent('noise_search.done', {detail: {node: execId, report, images: []}}));
  const before = (await app.graphToPrompt()).output[execId]?.inputs?.seed;
  // open the subgraph and press "Use seed" on the search node's panel
  app.canvas.setGraph(host.subgraph);
  await new Promise(r => setTimeout(r, 200));
  const panel = inner.widgets.find(w => w.name === 'noise_search_panel').element;
  const button = panel.querySelector('[data-testid=ns-use-seed]');
  const label = button.textContent;
  button.click();
  const prompt = (await app.graphToPrompt()).output;
  app.canvas.setGraph(app.graph);
  return {promoted, before, label, sent: prompt[execId]?.inputs?.seed, keys: Object.keys(prompt),
          inner: inner.widgets.find(w => w.name === 'seed').value,
          summary: panel.querySelector('[data-testid=ns-summary]').textContent};
}"""


def test_use_seed_sets_the_seed_promoted_out_of_a_subgraph(comfy_page, ui_host):
    """The search node converted into a subgraph: its seed is promoted to the subgraph node, whose
    value is what the prompt sends. "Use seed" must change what the prompt sends."""
    page, log = comfy_page
    wf = substitute_tiny_ui(json.loads((EXAMPLES / f"{DEMO}.json").read_text()))
    res = page.evaluate(SUBGRAPH_JS, wf)
    assert "error" not in res, res
    assert any("seed" in n for n in res["promoted"]), f"the seed was not promoted: {res}"
    assert res["before"] == 42 and res["label"] == "Use seed 1234", res
    assert res["sent"] == 1234, f"the prompt still sends the old seed: {res}"
    assert res["inner"] == 1234, res
    _check_console(log, ui_host.url)


ADVANCED_JS = """async (wf) => {
  await app.loadGraphData(wf, true, true, 'flow');
  const s = app.graph.nodes.find(n => n.type === 'NoiseSearchSamplerAdvanced');
  const noise = app.graph.nodes.find(n => n.type === 'RandomNoise');
  const panel = s.widgets.find(w => w.name === 'noise_search_panel');
  // a finished run's payload, as the server sends it (no images: only the seed logic is checked)
  const report = {algorithm: 'random', best: {score: 0.9, seed: 1234, candidate: 1},
    totals: {nfe: 8, verifier_calls: 2, candidates: 2}, finals: [],
    candidates: [{index: 0, seed: 1233, score: 0.1, nfe: 4, stage: 'final'},
                 {index: 1, seed: 1234, score: 0.9, nfe: 8, stage: 'final'}]};
  s.onExecuted({images: [], noise_search: [report]});
  const el = panel.element;
  const points = el.querySelectorAll('[data-testid=ns-point]').length;
  el.querySelector('[data-testid=ns-use-seed]').click();
  return {points, seed: noise.widgets.find(w => w.name === 'noise_seed').value,
          summary: el.querySelector('[data-testid=ns-summary]').textContent};
}"""


def test_advanced_node_copies_the_seed_into_its_random_noise(comfy_page, ui_host):
    page, log = comfy_page
    wf = substitute_tiny_ui(json.loads((EXAMPLES / "flow_advanced_flux_style.json").read_text()))
    res = page.evaluate(ADVANCED_JS, wf)
    assert res["points"] == 2, res  # the curve is rebuilt from the report when not watched live
    assert res["seed"] == 1234, res
    _check_console(log, ui_host.url)


def test_templates_menu_lists_the_ui_examples_with_thumbnails(comfy_page, ui_host):
    """The server lists every example_workflows/*.json as a template (the API twins live in
    api_workflows/, which it does not list); each opens as the templates browser opens it, and its
    thumbnail is served where the frontend asks for it."""
    page, log = comfy_page
    raw = ui_host.get("/workflow_templates")["comfyui-noise-search"]
    assert sorted(raw) == sorted(p.name[:-len(".json")] for p in _ui_examples())
    shown = page.evaluate("() => window.comfyAPI.api.api.getWorkflowTemplates()")["comfyui-noise-search"]
    assert sorted(shown) == sorted(raw)
    for name in shown:
        res = page.evaluate("""async (name) => {
            const url = (p) => window.comfyAPI.api.api.apiURL(`/workflow_templates/comfyui-noise-search/${p}`);
            const wf = await (await fetch(url(`${name}.json`))).json();
            const thumb = await fetch(url(`${name}.jpg`));
            await app.loadGraphData(wf, true, true, name, {openSource: 'template'});
            document.querySelectorAll('.p-dialog-close-button, .p-toast-close-button').forEach(b => b.click());
            // the loader may be flagged: this server has no real checkpoint (test_missing_model_is_offered_for_download)
            return {bad: app.graph.nodes.filter(n => !LiteGraph.registered_node_types[n.type]
                                                     || n.has_errors && n.type !== 'CheckpointLoaderSimple').length
                + (document.body.innerText.includes('Invalid workflow') ? 1000 : 0),
                thumb: thumb.status, type: thumb.headers.get('content-type')}; }""", name)
        assert res["bad"] == 0 and res["thumb"] == 200 and res["type"] == "image/jpeg", (name, res)


def test_missing_model_is_offered_for_download(comfy_page, ui_host, artifacts, ui_mode):
    """An example as shipped names the real checkpoint, which this server does not have: the
    frontend reads the loader's properties.models and offers that file's download (a dialog on
    older frontends; a toast whose 'View details' opens the Missing Models panel on newer ones)."""
    page, log = comfy_page
    wf = json.loads((EXAMPLES / f"{DEMO}.json").read_text())
    name = next(n["widgets_values"][0] for n in wf["nodes"] if n["type"] == "CheckpointLoaderSimple")
    # no dialog left open by an earlier test (a frontend shows one missing-models dialog at a time)
    page.evaluate("() => document.querySelectorAll('.p-dialog-close-button, .p-toast-close-button').forEach(b => b.click())")
    page.wait_for_function("() => !document.querySelector('.p-dialog')", timeout=10_000)
    page.evaluate("async (wf) => { await app.loadGraphData(wf, true, true, 'missing-model'); }", wf)
    page.wait_for_function("(name) => document.body.innerText.includes(name)", arg=name, timeout=30_000)
    details = page.get_by_text("View details")
    if details.count():
        details.first.click()
    page.wait_for_function("(name) => { const t = document.body.innerText; const i = t.indexOf(name);"
                           " return i >= 0 && /Download/.test(t); }", arg=name, timeout=30_000)
    page.screenshot(path=str(artifacts / f"missing_model_download_{ui_mode}.png"))
    # the download goes where the file belongs
    assert "checkpoints" in page.evaluate("() => document.body.innerText")
    # leave a clean page for the next test: an empty graph, no dialog, toast or side panel
    page.evaluate("""async () => {
        document.querySelectorAll('.p-dialog-close-button, .p-toast-close-button').forEach(b => b.click());
        app.graph.clear(); app.graph.setDirtyCanvas(true, true); }""")


def test_template_browser_shows_the_thumbnails(comfy_page, ui_host, artifacts, ui_mode):
    """The Template Browser, opened as a user opens it, on this pack's category: the frontend asks for
    each shown template's NAME.jpg and draws it (the thumbnails are 256 px)."""
    page, log = comfy_page
    got = []
    on_response = lambda r: got.append((r.url, r.status)) if "/workflow_templates/comfyui-noise-search/" in r.url \
        and r.url.endswith(".jpg") else None
    page.on("response", on_response)
    try:
        page.evaluate("() => document.querySelectorAll('.p-dialog-close-button, .p-toast-close-button')"
                      ".forEach(b => b.click())")
        page.evaluate("() => app.extensionManager.command.execute('Comfy.BrowseTemplates')")
        page.get_by_text("comfyui-noise-search").first.click(timeout=30_000)
        page.wait_for_function("() => [...document.querySelectorAll('img')].filter(i => i.naturalWidth === 256)"
                               ".length >= 4", timeout=30_000)
        page.screenshot(path=str(artifacts / f"template_browser_{ui_mode}.png"))
    finally:
        page.remove_listener("response", on_response)
        page.keyboard.press("Escape")
    names = {u.rsplit("/", 1)[1] for u, s in got if s == 200}
    assert len(names) >= 4 and not [u for u, s in got if s != 200], got
    assert names <= {p.name.replace(".json", ".jpg") for p in _ui_examples()}, names


LIVE_BEST_JS = """async (wf) => {
  await app.loadGraphData(wf, true, true, 'live-best');
  const s = app.graph.nodes.find(n => n.type === 'NoiseSearchSampler');
  const el = s.widgets.find(w => w.name === 'noise_search_panel').element;
  const api = window.comfyAPI.api.api;
  const send = (d) => api.dispatchEvent(new CustomEvent('noise_search.progress', {detail: {node: String(s.id), ...d}}));
  const text = () => el.querySelector('[data-testid=ns-summary]').textContent;
  const line = () => el.querySelectorAll('[data-testid=ns-best-line]').length;
  // a particle search as the server sends it: x0 predictions first (best: none finished yet)
  send({index: 0, score: 0.9, best: null, best_intermediate: 0.9, nfe: 3, budget: 12, seed: null,
        stage: 'particle@3', intermediate: true});
  const during = {summary: text(), lines: line()};
  send({index: 1, score: 0.4, best: 0.4, best_intermediate: 0.9, nfe: 12, budget: 12, seed: null,
        stage: 'final', intermediate: false});
  const after = {summary: text(), lines: line()};
  // the same run rebuilt from its report (not watched live): the best line is the finished best
  s.onExecuted({images: [], noise_search: [{algorithm: 'particles', best: {score: 0.4, seed: null, candidate: 1},
    totals: {nfe: 12, verifier_calls: 2, candidates: 2}, finals: [],
    candidates: [{index: 0, seed: null, score: 0.9, nfe: 3, stage: 'particle@3'},
                 {index: 1, seed: null, score: 0.4, nfe: 12, stage: 'final'}]}]});
  return {during, after};
}"""


def test_live_best_is_the_best_finished_score(comfy_page, ui_host):
    """A particle search scores x0 predictions before any sample is finished: the panel's "best" is
    the best finished score, the x0 predictions' best is shown as what it is."""
    page, log = comfy_page
    wf = substitute_tiny_ui(json.loads((EXAMPLES / f"{DEMO}.json").read_text()))
    res = page.evaluate(LIVE_BEST_JS, wf)
    assert "best finished –" in res["during"]["summary"] and "best x0 prediction 0.9000" in res["during"]["summary"], res
    assert res["during"]["lines"] == 0, res  # no best line before a sample is finished
    assert "best finished 0.4000" in res["after"]["summary"] and res["after"]["lines"] == 1, res
    _check_console(log, ui_host.url)
