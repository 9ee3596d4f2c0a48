"""Search nodes: a KSampler-style search node, an advanced (guider/sampler/sigmas) variant,
strategy nodes that configure the algorithm, and a noise-candidates node."""
from __future__ import annotations

import inspect
import json
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
from ..search.noise import check_seed, noise_batch, noise_source
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
    samples = fix_latent(guider.model_patcher, latent)
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
    check_budget(den, budget_arg)
    strategy.validate(den, budget_arg)
    state["total"] = max(1, strategy.planned_nfe(den, budget_arg))
    pbar = comfy.utils.ProgressBar(state["total"])

    def progress(ev):
        comfy.model_management.throw_exception_if_processing_interrupted()
        _send(EVENT_PROGRESS, {"node": unique_id, **ev})

    with noise_source(host_noise(samples, latent.get("batch_index"))):  # every draw is the host's
        result = strategy.run(den, seed=check_seed(seed), max_batch=max_batch, budget=budget_arg, progress=progress)
        best_latent = result.best_latent
        if rerender_winner and result.best_seed is not None:
            # the winner alone at batch 1: the exact call a stock KSampler makes for that seed
            best_latent = den.sample(noise_batch(den.latent_shape, [result.best_seed]), len(den.sigmas) - 1,
                                     [result.best_seed])
    if not torch.isfinite(best_latent).all():  # never hand a NaN latent on as a success
        raise RuntimeError("noise search: the winning latent holds NaN or inf values, so there is no valid result. "
                           "The model gave non-finite values for every candidate: check the model and its weight "
                           "dtype, the sampler and sigmas, and the strategy settings")
    finals = result.finals if result.finals is not None else best_latent
    images = den.decode(finals)
    report = result.report()
    report["settings"] = {"sampler": den.sampler_name, "steps": len(den.sigmas) - 1, "max_batch": max_batch,
                          "budget": budget_arg, "parameterization": den.parameterization,
                          "nfe_per_trajectory": den.cost(0, len(den.sigmas) - 1),
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


def fix_latent(patcher, latent: Dict[str, Any]) -> torch.Tensor:
    """The latent as the stock samplers take it: the host's ``fix_empty_latent_channels``, given the
    LATENT's downscale ratios where the host takes them (ComfyUI >= 0.11; the floor does not)."""
    params = inspect.signature(comfy.sample.fix_empty_latent_channels).parameters
    kw = {k: latent[k] for k in ("downscale_ratio_spacial", "downscale_ratio_temporal")
          if k in params and latent.get(k) is not None}
    return comfy.sample.fix_empty_latent_channels(patcher, latent["samples"], **kw)


def host_noise(latent: torch.Tensor, batch_index=None):
    """The host's noise for one latent like ``latent`` and a seed: ``comfy.sample.prepare_noise`` on
    a batch-1 template of the latent's dtype, with the latent's ``batch_index`` as a stock KSampler
    passes it (index k takes the seed's (k+1)-th draw)."""
    inds = None if batch_index is None else [int(batch_index[0])]

    def draw(shape, seed):
        return comfy.sample.prepare_noise(torch.zeros(shape, dtype=latent.dtype), seed, inds)
    return draw


def check_budget(den: ComfyDenoiser, budget: Optional[int]) -> None:
    """A budget is a hard cap: refuse a sampler whose NFE cannot be planned, or a budget below one
    trajectory, naming ``budget_nfe``."""
    if budget is None:
        return
    if den.variable_cost:
        raise ValueError(f"budget_nfe: sampler {den.sampler_name!r} chooses its own step sizes (or its NFE could "
                         "not be counted), so no plan can keep it within a budget; set budget_nfe to 0 or pick a "
                         "fixed-step sampler")
    one = den.cost(0, len(den.sigmas) - 1)
    if budget < one:
        raise ValueError(f"budget_nfe: {budget} is below one trajectory ({one} NFE for {den.sampler_name!r} over "
                         f"{len(den.sigmas) - 1} steps); raise budget_nfe to at least {one}, or set it to 0")


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


#: the seed widget. ``control_after_generate: True`` shows ComfyUI's control widget with
#: "randomize" selected on every tested frontend (1.32.9, 1.48.7, 1.58.1), so each run gets fresh
#: candidates. (A mode string such as "randomize" is read as the control widget's *name* by
#: frontends 1.32.9 and 1.48.7, so True is the portable spelling.) Candidate i is seed + i, so on the
#: search nodes web/noise_search.js makes "increment" / "decrement" move the seed by the number of
#: stock seeds a run uses (the strategy's count), and consecutive runs share no candidate.
SEED_OPTIONS = {"default": 0, "min": 0, "max": 0xffffffffffffffff, "control_after_generate": True,
                "tooltip": "base seed: candidate i starts from the noise of seed + i. 'control after generate': "
                           "randomize (the default) tries fresh noises every run; increment / decrement move the "
                           "seed by the run's candidates (random: candidates, paths: n, particles: particles, "
                           "zero-order: 1), so the next run shares none of them; fixed re-runs the same search."}

#: Noise Candidates does not know N (the latent batch it meets): its control steps by 1.
CANDIDATES_SEED_OPTIONS = dict(SEED_OPTIONS, tooltip="base seed: row i gets the noise of seed + i. Keep 'control "
                                                     "after generate' on randomize (the default): with increment, "
                                                     "the next run repeats all but one of this run's rows.")

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
            "seed": ("INT", dict(SEED_OPTIONS)),
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
                       "the winner's initial noise, for SamplerCustomAdvanced: reproduces random-search winners "
                       "with any sampler, and zero-order winners only with deterministic samplers (euler, heun, "
                       "dpmpp_2m, ...): ancestral and SDE samplers seed their step noise from the NOISE's seed, "
                       "which a zero-order neighbour does not have (best_seed -1). For search over paths it is "
                       "the root of the winner's lineage (the report's recipe replays the re-noising draws)")
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


