"""Verifier cost: forward FLOPs measured with ``torch.utils.flop_counter.FlopCounterMode``, and their
conversion to NFE-equivalents (one NFE = one forward of the diffusion model on one latent)."""
from __future__ import annotations

from typing import Callable

import torch


def count_flops(fn: Callable[[], object]) -> int:
    """Total FLOPs (multiply-adds count 2) of running ``fn()`` once, under ``inference_mode``.
    Works with meta-device modules and inputs, so full-size configs can be costed without weights.

    Scaled-dot-product attention runs on its math backend while counting: the fused CPU kernel
    (``_scaled_dot_product_flash_attention_for_cpu``) has no FLOP formula and would count as 0,
    so the same model would cost less on CPU than on GPU or the meta device."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        math_only = sdpa_kernel([SDPBackend.MATH])
    except Exception:  # pragma: no cover - older torch
        import contextlib
        math_only = contextlib.nullcontext()
    with torch.inference_mode(), math_only, counter:
        fn()
    return int(counter.get_total_flops())


def nfe_equivalents(verifier_flops: float, model_flops_per_nfe: float) -> float:
    """How many diffusion-model evaluations one verifier call costs (the paper's budget unit)."""
    if model_flops_per_nfe <= 0:
        raise ValueError(f"model_flops_per_nfe must be > 0, got {model_flops_per_nfe}")
    return float(verifier_flops) / float(model_flops_per_nfe)


def verifier_nfe_equivalents(verifier, height: int, width: int, model_flops_per_nfe: float,
                             n_images: int = 1) -> float:
    """NFE-equivalents of scoring ``n_images`` images of ``height``×``width`` with ``verifier``."""
    return nfe_equivalents(verifier.flops_per_image(height, width) * n_images, model_flops_per_nfe)
