"""Search nodes: a KSampler-style search node, an advanced (guider/sampler/sigmas) variant,
strategy nodes that configure the algorithm, and a noise-candidates node."""
from __future__ import annotations

import json
import logging
import os
import random
from typing import Any, Dict, List, Optional

import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import folder_paths
import latent_preview

from ..search import RandomSearch
from ..search.paths import PathsSearch
from ..search.zero_order import ZeroOrderSearch
from ..search.noise import noise_batch
from .comfy_denoiser import ComfyDenoiser
from . import verifier_runtime
from .scoring import Scorer, ensemble_report, finite_json  # noqa: F401  (scoring lives in nodes/scoring.py)

CATEGORY = "sampling/noise search"
STRATEGY = "NS_STRATEGY"
VERIFIER = "NS_VERIFIER"
EVENT_PROGRESS = "noise_search.progress"
EVENT_DONE = "noise_search.done"
#: where the self-supervised verifier looks at the x0 prediction: the flow time t = 0.4
#: (sigma 0.4 for flow models; sigma = t / (1 - t) for variance-exploding models, same SNR)
MID_T = 0.4


def _send(event: str, data: Dict[str, Any]):
    try:
        from server import PromptServer
        PromptServer.instance.send_sync(event, finite_json(data))
    except Exception:  # noqa: BLE001 - the UI feed must never break a search
        pass


def mid_index_for(sigmas: torch.Tensor, parameterization: str) -> int:
    target = MID_T if parameterization == "flow" else MID_T / (1 - MID_T)
    return int(torch.argmin((sigmas[:-1] - target).abs()))


def run_search(*, guider, sampler, sigmas, latent: Dict[str, Any], seed: int, vae, verifier, strategy,
               max_batch: int, budget: int, rerender_winner: bool, unique_id=None):
    """Shared body of both search nodes. Returns the node outputs and the UI payload."""
    if verifier is None:
        raise ValueError("verifier: connect a verifier node (e.g. Noise Search CLIPScore / Color Target)")
    if vae is None:
        raise ValueError("vae: the verifier scores decoded images, so the search needs the VAE of this model; "
                         "connect the checkpoint loader's VAE output")
    samples = latent["samples"]
    if samples.is_nested or samples.ndim != 4 and samples.ndim != 5:
        raise ValueError(f"latent_image: unsupported latent of shape {tuple(samples.shape)}")
    if samples.shape[0] != 1:
        raise ValueError(f"latent_image: has a batch of {samples.shape[0]}; the search makes its own candidates "
                         "from one latent, so give it a batch of 1 (e.g. Empty Latent Image with batch_size 1)")
    if latent.get("noise_mask") is not None:
        raise ValueError("latent_image: has a noise mask (inpainting), which the search does not support yet")
    samples = comfy.sample.fix_empty_latent_channels(guider.model_patcher, samples)
    if strategy is None:
        raise ValueError("strategy: connect a strategy node or set candidates")
    if max_batch < 1:
        raise ValueError(f"max_batch: must be at least 1, got {max_batch}")

    bound = verifier
    verifier_runtime.prepare(bound)
    scorer = Scorer(vae, bound, max_batch)
    previewer = latent_preview.get_previewer(guider.model_patcher.load_device,
                                             guider.model_patcher.get_model_object("latent_format"))
    budget_arg = None if budget <= 0 else int(budget)
    pbar = None
    state = {"total": 1}

    def on_step(den, x0):
        if pbar is None:
            return
        preview = previewer.decode_latent_to_preview_image("JPEG", x0[:1]) if previewer else None
        pbar.update_absolute(min(den.nfe, state["total"]), state["total"], preview)

    den = ComfyDenoiser(guider, sampler, sigmas, samples, scorer=scorer, on_step=on_step, max_batch=max_batch)
    if getattr(bound.verifier, "needs_mid_x0", False):
        den.mid_index = mid_index_for(den.sigmas, den.parameterization)
    strategy.validate(den, budget_arg)
    state["total"] = max(1, strategy.planned_nfe(den, budget_arg))
    pbar = comfy.utils.ProgressBar(state["total"])

    def progress(ev):
        comfy.model_management.throw_exception_if_processing_interrupted()
        _send(EVENT_PROGRESS, {"node": unique_id, **ev})

    result = strategy.run(den, seed=seed, max_batch=max_batch, budget=budget_arg, progress=progress)
    best_latent = result.best_latent
    if rerender_winner and result.best_seed is not None:
        # the winner alone at batch 1: the exact call a stock KSampler makes for that seed
        best_latent = den.sample(noise_batch(den.latent_shape, [result.best_seed]), len(den.sigmas) - 1,
                                 [result.best_seed])
    finals = result.finals if result.finals is not None else best_latent
    images = den.decode(finals)
    report = result.report()
    report["settings"] = {"sampler": den.sampler_name, "steps": len(den.sigmas) - 1, "max_batch": max_batch,
                          "budget": budget_arg, "parameterization": den.parameterization,
                          "verifier": bound.verifier.describe(), "rerender_winner": bool(rerender_winner)}
    report["totals"]["oom_retries"] = den.batcher.oom_retries
    report["totals"]["model_rows"] = den.model_rows
    report["settings"]["row_exact"] = den.row_exact
    report["totals"]["row_exact_fallbacks"] = den.row_exact_fallbacks
    report["totals"].update(verifier_cost(bound.verifier, images, den, result.verifier_calls))
    report["finals"] = result.final_candidates
    ensemble_report(report, result, scorer)
    pbar.update_absolute(state["total"], state["total"])

    out_latent = {"samples": best_latent}
    ui_images = _save_previews(images)
    report = finite_json(report)
    _send(EVENT_DONE, {"node": unique_id, "report": report, "images": ui_images})
    best_seed = -1 if result.best_seed is None else int(result.best_seed)
    noise = SeededNoise(result.best_noise, best_seed)
    return {"ui": {"images": ui_images, "noise_search": [report]},
            "result": (out_latent, images, json.dumps(report), best_seed, noise)}