def check_sigmas(sigmas) -> None:
    """The search scores finished samples, so the schedule must run to sigma = 0."""
    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1 or sigmas.numel() < 2:
        shape = tuple(sigmas.shape) if isinstance(sigmas, torch.Tensor) else type(sigmas).__name__
        raise ValueError(f"sigmas: needs a schedule of at least one step (two sigmas), got {shape}")
    last = float(sigmas[-1])
    if last != 0.0:
        raise ValueError(f"sigmas: the schedule ends at sigma {last:.4g}, not 0, so every candidate would be "
                         "scored while still noisy; give the search a schedule that ends at 0 (a scheduler's "
                         "full output, or the low half of SplitSigmas), and run a high half with a stock "
                         "SamplerCustomAdvanced")


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
    OUTPUT_TOOLTIPS = NoiseSearchSampler.OUTPUT_TOOLTIPS
    FUNCTION = "search"
    CATEGORY = CATEGORY

    def search(self, noise, guider, sampler, sigmas, latent_image, vae, verifier, candidates, max_batch, budget_nfe,
               rerender_winner, strategy=None, unique_id=None):
        seed = getattr(noise, "seed", None)
        if seed is None:
            raise ValueError("noise: needs a seeded noise (Random Noise); Disable Noise has no seed to search from")
        check_sigmas(sigmas)
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
        inds = input_latent.get("batch_index")
        return torch.cat([host_noise(x, None if inds is None else [inds[i]])([1, *x.shape[1:]], check_seed(self.seed + i))
                          for i in range(x.shape[0])])


class NoiseSearchNoiseCandidates:
    """N seeded noises as one NOISE: give SamplerCustomAdvanced a latent batch of N and row i gets
    the initial noise of seed + i (best-of-N from stock nodes). With deterministic samplers each row
    is what a batch-1 run of seed + i gives; ancestral and SDE samplers draw their step noise for
    the whole batch from one generator, so there a row is not reproducible alone."""

    DESCRIPTION = ("N seeded noises as one NOISE: with a latent batch of N, row i starts from the noise a stock "
                   "KSampler draws for seed + i. Each row is reproducible alone only with deterministic samplers "
                   "(euler, heun, dpmpp_2m, ...): ancestral and SDE samplers draw their step noise for the whole "
                   "batch at once. For a search that reproduces with any sampler, use Noise Search Sampler.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", dict(CANDIDATES_SEED_OPTIONS))}}

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
