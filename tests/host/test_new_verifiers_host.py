"""The VLM judge and PickScore through the real server, with one shared prompt: a String node
(stock PrimitiveStringMultiline) feeds CLIPTextEncode and the verifier (or Score Images)."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from tests.host import workflows as W
from tests.host.helpers import report

pytestmark = pytest.mark.host
PROMPT = "a red apple on a wooden table"


def shared_prompt(wf, prompt=PROMPT):
    wf["prompt"] = {"class_type": "PrimitiveStringMultiline", "inputs": {"value": prompt}}
    wf["pos"]["inputs"]["text"] = ["prompt", 0]
    return wf


@pytest.fixture(scope="module")
def tiny_vlm(comfy_base):
    from tests.tiny_vlm import make_vlm_dir
    path = comfy_base / "models" / "verifiers" / "tiny-vlm"
    if not path.exists():
        make_vlm_dir(str(path), seed=5)
    return path


@pytest.fixture(scope="module")
def tiny_pickscore(comfy_base):
    from tests.tiny_reward import make_pickscore_dir
    path = comfy_base / "models" / "verifiers" / "tiny-pickscore"
    if not path.exists():
        make_pickscore_dir(str(path), seed=6)
    return path


def test_random_search_with_the_vlm_judge(comfy, tiny_vlm):
    v = {"class_type": "NoiseSearchVLMJudge", "inputs": {"model": "tiny-vlm", "mode": "overall",
                                                          "prompt": ["prompt", 0], "download": False}}
    wf = shared_prompt(W.search(W.base(), 90, v, candidates=3, steps=2, prefix="vlm_search"))
    rep = report(comfy.run(wf))
    scores = [c["score"] for c in rep["candidates"]]
    assert len(scores) == 3 and all(0.0 <= s <= 10.0 for s in scores), scores
    assert len(set(scores)) == 3, "the tiny VLM tells the candidates apart"
    assert rep["best"]["score"] == max(scores)
    assert rep["settings"]["verifier"]["mode"] == "overall"
    assert rep["totals"]["verifier_nfe_per_image"] > 0  # its cost, in NFE-equivalents


def test_score_images_with_pickscore_and_a_linked_prompt(comfy, tiny_pickscore):
    from verifiers.reward_models import PickScore
    wf = shared_prompt(W.ksampler(W.base(), 91, steps=2))
    wf["latent"]["inputs"]["batch_size"] = 3
    wf["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["ks", 0], "vae": ["ckpt", 2]}}
    wf["v"] = {"class_type": "NoiseSearchPickScore", "inputs": {"model": "tiny-pickscore", "prompt": "",
                                                                 "download": False}}
    wf["score"] = {"class_type": "NoiseSearchScoreImages", "inputs": {"images": ["decode", 0], "verifier": ["v", 0],
                                                                       "prompt": ["prompt", 0]}}
    wf["save_all"] = {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": "pick_all"}}
    wf["save_best"] = {"class_type": "SaveImage", "inputs": {"images": ["score", 1], "filename_prefix": "pick_best"}}
    out = comfy.run(wf)
    detail = out["score"]["noise_search_scores"][0]
    assert detail["verifier"]["prompt"] == PROMPT  # the linked prompt, not the node's empty one
    imgs = [np.asarray(Image.open(io.BytesIO(comfy.view(im))).convert("RGB")) for im in out["save_all"]["images"]]
    direct = PickScore.from_pretrained(str(tiny_pickscore))
    mine = direct.score(torch.from_numpy(np.stack(imgs).astype(np.float32) / 255.0), PROMPT).tolist()
    spread = max(mine) - min(mine)
    assert spread > 0
    np.testing.assert_allclose(mine, detail["scores"], atol=0.05 * spread + 1e-4, rtol=0)
    assert detail["order"] == sorted(range(3), key=lambda i: (-detail["scores"][i], i))
