"""Workflows saved with an earlier release still load and run: tests/fixtures/workflows-<version>/
holds that release's example workflows as users saved them (UI and API format), never edited.
The API ones run through the real server (64x64 px, at most 10 steps and 2 candidates, tiny
verifier weights under the names they use); the UI ones load in the browser test (tests/browser/test_ui.py) through the frontend's own
loading path. Node ids, input names and output names are what these files name: they never change.
"""
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
API_FILES = sorted(FIXTURES.glob("workflows-*/*.api.json"))

CLIP = "openai/clip-vit-large-patch14"
IMAGE_REWARD = "THUDM/ImageReward"
AESTHETIC_HEAD = "sac+logos+ava1-l14-linearMSE.pth"
VLM = "Qwen/Qwen2.5-VL-3B-Instruct"
#: the run test's caps (CI time): 64x64 px, at most 10 steps and 2 candidates of each kind
SMALLER = {"steps": 10, "candidates": 2, "n_neighbors": 2, "iterations": 2, "particles": 2}


@pytest.fixture(scope="module")
def weights(comfy_base):
    from tests import tiny_models as T
    d = Path(comfy_base) / "models" / "verifiers"
    if not (d / CLIP / "config.json").exists():
        T.make_clip_dir(str(d / CLIP), seed=0)
    if not (d / IMAGE_REWARD / "ImageReward.pt").exists():
        T.make_image_reward_files(str(d / IMAGE_REWARD), seed=0)
    if not (d / AESTHETIC_HEAD).exists():
        T.make_aesthetic_head(str(d / AESTHETIC_HEAD), dim=16, seed=0)
    if not (d / VLM / "config.json").exists():
        from tests.tiny_vlm import make_vlm_dir
        make_vlm_dir(str(d / VLM), seed=0)
    return d


def test_the_release_fixtures_are_there():
    assert len(API_FILES) >= 8, API_FILES
    for p in API_FILES:
        assert p.with_name(p.name.replace(".api.json", ".json")).exists(), p


def test_every_saved_node_still_has_its_inputs_and_outputs(comfy):
    """Each node a saved workflow names exists, with every input it sets and every output slot it links."""
    info = comfy.get("/object_info")
    for p in sorted(FIXTURES.glob("workflows-*/*.json")):
        wf = json.loads(p.read_text())
        if p.name.endswith(".api.json"):
            for nid, node in wf.items():
                spec = info.get(node["class_type"])
                assert spec is not None, (p.name, node["class_type"])
                names = {**spec["input"].get("required", {}), **spec["input"].get("optional", {})}
                unknown = set(node["inputs"]) - set(names)
                assert not unknown, (p.name, node["class_type"], unknown)
        else:
            for node in wf["nodes"]:
                if not node["type"].startswith("NoiseSearch"):
                    continue
                spec = info[node["type"]]
                for o in node.get("outputs") or []:
                    if o.get("links"):
                        assert o["name"] in spec["output_name"], (p.name, node["type"], o["name"])
                for i in node.get("inputs") or []:
                    names = {**spec["input"].get("required", {}), **spec["input"].get("optional", {})}
                    assert i["name"] in names, (p.name, node["type"], i["name"])


@pytest.mark.parametrize("path", API_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_saved_api_workflow_runs(comfy, weights, path):
    wf = json.loads(path.read_text())
    for node in wf.values():  # smaller, as in the example test: names and links are what is tested
        ins = node["inputs"]
        if node["class_type"] == "EmptyLatentImage":
            ins["width"] = ins["height"] = 64
        for k in ("steps", "candidates", "n_neighbors", "iterations", "particles"):
            if isinstance(ins.get(k), int):
                ins[k] = min(ins[k], SMALLER[k])
    out = comfy.run(wf, timeout=300)
    for nid, node in wf.items():
        if node["class_type"].startswith("NoiseSearchSampler"):
            rep = out[nid]["noise_search"][0]
            assert rep["totals"]["nfe"] > 0 and len(rep["candidates"]) >= 1
            assert rep["best"]["candidate"] is not None
        if node["class_type"] in ("SaveImage", "PreviewImage"):
            assert out[nid]["images"], (path.name, nid)
