"""LAION aesthetic predictor: a linear-MSE head on L2-normalised CLIP ViT-L/14 image embeddings.

Both published head formats load (from .pth/.pt via ``weights_only=True``, or .safetensors):
- a single ``Linear(768 → 1)``: keys ``weight``, ``bias`` (improved-aesthetic-predictor's linear
  heads, the LAION-5B ``sa_0_4_vit_l_14_linear.pth``);
- the five-Linear "sac+logos+ava1-l14-linearMSE" MLP: ``layers.{0,2,4,6,7}.{weight,bias}``
  (768→1024→128→64→16→1 with Dropouts between, no activations).

Score ≈ 1..10 (the predicted mean rating).
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Verifier
from .clip import DEFAULT_CLIP, features, load_clip, resolve_clip
from .image_reward import RewardHead
from .loading import WeightsNotFoundError, find_file, load_state_dict, resolve
from .precision import fp32_forward

DEFAULT_HEAD = "sac+logos+ava1-l14-linearMSE.pth"
DEFAULT_HEAD_HUB = "camenduru/improved-aesthetic-predictor:" + DEFAULT_HEAD
HEAD_URL = "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/" + DEFAULT_HEAD.replace("+", "%2B")


def build_head(sd: Dict[str, torch.Tensor]) -> nn.Module:
    """The aesthetic head for a state dict in either published format (prefix ``module.``/``model.``
    tolerated); anything else is an error naming the keys found."""
    for prefix in ("module.", "model."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    keys = set(sd)
    if keys == {"weight", "bias"}:
        w = sd["weight"]
        head = nn.Linear(w.shape[-1], 1)
        head.load_state_dict({"weight": w.reshape(1, -1), "bias": sd["bias"].reshape(1)})
        return head.eval().requires_grad_(False)
    want = {f"layers.{i}.{n}" for i in (0, 2, 4, 6, 7) for n in ("weight", "bias")}
    if keys == want:
        head = RewardHead(sd["layers.0.weight"].shape[1], dropouts=(0.2, 0.2, 0.1))
        head.load_state_dict(sd, strict=True)
        return head.eval().requires_grad_(False)
    raise KeyError("aesthetic head: unknown format; expected {'weight','bias'} (Linear) or "
                   f"layers.{{0,2,4,6,7}}.{{weight,bias}} (MLP); missing {sorted(want - keys)[:10]}, "
                   f"found {sorted(keys)[:12]}")


def blame(e: Exception, *parts: str) -> Exception:
    """Tag ``e`` with the part(s) at fault (``"head"``, ``"clip"``), so a loader node can name its input."""
    e.bad_input = tuple(parts)
    return e


class AestheticScore(Verifier):
    """Score = head(normalize(CLIP image embedding)). No prompt."""

    def __init__(self, clip_vision, head: nn.Module, preprocess, name: str = "aesthetic"):
        self.clip = clip_vision
        self.head = head
        self.preprocess = preprocess
        self.name = name
        self.input_size = preprocess.input_size
        in_dim = head.weight.shape[-1] if isinstance(head, nn.Linear) else head.layers[0].weight.shape[-1]
        cfg = getattr(clip_vision, "config", None)
        emb = getattr(cfg, "projection_dim", None)
        if emb is not None and emb != in_dim:
            raise blame(ValueError(f"aesthetic head expects {in_dim}-d embeddings but the CLIP model gives {emb}-d: "
                                   f"the LAION heads need CLIP ViT-L/14 (768-d, {DEFAULT_CLIP}); choose that CLIP "
                                   "model, or a head trained on this CLIP's embeddings"), "head", "clip")

    @classmethod
    def from_pretrained(cls, head: str = DEFAULT_HEAD, clip: str = DEFAULT_CLIP, search_dirs: Iterable[str] = (),
                        dtype: Optional[torch.dtype] = None, **kw) -> "AestheticScore":
        search_dirs = list(search_dirs)
        try:
            head_path = cls._head_file(head, search_dirs)
            head_mod = build_head(load_state_dict(head_path))
        except Exception as e:
            raise blame(e, "head")
        try:
            model, _, pre = load_clip(resolve_clip(clip, search_dirs, what="aesthetic CLIP model"), vision_only=True,
                                      dtype=dtype)
        except Exception as e:
            raise blame(e, "clip")
        if dtype is not None:
            head_mod.to(dtype)
        return cls(model, head_mod, pre, name=kw.pop("name", f"aesthetic({os.path.basename(head_path)})"), **kw)

    @staticmethod
    def _head_file(head: str, search_dirs) -> str:
        head_path = None
        try:
            head_path = resolve(head, search_dirs, what="aesthetic head")
        except WeightsNotFoundError as e:
            if head == DEFAULT_HEAD:  # also try the hub copy of the default file
                try:
                    head_path = resolve(DEFAULT_HEAD_HUB, search_dirs, what="aesthetic head")
                except WeightsNotFoundError as e2:
                    raise WeightsNotFoundError(
                        f"aesthetic head {head!r} not found. Looked in:\n  - " + "\n  - ".join(e.looked + e2.looked) +
                        f"\nTo fix: download {HEAD_URL} into " + (search_dirs[0] if search_dirs else "models/verifiers") +
                        f", or `hf download {DEFAULT_HEAD_HUB.replace(':', ' ')}`.", e.looked + e2.looked) from None
            else:
                raise
        if os.path.isdir(head_path):
            f = find_file(head_path, (DEFAULT_HEAD,), (".pth", ".pt", ".safetensors"))
            if f is None:
                raise WeightsNotFoundError(f"aesthetic head: folder {head_path} holds no single .pth/.pt/.safetensors", [head_path])
            head_path = f
        return head_path

    def modules(self):
        return [self.clip, self.head]

    def _score(self, images, prompts, mid_images):
        px = self.preprocess(images, device=self.device, dtype=self.dtype)
        out = self.clip(pixel_values=px)
        emb = out.image_embeds if hasattr(out, "image_embeds") else features(out)
        emb = F.normalize(emb.float(), dim=-1)
        return fp32_forward(self.head, emb).reshape(-1)  # a bf16 score would step by 0.031 near 6
