"""Real flow architectures through the real server: tiny FLUX.1 and FLUX.2 models (tests/tiny_flux.py,
built with the host's own classes) loaded by the stock UNETLoader and VAELoader, searched by all three
algorithms, with the stock sampler's latent shape; search over paths that re-noises to sigma = 1 (also
on the tiny SD1.5 checkpoint patched to rectified flow); a non-finite winner is an error, never a success.

Families: FLUX.1 and FLUX.2 both exist in both hosts (v0.33.0 and the 0.3.75 floor). FLUX.2's latent
format resizes an empty latent (128 channels at 1/16) where v0.33.0's EmptyLatentImage says 1/8; the
floor's samplers do not resize, and the search must give the stock shape on each host.
"""
import pytest
import torch

from scripts.host import CORE, HostError
from tests.host import workflows as W
from tests.host.helpers import report, saved_latent
from tests.tiny_flux import POOLED_WIDTH, TEXT_WIDTH, vae_name

pytestmark = pytest.mark.host

FAMILIES = ["flux1", "flux2"]
#: 0.3.75's model detection fixes FLUX's head count (24 / 48 heads of 128), so the stock UNETLoader
#: there only loads 3072 / 6144-wide models; the floor loads the tiny ones through the test pack's
#: loader, which calls the host's own load_diffusion_model with today's head rule
UNET_LOADER = "TestTinyFluxLoader" if CORE == "floor" else "UNETLoader"


def flux_base(comfy, family, width=64, height=64, prompt="a red apple on a table"):
    vaes = comfy.get("/object_info/VAELoader")["VAELoader"]["input"]["required"]["vae_name"][0]
    unet = {"unet_name": f"tiny_{family}.safetensors"}
    if UNET_LOADER == "UNETLoader":
        unet["weight_dtype"] = "default"

    def text(t):
        # the host builds FLUX's text encoders from full-size configs (T5-XXL, Qwen3, Mistral), so a
        # tiny one cannot load through the stock CLIPLoader: the test pack gives conditioning of the
        # right shape instead
        return {"class_type": "TestTinyTextConditioning", "inputs": {
            "text": t, "tokens": 8, "width": TEXT_WIDTH, "pooled_width": POOLED_WIDTH[family]}}

    return {
        "unet": {"class_type": UNET_LOADER, "inputs": unet},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": vae_name(family, vaes)}},
        "pos_text": text(prompt),
        "neg_text": text(""),
        "pos": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["pos_text", 0], "guidance": 3.5}},
        "neg": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["neg_text", 0], "guidance": 3.5}},
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": 1}},
    }


def flux_search(comfy, family, seed, strategy, steps=3, prefix="flux"):
    wf = W.search(flux_base(comfy, family), seed, W.color_verifier("#3070d0"), steps=steps, cfg=1.0,
                  scheduler="simple", model=("unet", 0), strategy=strategy, max_batch=2, prefix=prefix)
    wf["search"]["inputs"]["vae"] = ["vae", 0]
    return wf


_STOCK = {}


