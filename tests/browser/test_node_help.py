"""In the real frontend: a node's help page opens in the frontend's own node help panel (the
selection toolbox's info button), fetched from this pack's web/docs/; and the UI-format workflows
saved with an earlier release (tests/fixtures/workflows-*/) load without missing nodes."""
import json
import re
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts"

ADD_NODE_JS = """async () => {
  app.graph.clear();
  const n = LiteGraph.createNode('NoiseSearchSampler');
  n.pos = [300, 200];
  app.graph.add(n);
  app.canvas.ds.scale = 1; app.canvas.ds.offset = [0, 0];
  app.canvas.setDirty(true, true);
  await new Promise(r => setTimeout(r, 300));
  // where the node's title is on the page, for a click as the user selects it
  const rect = app.canvas.canvas.getBoundingClientRect();
  const [x, y] = app.canvas.ds.convertOffsetToCanvas([n.pos[0] + 60, n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT / 2]);
  return {id: n.id, x: rect.left + x / (window.devicePixelRatio || 1), y: rect.top + y / (window.devicePixelRatio || 1)};
}"""


def test_help_page_opens_in_the_node_help_panel(comfy_page):
    page, log = comfy_page
    at = page.evaluate(ADD_NODE_JS)
    # select it, as a user does: the selection toolbox appears (Nodes 2.0 draws the node as DOM)
    el = page.locator(f'[data-node-id="{at["id"]}"]')
    if el.count():
        el.first.click(position={"x": 60, "y": 12})
    else:
        page.mouse.click(at["x"], at["y"])
    button = page.locator('[data-testid="info-button"]').first
    button.wait_for(state="visible", timeout=15000)
    button.click()
    panel = page.locator(".node-help-content").first
    panel.wait_for(state="visible", timeout=15000)
    page.wait_for_function("() => document.querySelector('.node-help-content')?.innerText.includes('Start here')",
                           timeout=15000)
    text = panel.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "node_help_panel.png"))
    assert "Start here" in text and "budget_nfe" in text, text[:500]


LOAD_JS = """async (wf) => {
  await app.loadGraphData(wf, true, true, 'saved');
  await new Promise(r => setTimeout(r, 100));
  const dialogs = [...document.querySelectorAll('.p-dialog, .p-toast-message')]
    .map(d => d.innerText.slice(0, 300)).filter(t => t.trim());
  document.querySelectorAll('.p-toast-message .p-toast-close-button').forEach(b => b.click());
  const nodes = app.graph.nodes;
  return {count: nodes.length, dialogs,
          unknown: nodes.filter(n => !LiteGraph.registered_node_types[n.type] || n.has_errors).map(n => n.type),
          widgets: Object.fromEntries(nodes.filter(n => n.type.startsWith('NoiseSearch'))
            .map(n => [n.id, (n.widgets ?? []).map(w => [w.name, w.value])]))};
}"""


@pytest.mark.parametrize("path", sorted(p for p in FIXTURES.glob("workflows-*/*.json")
                                        if not p.name.endswith(".api.json")), ids=lambda p: p.name)
def test_saved_ui_workflow_loads(comfy_page, path):
    page, log = comfy_page
    wf = json.loads(path.read_text())
    res = page.evaluate(LOAD_JS, wf)
    assert not res["unknown"], (path.name, res["unknown"])
    assert not [d for d in res["dialogs"] if re.search(r"missing|invalid|error", d, re.I)], res["dialogs"]
    assert res["count"] == len(wf["nodes"])
    # every saved widget value is on the loaded node (none dropped by a renamed or moved input)
    for node in wf["nodes"]:
        if not node["type"].startswith("NoiseSearch") or not node.get("widgets_values"):
            continue
        loaded = [json.dumps(v) for _, v in res["widgets"][str(node["id"])]]
        for v in node["widgets_values"]:
            assert json.dumps(v) in loaded, (path.name, node["type"], v, res["widgets"][str(node["id"])])