def verifier_cost(verifier, images: torch.Tensor, den: ComfyDenoiser, calls: int) -> Dict[str, Any]:
    """The verifier's cost in NFE-equivalents: its forward FLOPs per image over the FLOPs of one
    denoiser evaluation of the model in use (measured on the search's first model call)."""
    per_nfe = den.flops_per_nfe
    try:
        per_image = float(verifier.flops_per_image(int(images.shape[1]), int(images.shape[2])))
    except Exception as e:  # noqa: BLE001 - a cost estimate must not fail a finished search
        return {"verifier_nfe_per_image": None, "verifier_cost_error": f"{type(e).__name__}: {e}"}
    if not per_nfe:
        return {"verifier_nfe_per_image": None}
    each = per_image / per_nfe
    return {"flops_per_nfe": per_nfe, "verifier_flops_per_image": per_image, "verifier_nfe_per_image": each,
            "verifier_nfe_total": each * calls, "total_nfe_equivalent": den.nfe + each * calls}


def _save_previews(images: torch.Tensor) -> List[Dict[str, str]]:
    """Candidates as temp PNGs for the UI gallery (like PreviewImage)."""
    import numpy as np
    from PIL import Image
    out_dir = folder_paths.get_temp_directory()
    prefix = "noise_search_" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    full, name, counter, sub, _ = folder_paths.get_save_image_path(prefix, out_dir, images.shape[2], images.shape[1])
    res = []
    for i, img in enumerate(images):
        arr = (img.clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
        fn = f"{name}_{counter + i:05}_.png"
        Image.fromarray(arr).save(os.path.join(full, fn), compress_level=1)
        res.append({"filename": fn, "subfolder": sub, "type": "temp"})
    return res


class SeededNoise:
    """A NOISE object (for SamplerCustomAdvanced) that returns fixed initial noise rows."""

    def __init__(self, noise: torch.Tensor, seed: int):
        self.noise = noise
        self.seed = seed

    def generate_noise(self, input_latent):
        x = input_latent["samples"]
        n = self.noise.to(x.dtype)
        if n.shape[0] != x.shape[0]:
            n = n[:1].expand(x.shape[0], *n.shape[1:]).contiguous()
        return n


# -- strategy nodes ---------------------------------------------------------------------------
class NoiseSearchRandom:
    """Random search (best-of-N): N noises for seeds seed, seed+1, …; the best is kept."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"candidates": ("INT", {"default": 4, "min": 1, "max": 4096,
                                                     "tooltip": "N: how many seeds to try (seed, seed+1, …)"})}}

    RETURN_TYPES = (STRATEGY,)
    RETURN_NAMES = ("strategy",)
    FUNCTION = "build"
    CATEGORY = CATEGORY

    def build(self, candidates):
        s = RandomSearch(n=int(candidates))
        if s.n < 1:
            raise ValueError(f"candidates: must be at least 1, got {candidates}")
        return (s,)


class NoiseSearchZeroOrder:
    """Zero-order search: a pivot noise, N neighbours sqrt(1-λ²)·pivot + λ·fresh noise (cosine sqrt(1-λ²) to
    the pivot, RMS distance sqrt(2(1-sqrt(1-λ²))): 0.31 at λ=0.31, 0.52 at λ=0.5); the best neighbour becomes
    the pivot when it beats it; when none does, restart from a fresh pivot. K iterations (or the budget)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "n_neighbors": ("INT", {"default": 4, "min": 1, "max": 1024, "tooltip": "N: neighbours per iteration"}),
            "lam": ("FLOAT", {"default": 0.31, "min": 0.0, "max": 1.0, "step": 0.01,
                              "tooltip": "λ: neighbour = sqrt(1-λ²)·pivot + λ·fresh noise (0 = pivot, 1 = fresh). "
                                         "Not a distance: cosine to the pivot is sqrt(1-λ²), RMS distance "
                                         "sqrt(2(1-sqrt(1-λ²))). λ 0.1: cos 0.995, RMS 0.10; 0.31: cos 0.95, "
                                         "RMS 0.31 (the paper's reference neighbours); 0.5: cos 0.87, RMS 0.52; "
                                         "1: cos 0, RMS 1.41"}),
            "iterations": ("INT", {"default": 4, "min": 1, "max": 1024, "tooltip": "K: iterations"}),
        }}

    RETURN_TYPES = (STRATEGY,)
    RETURN_NAMES = ("strategy",)
    FUNCTION = "build"
    CATEGORY = CATEGORY

    def build(self, n_neighbors, lam, iterations):
        return (ZeroOrderSearch(n_neighbors=int(n_neighbors), lam=float(lam), iterations=int(iterations)),)


