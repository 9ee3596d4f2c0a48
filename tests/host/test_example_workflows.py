"""Every API-format workflow in api_workflows/ runs through the real server, as users queue it, on the
tiny test models (scripts/examples.py): the real checkpoint names become the tiny SD1.5-layout
checkpoint (behind ModelSamplingSD3 where the file is a FLUX one, so it samples as a flow model), and
Empty Latent Image gets 64x64 px (the files say 512 or 1024 px for real checkpoints; the tiny CPU
checkpoint makes that slow and it changes nothing the test looks at). The verifier weights the
workflows name by their default Hugging Face ids are tiny random-weight models written under the
server's models/verifiers/ with those same names (tests/tiny_models.py), so nothing is downloaded.
The cost each UI twin's note states is the one the run counts.
"""
import json
import re

import pytest

from scripts.examples import MODELS, UI_DIR, api_files, make_tiny_verifiers, name_of, substitute_tiny
from tests.host.helpers import saved_images

pytestmark = pytest.mark.host

API_FILES = api_files()

#: workflow name -> reason, for workflows whose nodes do not exist yet (none at the moment)
XFAIL = {}


@pytest.fixture(scope="module")
def verifier_weights(comfy_base):
    from pathlib import Path
    return make_tiny_verifiers(Path(comfy_base) / "models" / "verifiers")


def _expected_px(wf, save_id, base=64):
    """The side of the images a SaveImage / PreviewImage node gets: ``base``, times a latent upscale
    the decoded latent went through (followed through KSampler's latent_image)."""
    nid = wf[save_id]["inputs"]["images"][0]
    scale = 1.0
    while True:
        n = wf[nid]
        if n["class_type"] == "LatentUpscaleBy":
            scale *= n["inputs"]["scale_by"]
        link = next((n["inputs"][k] for k in ("samples", "latent_image") if isinstance(n["inputs"].get(k), list)), None)
        if link is None or n["class_type"].startswith("NoiseSearch"):
            return int(base * scale)
        nid = link[0]


def _params():
    for p in API_FILES:
        name = name_of(p)
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[name])] if name in XFAIL else []
        yield pytest.param(p, id=name, marks=marks)


def test_examples_are_there():
    names = {name_of(p) for p in API_FILES}
    assert {"best_of_n_color", "best_of_n_clipscore", "zero_order_image_reward", "search_over_paths_ensemble",
            "score_images_aesthetic", "flow_advanced_flux_style", "search_then_hires"} <= names, names
    for n in names:
        assert (UI_DIR / f"{n}.json").exists(), f"{n}.api.json has no UI-format twin {n}.json"
    assert not list(UI_DIR.glob("*.api.json")), "API-format files belong in api_workflows/, not the templates folder"


@pytest.mark.parametrize("path", list(_params()))
def test_example_workflow_runs(comfy, verifier_weights, path):
    api = json.loads(path.read_text())
    for node in api.values():  # stock loaders, naming a real model the frontend can offer to download
        if node["class_type"] == "CheckpointLoaderSimple":
            assert node["inputs"]["ckpt_name"] in MODELS, node
    wf = substitute_tiny(api)
    out = comfy.run(wf, timeout=300)

    searches = [nid for nid, n in wf.items() if n["class_type"].startswith("NoiseSearchSampler")]
    for nid in searches:
        rep = out[nid]["noise_search"][0]
        scores = [c["score"] for c in rep["candidates"]]
        if "selection" in rep:  # rank ensemble: the winner is the best joint average rank among the finals
            joint = {c["index"]: c["joint_rank"] for c in rep["candidates"] if "joint_rank" in c}
            assert set(joint) == set(rep["finals"]), (joint, rep["finals"])
            assert rep["best"]["score"] == pytest.approx(max(joint.values()))
            assert joint[rep["best"]["candidate"]] == max(joint.values())
        else:  # the best finished sample (paths and particles also score intermediate x0 predictions)
            finals = [c["score"] for c in rep["candidates"] if c["index"] in rep["finals"]]
            assert finals and rep["best"]["score"] == pytest.approx(max(finals))
        # the verifier tells candidates apart (an ensemble's ranks taken over all of them, not 1 by 1)
        assert len(set(scores)) > 1, scores
        assert rep["totals"]["nfe"] > 0 and rep["totals"]["verifier_calls"] >= 1
        assert len(out[nid]["images"]) == len(rep["finals"]) >= 1
        strategy = wf[nid]["inputs"].get("strategy")
        if strategy is None:  # best-of-N: N seeds from the base seed
            seed = wf[nid]["inputs"].get("seed")
            if seed is None:  # the advanced node: RandomNoise's seed
                seed = wf[wf[nid]["inputs"]["noise"][0]]["inputs"]["noise_seed"]
            n = wf[nid]["inputs"]["candidates"]
            assert [c["seed"] for c in rep["candidates"]] == [seed + i for i in range(n)]
            if "selection" not in rep:
                assert rep["best"]["seed"] == seed + scores.index(max(scores))
        else:
            kind = wf[strategy[0]]["class_type"]
            assert kind in ("NoiseSearchZeroOrder", "NoiseSearchPaths", "NoiseSearchParticles"), kind
            assert len(scores) > 1
    for nid, n in wf.items():  # every image output produced 64x64 images (a high-resolution pass: 96x96)
        if n["class_type"] in ("SaveImage", "PreviewImage"):
            imgs = saved_images(comfy, out, nid)
            px = _expected_px(wf, nid)
            assert imgs and imgs[0].shape == (px, px, 3), (nid, len(imgs), imgs[0].shape if imgs else None)
    # the note of the UI twin states what this run spent
    ui = json.loads((UI_DIR / path.name.replace(".api.json", ".json")).read_text())
    note = next(n["widgets_values"][0] for n in ui["nodes"] if n["type"] == "Note")
    stated = re.findall(r"the search spends (at most )?(\d+) NFE", note)
    assert len(stated) == len(searches), note
    for nid, (bound, nfe) in zip(searches, stated):
        spent = out[nid]["noise_search"][0]["totals"]["nfe"]
        assert spent <= int(nfe) if bound else spent == int(nfe), (nid, spent, nfe, note)
    if any(n["class_type"] == "NoiseSearchScoreImages" for n in wf.values()):
        sid = next(k for k, n in wf.items() if n["class_type"] == "NoiseSearchScoreImages")
        preview = next(k for k, n in wf.items() if n["class_type"] == "PreviewImage" and n["inputs"]["images"][0] == sid)
        batch = next(n["inputs"]["batch_size"] for n in wf.values() if n["class_type"] == "EmptyLatentImage")
        assert len(out[preview]["images"]) == batch
