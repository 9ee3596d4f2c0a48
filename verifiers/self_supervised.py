"""Self-supervised verifier (Ma et al. 2025, §"Self-supervised verifiers"): the cosine similarity
between features of the model's x0 prediction part-way down the trajectory (``mid_images``) and of
the final sample. High similarity = the early prediction was already faithful = a "good" noise.

Feature extractors: DINOv2 (or any ``AutoModel`` vision backbone: CLS token / pooler output) or
the CLIP image tower (projected embedding). No prompt.
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Optional

import torch
import torch.nn.functional as F

from .base import Verifier
from .clip import features
from .loading import resolve
from .preprocess import CLIP_MEAN, CLIP_STD, preprocess_from_config

DEFAULT_DINO = "facebook/dinov2-base"


class SelfSupervised(Verifier):
    needs_mid_x0 = True

    def __init__(self, model, preprocess, kind: str = "auto", name: str = "self_supervised"):
        self.model, self.preprocess, self.kind = model, preprocess, kind
        self.input_size = preprocess.input_size
        self.name = name

    @classmethod
    def from_pretrained(cls, spec: str = DEFAULT_DINO, search_dirs: Iterable[str] = (),
                        dtype: Optional[torch.dtype] = None, **kw) -> "SelfSupervised":
        path = resolve(spec, list(search_dirs), what="self-supervised feature model", required=("config.json",))
        with open(os.path.join(path, "config.json")) as f:
            model_type = json.load(f).get("model_type", "")
        kwd = {"dtype": dtype} if dtype is not None else {}
        if model_type == "clip":
            from transformers import CLIPConfig, CLIPVisionModelWithProjection
            model = CLIPVisionModelWithProjection.from_pretrained(path, **kwd)
            size = CLIPConfig.from_pretrained(path).vision_config.image_size
            pre = preprocess_from_config(path, size, CLIP_MEAN, CLIP_STD)
            kind = "clip"
        else:
            from transformers import AutoConfig, AutoModel
            cfg = AutoConfig.from_pretrained(path)
            model = AutoModel.from_pretrained(path, **kwd)
            size = getattr(cfg, "image_size", 224)
            size = size[0] if isinstance(size, (tuple, list)) else int(size)
            pre = preprocess_from_config(path, size)
            kind = "backbone"
        model.eval().requires_grad_(False)
        return cls(model, pre, kind, name=kw.pop("name", f"self_supervised({os.path.basename(spec.rstrip('/'))})"), **kw)

    def modules(self):
        return [self.model]

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        px = self.preprocess(images, device=self.device, dtype=self.dtype)
        out = self.model(pixel_values=px)
        if self.kind == "clip":
            emb = out.image_embeds if hasattr(out, "image_embeds") else features(out)
        elif getattr(out, "pooler_output", None) is not None:
            emb = out.pooler_output
        else:
            emb = out.last_hidden_state[:, 0]
        return emb.float()

    def _score(self, images, prompts, mid_images):
        if mid_images.shape[1:] == images.shape[1:]:
            a, b = self.embed(torch.cat([images, mid_images.to(images.device)], 0)).chunk(2, 0)
        else:
            a, b = self.embed(images), self.embed(mid_images)
        return F.cosine_similarity(a, b, dim=-1)