class NoiseSearchPaths:
    """Search over paths: N trajectories denoised to `start`; each spawns M copies re-noised forward
    by Δf steps and denoised back by Δb steps (Δb > Δf), scored on their x0 prediction; the top N go
    on; repeat to the end; best-of-N at the end. Steps are schedule steps of the sampler."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "n": ("INT", {"default": 4, "min": 1, "max": 1024, "tooltip": "N: paths kept"}),
            "m": ("INT", {"default": 2, "min": 1, "max": 1024, "tooltip": "M: copies per path per hop"}),
            "start": ("INT", {"default": 4, "min": 1, "max": 10000,
                              "tooltip": "first branching point, in sampler steps from pure noise"}),
            "delta_f": ("INT", {"default": 2, "min": 1, "max": 10000,
                                "tooltip": "Δf: steps re-noised forward per hop"}),
            "delta_b": ("INT", {"default": 4, "min": 1, "max": 10000,
                                "tooltip": "Δb: steps denoised back per hop (must exceed Δf)"}),
        }}

    RETURN_TYPES = (STRATEGY,)
    RETURN_NAMES = ("strategy",)
    FUNCTION = "build"
    CATEGORY = CATEGORY

    def build(self, n, m, start, delta_f, delta_b):
        if int(delta_b) <= int(delta_f):
            raise ValueError(f"delta_b ({delta_b}) must be larger than delta_f ({delta_f}), "
                             "or the search never reaches the end of the schedule")
        return (PathsSearch(n=int(n), m=int(m), start=int(start), delta_f=int(delta_f), delta_b=int(delta_b)),)


_COMMON_OPTIONAL = {
    "strategy": (STRATEGY, {"tooltip": "search algorithm; when absent: random search over `candidates` seeds"}),
}


def _common_required():
    return {
        "vae": ("VAE", {"tooltip": "decodes candidates for the verifier"}),
        "verifier": (VERIFIER,),
        "candidates": ("INT", {"default": 4, "min": 1, "max": 4096,
                               "tooltip": "best-of-N candidates, used when no strategy is connected"}),
        "max_batch": ("INT", {"default": 4, "min": 1, "max": 512,
                              "tooltip": "latents per model call; halves automatically on out-of-memory"}),
        "budget_nfe": ("INT", {"default": 0, "min": 0, "max": 10_000_000,
                               "tooltip": "cap on denoiser evaluations (0 = the strategy's own settings)"}),
        "rerender_winner": ("BOOLEAN", {"default": False,
                                        "tooltip": "re-run the winning seed alone, as a plain KSampler would "
                                                   "(bit-exact on GPUs, where batch size can change the last bits)"}),
    }


class NoiseSearchSampler:
    """KSampler-style search: the same inputs as KSampler plus a VAE, a verifier and a strategy."""

    @classmethod
    def INPUT_TYPES(cls):
        req = {
            "model": ("MODEL",),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xffffffffffffffff, "control_after_generate": True}),
            "steps": ("INT", {"default": 20, "min": 1, "max": 10000}),
            "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}),
            "sampler_name": (comfy.samplers.KSampler.SAMPLERS,),
            "scheduler": (comfy.samplers.KSampler.SCHEDULERS,),
            "positive": ("CONDITIONING",),
            "negative": ("CONDITIONING",),
            "latent_image": ("LATENT",),
            "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
        }
        req.update(_common_required())
        return {"required": req, "optional": dict(_COMMON_OPTIONAL), "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("LATENT", "IMAGE", "STRING", "INT", "NOISE")
    RETURN_NAMES = ("best_latent", "candidates", "report", "best_seed", "best_noise")
    OUTPUT_TOOLTIPS = ("the winner's latent", "every finished candidate, decoded", "JSON: per candidate seed, "
                       "score, NFE; totals", "seed that reproduces the winner in a plain KSampler (-1: none)",
                       "the winner's initial noise, for SamplerCustomAdvanced: reproduces random and zero-order "
                       "winners; for search over paths it is the root of the winner's lineage (the report's "
                       "recipe replays the re-noising draws)")
    FUNCTION = "search"
    CATEGORY = CATEGORY

    def search(self, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise,
               vae, verifier, candidates, max_batch, budget_nfe, rerender_winner, strategy=None, unique_id=None):
        if denoise <= 0:
            raise ValueError("denoise: must be above 0")
        ks = comfy.samplers.KSampler(model, steps=steps, device=model.load_device, sampler=sampler_name,
                                     scheduler=scheduler, denoise=denoise, model_options=model.model_options)
        guider = comfy.samplers.CFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        sampler = comfy.samplers.sampler_object(sampler_name)
        return run_search(guider=guider, sampler=sampler, sigmas=ks.sigmas, latent=latent_image, seed=seed, vae=vae,
                          verifier=verifier, strategy=strategy or RandomSearch(n=int(candidates)),
                          max_batch=max_batch, budget=budget_nfe, rerender_winner=rerender_winner,
                          unique_id=unique_id)


class NoiseSearchSamplerAdvanced:
    """SamplerCustomAdvanced-style search: any GUIDER (CFG, Flux guidance, dual CFG), SAMPLER and SIGMAS.
    The NOISE input's seed is the search's base seed."""

    @classmethod
    def INPUT_TYPES(cls):
        req = {"noise": ("NOISE",), "guider": ("GUIDER",), "sampler": ("SAMPLER",), "sigmas": ("SIGMAS",),
               "latent_image": ("LATENT",)}
        req.update(_common_required())
        return {"required": req, "optional": dict(_COMMON_OPTIONAL), "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = NoiseSearchSampler.RETURN_TYPES
    RETURN_NAMES = NoiseSearchSampler.RETURN_NAMES
    FUNCTION = "search"
    CATEGORY = CATEGORY

    def search(self, noise, guider, sampler, sigmas, latent_image, vae, verifier, candidates, max_batch, budget_nfe,
               rerender_winner, strategy=None, unique_id=None):
        seed = getattr(noise, "seed", None)
        if seed is None:
            raise ValueError("noise: needs a seeded noise (Random Noise); Disable Noise has no seed to search from")
        return run_search(guider=guider, sampler=sampler, sigmas=sigmas, latent=latent_image, seed=int(seed), vae=vae,
                          verifier=verifier, strategy=strategy or RandomSearch(n=int(candidates)),
                          max_batch=max_batch, budget=budget_nfe, rerender_winner=rerender_winner,
                          unique_id=unique_id)


class CandidateNoise:
    """NOISE whose row i is the noise a stock KSampler draws for seed + i at batch 1."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def generate_noise(self, input_latent):
        x = input_latent["samples"]
        return noise_batch(x.shape[1:], [self.seed + i for i in range(x.shape[0])], dtype=x.dtype)


