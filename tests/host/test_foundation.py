"""The foundation, through the real server: stock txt2img on the tiny checkpoint, the pack's nodes in
/object_info, best-of-N whose winner reproduces in a stock KSampler bit for bit, batch-size
independence, and clear errors for bad input."""
import copy

import numpy as np
import pytest
import torch

from scripts.host import HostError

from tests.host import workflows as W
from tests.host.helpers import color_score, report, saved_images, saved_latent

pytestmark = pytest.mark.host

EXPECTED_NODES = {
    "NoiseSearchSampler", "NoiseSearchSamplerAdvanced", "NoiseSearchRandom", "NoiseSearchNoiseCandidates",
    "NoiseSearchColorTarget", "NoiseSearchBrightness", "NoiseSearchSharpness", "NoiseSearchScoreImages",
}


def test_stock_txt2img_runs_on_tiny_checkpoint(comfy):
    wf = W.ksampler(W.base(), seed=3)
    wf["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["ks", 0], "vae": ["ckpt", 2]}}
    wf["save"] = {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": "stock"}}
    out = comfy.run(wf)
    img = saved_images(comfy, out, "save")[0]
    assert img.shape == (64, 64, 3)
    assert img.std() > 0.01, "the tiny model should produce a non-constant image"


def test_every_node_of_the_pack_is_registered(comfy):
    info = comfy.get("/object_info")
    ours = {k for k in info if k.startswith("NoiseSearch")}
    missing = EXPECTED_NODES - ours
    assert not missing, f"missing from /object_info: {sorted(missing)}"
    for k in ours:
        assert info[k]["category"].startswith("sampling/noise search"), (k, info[k]["category"])


def test_best_of_n_winner_is_argmax_and_reproduces_in_stock_ksampler(comfy):
    target = (0.8, 0.2, 0.2)
    seed, n = 100, 4
    wf = W.search(W.base(), seed, W.color_verifier("#cc3333"), candidates=n, max_batch=4, prefix="bon")
    # stock KSamplers for every candidate seed, decoded, in the same prompt
    for i in range(n):
        wf[f"ks{i}"] = {"class_type": "KSampler", "inputs": {
            "model": ["ckpt", 0], "seed": seed + i, "steps": 4, "cfg": 3.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0],
            "denoise": 1.0}}
        wf[f"dec{i}"] = {"class_type": "VAEDecode", "inputs": {"samples": [f"ks{i}", 0], "vae": ["ckpt", 2]}}
        wf[f"img{i}"] = {"class_type": "SaveImage", "inputs": {"images": [f"dec{i}", 0], "filename_prefix": f"st{i}"}}
        wf[f"lat{i}"] = {"class_type": "SaveLatent", "inputs": {"samples": [f"ks{i}", 0], "filename_prefix": f"st{i}"}}
    out = comfy.run(wf)
    rep = report(out)

    seeds = [c["seed"] for c in rep["candidates"]]
    assert seeds == [seed + i for i in range(n)]
    assert rep["totals"]["nfe"] == n * 4, "euler: one NFE per step per candidate"
    assert rep["totals"]["verifier_calls"] == n

    cand = saved_images(comfy, out, "save_images")
    stock = [saved_images(comfy, out, f"img{i}")[0] for i in range(n)]
    for i in range(n):  # each candidate is exactly what a stock KSampler makes for its seed
        np.testing.assert_array_equal(cand[i], stock[i])
    # the scores, recomputed independently from the images (8-bit PNG: tolerance 2/255)
    mine = [color_score(im, target) for im in stock]
    for c, s in zip(rep["candidates"], mine):
        assert abs(c["score"] - s) < 2 / 255, (c, s)
    best = int(np.argmax([c["score"] for c in rep["candidates"]]))
    assert rep["best"]["seed"] == seed + best
    assert max(mine) - mine[best] < 2 / 255
    # the best seed reproduces the returned latent in a plain KSampler, bit for bit
    assert out["search"]["noise_search"][0]["best"]["seed"] == seed + best
    ours = saved_latent(comfy, out, "save_latent")
    theirs = saved_latent(comfy, out, f"lat{best}")
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("mb", [3, 8])
def test_results_identical_for_max_batch_1_3_and_8(comfy, mb):
    outs = []
    for mb in (1, mb):
        wf = W.search(W.base(prompt="a blue bird"), 7, W.color_verifier("#2040c0"), candidates=8, max_batch=mb,
                      prefix=f"mb{mb}")
        outs.append(comfy.run(wf))
    r1, r4 = report(outs[0]), report(outs[1])
    assert [c["score"] for c in r1["candidates"]] == [c["score"] for c in r4["candidates"]]
    assert r1["best"] == r4["best"]
    assert r1["settings"]["row_exact"] and r1["totals"]["row_exact_fallbacks"] == 0
    assert torch.equal(saved_latent(comfy, outs[0]), saved_latent(comfy, outs[1]))
    for a, b in zip(saved_images(comfy, outs[0], "save_images"), saved_images(comfy, outs[1], "save_images")):
        np.testing.assert_array_equal(a, b)


def test_ancestral_sampler_rows_match_stock_ksampler(comfy):
    """Samplers that draw noise while sampling get per-candidate generators, so a batched search
    still reproduces each seed's stock result."""
    seed = 40
    wf = W.search(W.base(), seed, W.color_verifier(), candidates=3, sampler="euler_ancestral", max_batch=3,
                  prefix="anc")
    out = comfy.run(wf)
    rep = report(out)
    best = rep["best"]["seed"]
    wf2 = W.ksampler(W.base(), best, sampler="euler_ancestral")
    ref = comfy.run(wf2)
    assert torch.equal(saved_latent(comfy, out), saved_latent(comfy, ref))


def _expect_error(comfy, wf, *needles):
    with pytest.raises(HostError) as ei:
        comfy.run(wf)
    msg = str(ei.value)
    for n in needles:
        assert n in msg, f"{n!r} not in error: {msg}"
    return msg


def test_zero_candidates_is_rejected_naming_the_input(comfy):
    wf = W.search(W.base(), 1, W.color_verifier(), candidates=0)
    _expect_error(comfy, wf, "candidates")


def test_missing_vae_is_a_clear_error(comfy):
    wf = W.search(W.base(), 1, W.color_verifier())
    del wf["search"]["inputs"]["vae"]
    _expect_error(comfy, wf, "vae")


def test_latent_batch_above_one_is_a_clear_error(comfy):
    wf = W.search(W.base(), 1, W.color_verifier())
    wf["latent"]["inputs"]["batch_size"] = 2
    _expect_error(comfy, wf, "latent_image", "batch")
