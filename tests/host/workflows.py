"""API-format workflows built in code for host tests (the example_workflows/ JSON files are tested
separately, as users load them)."""
import copy

CKPT = "tiny_sd15.safetensors"


def base(width=64, height=64, prompt="a red apple on a table", ckpt=CKPT):
    return {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": prompt, "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["ckpt", 1]}},
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": 1}},
    }


def ksampler(wf, seed, steps=4, cfg=3.0, sampler="euler", scheduler="normal", model=("ckpt", 0), latent=("latent", 0)):
    wf = copy.deepcopy(wf)
    wf["ks"] = {"class_type": "KSampler", "inputs": {
        "model": list(model), "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
        "scheduler": scheduler, "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": list(latent),
        "denoise": 1.0}}
    wf["save_latent"] = {"class_type": "SaveLatent", "inputs": {"samples": ["ks", 0], "filename_prefix": f"ks_{seed}"}}
    return wf


def search(wf, seed, verifier, candidates=4, steps=4, cfg=3.0, sampler="euler", scheduler="normal", max_batch=4,
           strategy=None, model=("ckpt", 0), budget=0, rerender=False, prefix="search"):
    wf = copy.deepcopy(wf)
    wf["verifier"] = verifier
    wf["search"] = {"class_type": "NoiseSearchSampler", "inputs": {
        "model": list(model), "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
        "scheduler": scheduler, "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0],
        "denoise": 1.0, "vae": ["ckpt", 2], "verifier": ["verifier", 0], "candidates": candidates,
        "max_batch": max_batch, "budget_nfe": budget, "rerender_winner": rerender}}
    if strategy is not None:
        wf["strategy"] = strategy
        wf["search"]["inputs"]["strategy"] = ["strategy", 0]
    wf["save_latent"] = {"class_type": "SaveLatent", "inputs": {"samples": ["search", 0], "filename_prefix": prefix}}
    wf["save_images"] = {"class_type": "SaveImage", "inputs": {"images": ["search", 1], "filename_prefix": prefix}}
    return wf


def color_verifier(color="#ff0000"):
    return {"class_type": "NoiseSearchColorTarget", "inputs": {"color": color}}


def flow_patch(wf, shift=3.0):
    """Turn the tiny EPS model into a rectified-flow (CONST) model with the stock ModelSamplingSD3."""
    wf = copy.deepcopy(wf)
    wf["flow"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["ckpt", 0], "shift": shift}}
    return wf


def random_strategy(n):
    return {"class_type": "NoiseSearchRandom", "inputs": {"candidates": n}}


def zero_order(n_neighbors=3, lam=0.5, iterations=2):
    return {"class_type": "NoiseSearchZeroOrder", "inputs": {"n_neighbors": n_neighbors, "lam": lam,
                                                             "iterations": iterations}}


def paths(n=2, m=2, start=2, delta_f=1, delta_b=2):
    return {"class_type": "NoiseSearchPaths", "inputs": {"n": n, "m": m, "start": start, "delta_f": delta_f,
                                                         "delta_b": delta_b}}


def advanced(wf, seed, verifier, steps=4, cfg=3.0, sampler="euler", scheduler="simple", model=("ckpt", 0),
             candidates=3, max_batch=4, strategy=None, prefix="adv"):
    wf = copy.deepcopy(wf)
    wf["verifier"] = verifier
    wf["noise"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}}
    wf["guider"] = {"class_type": "CFGGuider", "inputs": {"model": list(model), "positive": ["pos", 0],
                                                          "negative": ["neg", 0], "cfg": cfg}}
    wf["sampler"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": sampler}}
    wf["sched"] = {"class_type": "BasicScheduler", "inputs": {"model": list(model), "scheduler": scheduler,
                                                              "steps": steps, "denoise": 1.0}}
    wf["search"] = {"class_type": "NoiseSearchSamplerAdvanced", "inputs": {
        "noise": ["noise", 0], "guider": ["guider", 0], "sampler": ["sampler", 0], "sigmas": ["sched", 0],
        "latent_image": ["latent", 0], "vae": ["ckpt", 2], "verifier": ["verifier", 0], "candidates": candidates,
        "max_batch": max_batch, "budget_nfe": 0, "rerender_winner": False}}
    if strategy is not None:
        wf["strategy"] = strategy
        wf["search"]["inputs"]["strategy"] = ["strategy", 0]
    wf["save_latent"] = {"class_type": "SaveLatent", "inputs": {"samples": ["search", 0], "filename_prefix": prefix}}
    return wf
