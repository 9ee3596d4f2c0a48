"""The verifier interface: a scorer of images (and optionally a prompt); higher is better.

Images use ComfyUI's IMAGE layout so the glue passes them straight through: a float tensor
[B, H, W, 3] with values in [0, 1]. Verifiers never import ComfyUI; the node layer moves their
modules between devices through ComfyUI's model management (see ``modules()``).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch

Prompts = Union[str, Sequence[str], None]


def expand_prompts(prompts: Prompts, n: int) -> List[str]:
    """One prompt per image: a single string is repeated; a list must have n entries."""
    if prompts is None:
        return [""] * n
    if isinstance(prompts, str):
        return [prompts] * n
    prompts = list(prompts)
    if len(prompts) == 1:
        return prompts * n
    if len(prompts) != n:
        raise ValueError(f"got {len(prompts)} prompts for {n} images; give one, or one per image")
    return prompts


def check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"verifier expects images as [B, H, W, 3] in [0, 1] (ComfyUI IMAGE), got {shape}")
    return images


class Verifier:
    """Base class. Subclasses implement ``_score``; ``score`` validates and returns float32 [B]."""

    #: short name used in reports
    name: str = "verifier"
    #: True when the score depends on the prompt
    uses_prompt: bool = False
    #: True when the score compares the final image with the model's x0 prediction part-way
    #: down the trajectory (passed as ``mid_images``)
    needs_mid_x0: bool = False
    #: (height, width) the model actually sees after preprocessing; None for weight-free verifiers
    input_size: Optional[Tuple[int, int]] = None
    #: True when scores are only comparable within one ``score`` call (e.g. rank ensembles)
    batch_relative: bool = False
    #: prompt used when measuring FLOPs of prompt-conditioned verifiers
    flops_prompt: str = "a photo of a cat sitting on a red chair in the garden"
    _measuring_flops: bool = False

    def score(self, images: torch.Tensor, prompts: Prompts = None,
              mid_images: Optional[torch.Tensor] = None) -> torch.Tensor:
        images = check_images(images)
        if self.needs_mid_x0:
            if mid_images is None:
                raise ValueError(f"verifier {self.name!r} needs the mid-trajectory x0 images (mid_images)")
            check_images(mid_images)
        with torch.inference_mode():
            out = self._score(images, expand_prompts(prompts, images.shape[0]), mid_images)
        out = out.detach().float().reshape(-1).cpu()
        if out.shape[0] != images.shape[0]:
            raise RuntimeError(f"verifier {self.name!r} returned {out.shape[0]} scores for {images.shape[0]} images")
        return out

    def _score(self, images: torch.Tensor, prompts: List[str], mid_images: Optional[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    # -- resources -------------------------------------------------------------------------
    def modules(self) -> List[torch.nn.Module]:
        """The torch modules holding this verifier's weights (empty for weight-free ones)."""
        return []

    @property
    def device(self) -> torch.device:
        for m in self.modules():
            for p in m.parameters():
                return p.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        for m in self.modules():
            for p in m.parameters():
                return p.dtype
        return torch.float32

    def to(self, device=None, dtype=None) -> "Verifier":
        """Move (and optionally cast) every module; returns self."""
        for m in self.modules():
            m.to(device=device, dtype=dtype)
        return self

    def flops_per_image(self, height: int, width: int) -> float:
        """Forward FLOPs to score one image of this size (0 for weight-free verifiers).

        Measured once per size with ``torch.utils.flop_counter.FlopCounterMode`` on one forward of
        ``_score`` (batch of one) and cached. Works when the modules live on the meta device, so
        full-size configs can be costed without their weights."""
        if not self.modules():
            return 0.0
        cache = self.__dict__.setdefault("_flops_cache", {})
        key = (int(height), int(width))
        if key not in cache:
            from .flops import count_flops
            dev = self.device
            img = torch.full((1, key[0], key[1], 3), 0.5, device=dev)
            mid = img if self.needs_mid_x0 else None
            self._measuring_flops = True  # verifiers skip their caches (e.g. text features)
            try:
                cache[key] = float(count_flops(lambda: self._score(img, [self.flops_prompt], mid)))
            finally:
                self._measuring_flops = False
        return cache[key]

    def describe(self) -> dict:
        return {"name": self.name, "uses_prompt": self.uses_prompt, "needs_mid_x0": self.needs_mid_x0}
