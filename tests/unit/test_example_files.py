"""The example workflows as files (no host): every UI example's note matches its nodes (the model it
loads, the verifier weights they need or that they need none, the cost), the prompt is typed once,
the loaders carry the download metadata the frontend reads (``properties.models``: name, url,
directory), every template has a thumbnail, and the API twins sit outside the folder the host lists
as templates. (That the notes' NFE are what a run spends: tests/host/test_example_workflows.py.)"""
import json
import re

import numpy as np
import pytest
from PIL import Image

from scripts.examples import API_DIR, UI_DIR, name_of, ui_files

#: the verifier nodes that load weights -> the widget holding the weights they load
WEIGHTED = {"NoiseSearchCLIPScore": "model", "NoiseSearchImageReward": "model", "NoiseSearchVLMJudge": "model",
            "NoiseSearchAesthetic": "head", "NoiseSearchPickScore": "model", "NoiseSearchHPS": "model",
            "NoiseSearchClassifier": "model", "NoiseSearchSelfSupervised": "model"}
WEIGHT_FREE = {"NoiseSearchColorTarget", "NoiseSearchBrightness", "NoiseSearchSharpness"}
SEARCH = ("NoiseSearchSampler", "NoiseSearchSamplerAdvanced")

UI = ui_files()


def _graph(path):
    return json.loads(path.read_text())


def _note(g):
    notes = [n for n in g["nodes"] if n["type"] in ("Note", "MarkdownNote")]
    assert len(notes) == 1, [n["type"] for n in g["nodes"]]
    return notes[0]["widgets_values"][0]


def _widget(api, node, name):
    """A widget's value in a UI node: widgets_values are in the order of the node's widgets, the order
    in which its API twin lists its unlinked inputs (the UI files are made from the API files), a seed
    followed by its control_after_generate."""
    inputs = api[str(node["id"])]["inputs"]
    names = []
    for k, v in inputs.items():
        if not isinstance(v, list):
            names += [k, "control_after_generate"] if k in ("seed", "noise_seed") else [k]
    return node["widgets_values"][names.index(name)]


def test_there_are_ui_examples_and_no_api_files_among_them():
    assert len(UI) >= 9, [p.name for p in UI]
    assert not [p for p in UI if p.name.endswith(".api.json")]
    assert sorted(name_of(p) for p in UI) == sorted(name_of(p) for p in API_DIR.glob("*.api.json"))


@pytest.mark.parametrize("path", UI, ids=name_of)
def test_note_matches_the_nodes(path):
    g = _graph(path)
    api = json.loads((API_DIR / f"{name_of(path)}.api.json").read_text())
    note = _note(g)
    nodes = g["nodes"]
    # the verifiers: every weighted one's weights are named; weight-free claimed only when all are
    verifiers = [n for n in nodes if n["type"] in WEIGHTED or n["type"] in WEIGHT_FREE]
    assert verifiers, "an example without a verifier"
    weighted = [n for n in verifiers if n["type"] in WEIGHTED]
    if weighted:
        assert not re.search(r"weight-free|no verifier weights", note, re.I), note
        for n in weighted:
            w = _widget(api, n, WEIGHTED[n["type"]])
            assert w in note, f"{n['type']} loads {w!r}, the note does not say so:\n{note}"
    else:
        assert re.search(r"no verifier weights needed", note, re.I), note
    # the model it loads, by file name
    for n in nodes:
        if n["type"] == "CheckpointLoaderSimple":
            assert n["widgets_values"][0] in note, note
    # the cost: the search's NFE and what they come to in KSampler runs
    if any(n["type"] in SEARCH for n in nodes):
        assert re.search(r"Cost: the search spends (at most )?\d+ NFE .* KSampler runs of \d+ steps", note), note
    if any(n["type"] == "NoiseSearchZeroOrder" for n in nodes):
        assert "at most" in note
    for n in nodes:
        if n["type"] == "NoiseSearchParticles":
            assert f"{_widget(api, n, 'particles')} particles" in note
        if n["type"] in ("NoiseSearchSampler",) and not any(i.get("name") == "strategy" and i.get("link") is not None
                                                             for i in n.get("inputs", [])):
            assert f"{_widget(api, n, 'candidates')} seeds" in note or f"best-of-{_widget(api, n, 'candidates')}" in note, note


@pytest.mark.parametrize("path", UI, ids=name_of)
def test_prompt_is_typed_once(path):
    g = _graph(path)
    prompts = [n for n in g["nodes"] if n["type"] == "PrimitiveStringMultiline"]
    assert len(prompts) == 1, path.name
    pid = prompts[0]["id"]
    text = prompts[0]["widgets_values"][0]
    from_prompt = {l[0]: l for l in g["links"] if l[1] == pid}
    for n in g["nodes"]:
        if n is prompts[0]:
            continue
        # no other node holds the prompt's text in a widget
        assert text not in [v for v in n.get("widgets_values") or [] if isinstance(v, str)], (path.name, n["type"])
        for i in n.get("inputs", []):
            if i["name"] == "prompt" and n["type"] != "NoiseSearchScoreImages":  # Score Images: optional
                assert i.get("link") in from_prompt, (path.name, n["type"], "prompt not linked to the Prompt node")


@pytest.mark.parametrize("path", UI, ids=name_of)
def test_loaders_carry_the_download_metadata(path):
    g = _graph(path)
    loaders = [n for n in g["nodes"] if n["type"] == "CheckpointLoaderSimple"]
    assert loaders
    for n in loaders:
        name = n["widgets_values"][0]
        assert name != "tiny_sd15.safetensors"
        models = n.get("properties", {}).get("models")
        assert models and [m["name"] for m in models] == [name], models
        m = models[0]
        # the frontend's model-file schema: name, url, directory; it offers only these hosts and suffixes
        assert m["directory"] == "checkpoints"
        assert re.fullmatch(r"https://huggingface\.co/[\w.-]+/[\w.-]+/resolve/main/" + re.escape(name), m["url"]), m
        assert name.endswith(".safetensors")


@pytest.mark.parametrize("path", UI, ids=name_of)
def test_every_template_has_a_thumbnail(path):
    thumb = UI_DIR / f"{name_of(path)}.jpg"  # what the frontend asks for: /workflow_templates/<pack>/NAME.jpg
    assert thumb.exists(), thumb
    assert thumb.stat().st_size < 64 * 1024
    im = Image.open(thumb)
    assert im.format == "JPEG" and min(im.size) >= 128
    a = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert np.isfinite(a).all() and a.std() > 2.0, "a blank thumbnail"
