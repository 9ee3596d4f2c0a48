"""Every node explains itself, as the server tells the frontend: a description, a tooltip on every
input and output (/object_info), and a help page the server serves where the frontend's help panel
fetches it (``/extensions/<pack>/docs/<node id>.md``), kept in step with the schemas."""
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from scripts.host import CORE, PACK_NAME

pytestmark = pytest.mark.host

ROOT = Path(__file__).resolve().parents[2]
#: every node of this release (ids are what saved workflows name: they never change)
ALL_NODES = {
    "NoiseSearchSampler", "NoiseSearchSamplerAdvanced", "NoiseSearchNoiseCandidates",
    "NoiseSearchRandom", "NoiseSearchZeroOrder", "NoiseSearchPaths", "NoiseSearchParticles",
    "NoiseSearchCLIPScore", "NoiseSearchImageReward", "NoiseSearchAesthetic", "NoiseSearchEnsemble",
    "NoiseSearchClassifier", "NoiseSearchSelfSupervised", "NoiseSearchColorTarget", "NoiseSearchBrightness",
    "NoiseSearchSharpness", "NoiseSearchVLMJudge", "NoiseSearchPickScore", "NoiseSearchHPS",
    "NoiseSearchScoreImages", "NoiseSearchReplay", "NoiseSearchReplayAdvanced", "NoiseSearchSaveReport",
}


@pytest.fixture(scope="module")
def info(comfy):
    return {k: v for k, v in comfy.get("/object_info").items() if k.startswith("NoiseSearch")}


def test_every_node_is_there_on_v3(info):
    assert set(info) == ALL_NODES, sorted(set(info) ^ ALL_NODES)
    for k, v in info.items():
        assert v["python_module"].startswith("custom_nodes."), (k, v["python_module"])
        assert v["display_name"] and v["display_name"] != k, k


def test_every_node_has_a_description_and_every_input_and_output_a_tooltip(info):
    missing = []
    for k, v in info.items():
        if len((v.get("description") or "").strip()) < 40:
            missing.append(f"{k}: description {v.get('description')!r}")
        for group in ("required", "optional"):
            for name, spec in (v["input"].get(group) or {}).items():
                opts = spec[1] if len(spec) > 1 else {}
                if not (opts.get("tooltip") or "").strip():
                    missing.append(f"{k}: input {name}")
        tips = v.get("output_tooltips") or []
        for i, name in enumerate(v["output_name"]):
            if i >= len(tips) or not (tips[i] or "").strip():
                missing.append(f"{k}: output {name}")
    assert not missing, "\n".join(missing)


def test_verifiers_say_their_score_range(info):
    for k, v in info.items():
        if v["output"] == ["NS_VERIFIER"]:
            assert "Score:" in v["description"] and "Score:" in v["output_tooltips"][0], k


def test_search_aliases_where_the_host_lists_them(info, comfy):
    # the newer host lists search aliases in /object_info; the floor (0.3.75) has no such field
    if CORE == "floor":
        assert "search_aliases" not in info["NoiseSearchSampler"]
        return
    assert "best of n" in info["NoiseSearchSampler"]["search_aliases"]
    assert "smc" in info["NoiseSearchParticles"]["search_aliases"]


def test_help_pages_are_served_where_the_frontend_fetches_them(comfy, info):
    for k, v in info.items():
        with urllib.request.urlopen(f"{comfy.url}/extensions/{PACK_NAME}/docs/{k}.md", timeout=30) as r:
            text = r.read().decode()
        assert text.startswith(f"# {v['display_name']}"), (k, text[:80])
        for group in ("required", "optional"):
            for name in (v["input"].get(group) or {}):
                assert f"`{name}`" in text, (k, name)
        for name in v["output_name"]:
            assert f"`{name}`" in text, (k, name)


def test_help_pages_match_the_schemas():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "node_docs.py"), "--check"], capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
