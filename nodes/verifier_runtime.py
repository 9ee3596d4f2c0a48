"""Run verifiers inside ComfyUI: device placement through ComfyUI's model management.

- :class:`BoundVerifier`: the value carried by ``NS_VERIFIER`` sockets (a verifier + its prompt).
- :func:`prepare`: once before a search: cast to the inference dtype (first time only), wrap the
  verifier's modules in the patcher class the host gives its own models
  (``comfy.model_patcher.CoreModelPatcher``, as ``comfy/clip_vision.py`` does: the dynamic-VRAM
  ``ModelPatcherDynamic`` where the host enabled it, a legacy ``ModelPatcher`` on CPU and on older
  hosts) and load them with ``comfy.model_management.load_models_gpu``. With dynamic VRAM the host
  does not unload dynamic models to make room for other dynamic ones, so scoring does not evict the
  diffusion model; with legacy patchers ComfyUI decides: if both fit, both stay resident; if not,
  loading one evicts the other and they take turns.
- :func:`score_images`: score a batch (IMAGE [B, H, W, 3] in [0, 1]) → float32 [B] on the CPU,
  in chunks, honouring ComfyUI's cancel button between chunks. Weight-free verifiers work through
  the same calls (nothing to load; they run on the images' device).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

import torch

from ..verifiers.base import Verifier
from ..verifiers.ensemble import Ensemble, WithPrompt

log = logging.getLogger("noise_search.verifiers")

#: images per verifier forward; bounded so activations stay small next to the diffusion model
CHUNK = int(os.environ.get("NOISE_SEARCH_VERIFIER_CHUNK", "16"))


@dataclass
class BoundVerifier:
    """What an ``NS_VERIFIER`` socket carries: a verifier and the prompt it scores against."""

    verifier: Verifier
    prompt: str = ""

    @property
    def name(self) -> str:
        return self.verifier.name

    def describe(self) -> dict:
        d = dict(self.verifier.describe())
        if self.verifier.uses_prompt:
            d["prompt"] = self.prompt
        return d


class _Holder(torch.nn.Module):
    """One module holding all of a verifier's modules, for a single ModelPatcher."""

    def __init__(self, mods):
        super().__init__()
        self.parts = torch.nn.ModuleList(mods)


def _inference_dtype(mm, device) -> torch.dtype:
    want = os.environ.get("NOISE_SEARCH_VERIFIER_DTYPE", "").lower()
    table = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16,
             "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
    if want in table:
        return table[want]
    if device.type == "cpu":
        return torch.float32
    try:
        if mm.should_use_bf16(device, prioritize_performance=False):
            return torch.bfloat16
        if mm.should_use_fp16(device, prioritize_performance=False):
            return torch.float16
    except Exception:  # older/newer ComfyUI signatures
        pass
    return torch.float32


def patcher_for(verifier: Verifier):
    """The (cached) ModelPatcher wrapping ``verifier``'s modules; None for weight-free verifiers."""
    mods = verifier.modules()
    if not mods:
        return None
    p = verifier.__dict__.get("_comfy_patcher")
    if p is not None:
        return p
    import comfy.model_management as mm
    import comfy.model_patcher
    load_device = mm.get_torch_device()
    offload_device = mm.unet_offload_device()
    dtype = _inference_dtype(mm, load_device)
    holder = _Holder(mods)
    if dtype != torch.float32:
        holder.to(dtype=dtype)
    holder.to(offload_device)
    cls = getattr(comfy.model_patcher, "CoreModelPatcher", comfy.model_patcher.ModelPatcher)
    p = cls(holder, load_device=load_device, offload_device=offload_device)
    verifier.__dict__["_comfy_patcher"] = p
    return p


def _leaves(verifier: Verifier):
    """The verifiers that own weights: ensemble members (unwrapped), or the verifier itself."""
    while isinstance(verifier, WithPrompt):
        verifier = verifier.inner
    if isinstance(verifier, Ensemble):
        out = []
        for m in verifier.members:
            for leaf in _leaves(m):
                if all(leaf is not x for x in out):
                    out.append(leaf)
        return out
    return [verifier]