def stock_latent(comfy, family, seed, steps=3):
    key = (family, seed, steps)
    if key not in _STOCK:
        wf = W.ksampler(flux_base(comfy, family), seed, steps=steps, cfg=1.0, scheduler="simple", model=("unet", 0))
        _STOCK[key] = saved_latent(comfy, comfy.run(wf))
    return _STOCK[key]


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_flux_runs_through_stock_loaders_and_sampler(comfy, family):
    wf = W.ksampler(flux_base(comfy, family), 3, steps=3, cfg=1.0, scheduler="simple", model=("unet", 0))
    wf["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["ks", 0], "vae": ["vae", 0]}}
    wf["preview"] = {"class_type": "PreviewImage", "inputs": {"images": ["decode", 0]}}
    out = comfy.run(wf)
    lat = saved_latent(comfy, out)
    # the latent format of the family: FLUX.1 16 channels at 1/8; FLUX.2 128 channels at 1/16 where
    # the host resizes an empty latent by its downscale ratio (v0.33.0), else at EmptyLatentImage's 1/8
    expected = {"flux1": (1, 16, 8, 8), "flux2": (1, 128, 8, 8) if CORE == "floor" else (1, 128, 4, 4)}[family]
    assert tuple(lat.shape) == expected
    assert torch.isfinite(lat).all() and lat.std() > 0.1


ALGORITHMS = {
    "random": lambda: W.random_strategy(3),
    "zero_order": lambda: W.zero_order(n_neighbors=2, lam=0.5, iterations=2),
    # start == delta_f: the first hop re-noises to index 0, sigma = 1
    "paths_to_sigma_one": lambda: W.paths(n=2, m=2, start=1, delta_f=1, delta_b=2),
}


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@pytest.mark.parametrize("family", FAMILIES)
def test_each_algorithm_on_tiny_flux_gives_the_stock_latent_shape(comfy, family, algorithm):
    out = comfy.run(flux_search(comfy, family, 11, ALGORITHMS[algorithm](), prefix=f"{family}_{algorithm}"))
    rep = report(out)
    assert rep["settings"]["parameterization"] == "flow"
    assert rep["totals"]["nfe"] > 0 and all(c["score"] is not None for c in rep["candidates"])
    lat = saved_latent(comfy, out)
    assert torch.isfinite(lat).all()
    stock = stock_latent(comfy, family, 11)
    assert lat.shape == stock.shape
    if algorithm == "random":  # the winner is the stock sample of its seed, bit for bit
        assert torch.equal(lat, stock_latent(comfy, family, rep["best"]["seed"]))
    if algorithm.startswith("paths"):
        assert rep["recipe"]["hops"][0][1] == 0


def test_a_search_whose_winner_is_nan_fails_with_a_clear_error(comfy):
    wf = W.base()
    wf["nan"] = {"class_type": "TestNaNModel", "inputs": {"model": ["ckpt", 0]}}
    wf = W.search(wf, 1, W.color_verifier(), candidates=2, steps=2, model=("nan", 0), prefix="nan")
    with pytest.raises(HostError) as ei:
        comfy.run(wf)
    msg = str(ei.value)
    assert "NaN" in msg and "latent" in msg


@pytest.mark.parametrize("steps,n,m,start,delta_f,delta_b", [
    (2, 1, 1, 1, 1, 2),   # the first hop re-noises from index 1 to index 0, where sigma = 1
    (6, 1, 2, 2, 2, 4),   # then a second hop (issue: 20 steps, n=4, m=2, start 2, delta_f 2, delta_b 4)
])
def test_paths_renoising_to_sigma_one_gives_finite_latents(comfy, steps, n, m, start, delta_f, delta_b):
    wf = W.flow_patch(W.base(width=32, height=32))
    wf = W.search(wf, 7, W.color_verifier("#3070d0"), steps=steps, model=("flow", 0), max_batch=2,
                  strategy=W.paths(n=n, m=m, start=start, delta_f=delta_f, delta_b=delta_b),
                  prefix=f"paths_top_{steps}")
    out = comfy.run(wf)
    rep = report(out)
    assert rep["settings"]["parameterization"] == "flow"
    assert rep["recipe"]["hops"][0][1] == 0, "the first hop must re-noise to index 0 (sigma = 1)"
    lat = saved_latent(comfy, out)
    assert lat.shape == (1, 4, 4, 4)
    assert torch.isfinite(lat).all(), "search over paths returned a non-finite latent"
    assert all(c["score"] is not None for c in rep["candidates"]), "every candidate must have a finite score"


def test_renoising_to_sigma_one_restarts_from_the_draw_as_a_stock_sampler_does(comfy):
    # steps 2, start 1, delta_f 1, delta_b 2: the only hop re-noises to sigma = 1 (pure noise) and
    # denoises the whole schedule, so the winner is a stock sample of its draw: the draw's noise is
    # seeded_noise(draw_seed), the noise a stock KSampler draws for seed = draw_seed
    flow = W.flow_patch(W.base())
    out = comfy.run(W.search(flow, 9, W.color_verifier("#3070d0"), steps=2, model=("flow", 0),
                             strategy=W.paths(n=1, m=2, start=1, delta_f=1, delta_b=2), prefix="paths_restart"))
    rep = report(out)
    draws = rep["recipe"]["winner"]["draws"]
    assert len(draws) == 1
    stock = comfy.run(W.ksampler(flow, draws[0], steps=2, model=("flow", 0)))
    assert torch.equal(saved_latent(comfy, out), saved_latent(comfy, stock))