class NoiseSearchNoiseCandidates:
    """N seeded noises as one NOISE: give SamplerCustomAdvanced a latent batch of N and row i gets
    the noise of seed + i (best-of-N from stock nodes, each row reproducible alone)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 0xffffffffffffffff,
                                              "control_after_generate": True})}}

    RETURN_TYPES = ("NOISE",)
    FUNCTION = "build"
    CATEGORY = CATEGORY

    def build(self, seed):
        return (CandidateNoise(seed),)


NODE_CLASS_MAPPINGS = {
    "NoiseSearchSampler": NoiseSearchSampler,
    "NoiseSearchSamplerAdvanced": NoiseSearchSamplerAdvanced,
    "NoiseSearchRandom": NoiseSearchRandom,
    "NoiseSearchZeroOrder": NoiseSearchZeroOrder,
    "NoiseSearchPaths": NoiseSearchPaths,
    "NoiseSearchNoiseCandidates": NoiseSearchNoiseCandidates,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "NoiseSearchSampler": "Noise Search Sampler",
    "NoiseSearchSamplerAdvanced": "Noise Search Sampler (Advanced)",
    "NoiseSearchRandom": "Search Strategy: Random (best-of-N)",
    "NoiseSearchZeroOrder": "Search Strategy: Zero-Order",
    "NoiseSearchPaths": "Search Strategy: Search over Paths",
    "NoiseSearchNoiseCandidates": "Noise Candidates (seed + i)",
}