def patchers_for(verifier: Verifier):
    """One ModelPatcher per weight-owning verifier (an ensemble member used alone elsewhere shares
    its patcher, so ComfyUI never sees the same weights twice)."""
    return [p for p in (patcher_for(v) for v in _leaves(verifier)) if p is not None]


def _memory_required(verifier: Verifier, batch: int) -> int:
    """A rough activation budget for one chunk (weights are counted by ComfyUI itself)."""
    if not verifier.modules():
        return 0
    itemsize = torch.tensor([], dtype=verifier.dtype).element_size()
    return int(batch * 96 * 1024 * 1024 * itemsize / 4)


def prepare(bound: BoundVerifier, batch: int = CHUNK, reset: bool = True) -> None:
    """Load the verifier onto ComfyUI's torch device (or keep it there). Call once before a search
    (``reset=True`` also clears an ensemble's score history) and freely afterwards: when the
    verifier is already loaded this costs nothing."""
    v = bound.verifier if isinstance(bound, BoundVerifier) else bound
    if reset and isinstance(v, Ensemble):
        v.reset_history()
    ps = patchers_for(v)
    if not ps:
        return
    import comfy.model_management as mm
    # legacy patchers load fully: transformers modules are not comfy.ops layers, so no partial
    # (lowvram) loading; a dynamic patcher loads such modules whole by itself
    full = not all(getattr(p, "is_dynamic", lambda: False)() for p in ps)
    mm.load_models_gpu(ps, memory_required=_memory_required(v, batch), force_full_load=full)


def _check_interrupt():
    try:
        import comfy.model_management as mm
        mm.throw_exception_if_processing_interrupted()
    except ImportError:
        pass


def score_images(bound: BoundVerifier, images: torch.Tensor, mid_images: Optional[torch.Tensor] = None,
                 chunk: int = CHUNK) -> torch.Tensor:
    """Scores (float32 [B], CPU, higher is better) of IMAGE batch ``images`` for ``bound``."""
    if not isinstance(bound, BoundVerifier):
        raise TypeError(f"expected an NS_VERIFIER (BoundVerifier), got {type(bound).__name__}")
    v = bound.verifier
    if v.needs_mid_x0 and mid_images is None:
        raise ValueError(f"verifier {v.name!r} compares the final image with the x0 prediction part-way "
                         "down the trajectory: connect mid_images (the search supplies them)")
    if mid_images is not None and mid_images.shape[0] != images.shape[0]:
        raise ValueError(f"mid_images has {mid_images.shape[0]} images for {images.shape[0]} images")
    prepare(bound, min(chunk, images.shape[0]), reset=False)
    n = images.shape[0]
    if n == 0:
        return torch.zeros(0)
    chunk = max(1, int(chunk))
    if isinstance(v, Ensemble):  # ranks must be taken over all images, not per chunk
        if n == 1 and not v.__dict__.get("_warned_single"):
            v.__dict__["_warned_single"] = True
            log.warning("noise search: ensemble %r scored one image at a time; each call ranks only its own "
                        "images, so compare candidates with verifier_runtime.rerank_history() or score them "
                        "in one call", v.name)
        parts = []
        for s in range(0, n, chunk):
            _check_interrupt()
            mid = mid_images[s:s + chunk] if mid_images is not None else None
            parts.append(v.member_scores(images[s:s + chunk], bound.prompt, mid))
        joined = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        v.last_member_scores = joined
        v.history.append(joined)
        return v.combine(joined).float()
    out = []
    for s in range(0, n, chunk):
        _check_interrupt()
        mid = mid_images[s:s + chunk] if (mid_images is not None and v.needs_mid_x0) else None
        out.append(v.score(images[s:s + chunk], bound.prompt, mid))
    return torch.cat(out)


def is_batch_relative(bound: BoundVerifier) -> bool:
    """True when scores are only comparable within one ``score_images`` call (rank ensembles):
    score all candidates to compare in one call, or re-rank at the end with :func:`rerank_history`."""
    return bool(getattr(bound.verifier, "batch_relative", False))


def rerank_history(bound: BoundVerifier) -> Optional[torch.Tensor]:
    """For a rank ensemble: the scores of every image scored since :func:`prepare`, ranked jointly
    over all of them (call order). None for other verifiers (their scores never change)."""
    v = bound.verifier
    if isinstance(v, Ensemble):
        return v.history_scores()
    return None
