"""The body both search nodes share (nodes/samplers.py): check the inputs, build the
:class:`ComfyDenoiser` and the scorer, run the strategy under the host's noise, and turn its result
into node outputs, the report and the UI events. Also the NOISE objects the nodes return and the
checks that name a bad input (budget, sigmas)."""
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

from ..search.noise import check_seed, noise_batch, noise_source
from .comfy_denoiser import ComfyDenoiser
from . import verifier_runtime
from .scoring import Scorer, ensemble_report, finite_json

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
               max_batch: int, budget: int, rerender_winner: bool, unique_id=None,
               settings: Optional[Dict[str, Any]] = None):
    """Shared body of both search nodes. Returns the node outputs and the UI payload. ``settings``:
    what the node knows of the sampling set-up beyond the guider (the KSampler node: cfg, scheduler,
    denoise), written into the report so a replay can check it is given the same."""
    if verifier is None:
        raise ValueError("verifier: connect a verifier node (e.g. Noise Search CLIPScore / Color Target)")
    if vae is None:
        raise ValueError("vae: the verifier scores decoded images, so the search needs the VAE of this model; "
                         "connect the checkpoint loader's VAE output")
    samples = check_latent(guider.model_patcher, latent)
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
                          "verifier": bound.verifier.describe(), "rerender_winner": bool(rerender_winner),
                          **(settings or {})}
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


def check_latent(patcher, latent: Dict[str, Any]) -> torch.Tensor:
    """The one start latent of a search (or a replay), refused with an error naming ``latent_image``
    when it is a batch, has a noise mask or an unsupported shape."""
    samples = latent["samples"]
    if samples.is_nested or samples.ndim != 4 and samples.ndim != 5:
        raise ValueError(f"latent_image: unsupported latent of shape {tuple(samples.shape)}")
    if samples.shape[0] != 1:
        raise ValueError(f"latent_image: has a batch of {samples.shape[0]}; the search makes its own candidates "
                         "from one latent, so give it a batch of 1 (e.g. Empty Latent Image with batch_size 1)")
    if latent.get("noise_mask") is not None:
        raise ValueError("latent_image: has a noise mask (inpainting), which the search does not support yet")
    return fix_latent(patcher, latent)


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



class CandidateNoise:
    """NOISE whose row i is the noise a stock KSampler draws for seed + i at batch 1."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def generate_noise(self, input_latent):
        x = input_latent["samples"]
        inds = input_latent.get("batch_index")
        return torch.cat([host_noise(x, None if inds is None else [inds[i]])([1, *x.shape[1:]], check_seed(self.seed + i))
                          for i in range(x.shape[0])])


