"""One prompt for the whole graph, in the real frontend: the CLIPScore example (UI format) loads with
one String node feeding both CLIPTextEncode and the verifier; editing that one node and queueing
runs the search against the edited prompt (the same scores as the prompt written into both)."""
import copy
import json
import time

import pytest

from scripts.examples import substitute_tiny_ui
from scripts.make_ui_workflows import EXAMPLES
from tests.browser.test_ui import _unexpected  # the frontend's own known console noise

NEW = "a blue car in the sky"

SETUP_JS = """async ([wf, text]) => {
  await app.loadGraphData(wf, true, true, 'shared-prompt');
  for (const n of app.graph.nodes) {
    if (n.type === 'EmptyLatentImage') for (const k of ['width', 'height']) n.widgets.find(w => w.name === k).value = 64;
    if (n.type === 'NoiseSearchSampler') {
      n.widgets.find(w => w.name === 'candidates').value = 2;
      n.widgets.find(w => w.name === 'steps').value = 2;
    }
  }
  const strs = app.graph.nodes.filter(n => n.type === 'PrimitiveStringMultiline');
  strs[0].widgets.find(w => w.name === 'value').value = text;
  const out = strs[0].outputs[0].links ?? [];
  const consumers = out.map(id => app.graph.links[id] ?? app.graph.links.get?.(id))
                       .map(l => [app.graph.getNodeById(l.target_id).type, l.target_slot]);
  return {strings: strs.length, id: strs[0].id, consumers,
          search: app.graph.nodes.find(n => n.type === 'NoiseSearchSampler').id};
}"""


@pytest.fixture(scope="module")
def tiny_clip(ui_host):
    from tests.tiny_models import make_clip_dir
    path = ui_host.base_dir / "models" / "verifiers" / "openai" / "clip-vit-large-patch14"
    if not (path / "config.json").exists():
        make_clip_dir(str(path), seed=7)
    return path


def _history_entry(host, node_id, t0, timeout=180):
    while time.time() - t0 < timeout:
        for v in host.get("/history").values():
            if str(node_id) in v.get("outputs", {}):
                return v
        time.sleep(0.5)
    raise AssertionError("the queued prompt did not finish")


def test_example_with_one_shared_prompt_loads_and_runs(comfy_page, ui_host, tiny_clip):
    page, log = comfy_page
    wf = substitute_tiny_ui(json.loads((EXAMPLES / "best_of_n_clipscore.json").read_text()))
    info = page.evaluate(SETUP_JS, [wf, NEW])
    assert info["strings"] == 1
    assert sorted(t for t, _ in info["consumers"]) == ["CLIPTextEncode", "NoiseSearchCLIPScore"]
    t0 = time.time()
    page.evaluate("() => app.queuePrompt(0, 1)")
    entry = _history_entry(ui_host, info["search"], t0)
    api = entry["prompt"][2]
    sid = str(info["id"])
    assert api[sid]["inputs"]["value"] == NEW
    enc = [n for n in api.values() if n["class_type"] == "CLIPTextEncode" and n["inputs"]["text"] == [sid, 0]]
    ver = [n for n in api.values() if n["class_type"] == "NoiseSearchCLIPScore"]
    assert len(enc) == 1 and ver[0]["inputs"]["prompt"] == [sid, 0]
    rep = entry["outputs"][str(info["search"])]["noise_search"][0]
    scores = [c["score"] for c in rep["candidates"]]
    assert len(scores) == 2 and len(set(scores)) == 2
    # the same graph with the prompt typed into both nodes gives the same scores
    typed = copy.deepcopy(api)
    enc_id = next(k for k, n in typed.items() if n["class_type"] == "CLIPTextEncode" and n["inputs"]["text"] == [sid, 0])
    ver_id = next(k for k, n in typed.items() if n["class_type"] == "NoiseSearchCLIPScore")
    typed[enc_id]["inputs"]["text"] = NEW
    typed[ver_id]["inputs"]["prompt"] = NEW
    del typed[sid]
    rep2 = ui_host.run(typed)[str(info["search"])]["noise_search"][0]
    assert [c["score"] for c in rep2["candidates"]] == scores
    # the frontend's own start-up may read app.rootGraph before it exists (this pack never reads
    # rootGraph); it logs this line from its settingStore bundle
    errs = [e for e in _unexpected(log.errors(), ui_host.url)
            if not (e[1] == "ComfyApp graph accessed before initialization" and "/assets/settingStore-" in e[2])]
    assert not errs, errs
