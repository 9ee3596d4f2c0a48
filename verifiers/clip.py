"""CLIPScore (Hessel et al. 2021): 100 · max(cos(image embedding, text embedding), 0).

Backends:
- transformers ``CLIPModel`` + its tokenizer (default ``openai/clip-vit-large-patch14``), loaded
  from a local folder, a ``models/verifiers`` name or the Hugging Face cache (see ``loading.py``);
- OpenCLIP (optional, imported lazily only when an OpenCLIP model is requested:
  ``CLIPScore.from_open_clip('ViT-H-14', 'laion2b_s32b_b79k')``). It needs ``open_clip_torch``,
  which is not a requirement of this pack.

Preprocessing is done in torch (shortest side to 224 bicubic + antialias, centre crop, CLIP
mean/std), so neither torchvision nor a transformers image processor is needed.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional

import torch
import torch.nn.functional as F

from .base import Verifier
from .loading import resolve
from .preprocess import CLIP_MEAN, CLIP_STD, Preprocess, preprocess_from_config

DEFAULT_CLIP = "openai/clip-vit-large-patch14"


def features(out) -> torch.Tensor:
    """``get_image_features``/``get_text_features`` return a tensor (transformers 4) or an output
    object whose ``pooler_output`` is the projected embedding (transformers 5); accept both."""
    if isinstance(out, torch.Tensor):
        return out
    for name in ("pooler_output", "image_embeds", "text_embeds"):
        v = getattr(out, name, None)
        if isinstance(v, torch.Tensor):
            return v
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"cannot find an embedding in {type(out).__name__}")


def resolve_clip(spec: str, search_dirs: Iterable[str] = (), what: str = "CLIP model") -> str:
    return resolve(spec, search_dirs, what=what, required=("config.json",))


def clip_preprocess_for(model_dir: Optional[str], image_size: int) -> Preprocess:
    pre = preprocess_from_config(model_dir, image_size, CLIP_MEAN, CLIP_STD)
    if model_dir is None or not os.path.isfile(os.path.join(model_dir, "preprocessor_config.json")):
        pre = Preprocess(crop=(image_size, image_size), resize=image_size)
    return pre


def load_clip(path: str, vision_only: bool = False, dtype: Optional[torch.dtype] = None):
    """(model, tokenizer or None, Preprocess) from a transformers CLIP folder."""
    from transformers import CLIPConfig
    cfg = CLIPConfig.from_pretrained(path)
    kw = {"dtype": dtype} if dtype is not None else {}
    if vision_only:
        from transformers import CLIPVisionModelWithProjection
        model = CLIPVisionModelWithProjection.from_pretrained(path, **kw)
        tok = None
    else:
        from transformers import AutoTokenizer, CLIPModel
        model = CLIPModel.from_pretrained(path, **kw)
        tok = AutoTokenizer.from_pretrained(path)
    model.eval().requires_grad_(False)
    return model, tok, clip_preprocess_for(path, cfg.vision_config.image_size)


class CLIPScore(Verifier):
    """Score = ``weight`` · max(cos, 0) with ``weight`` = 100 (CLIPScore's w = 2.5 variant is
    ``weight=250`` on the same cosine). ``clamp=False`` returns ``weight`` · cos (no clamp), which
    ranks images even when every cosine is negative. ``last_cosine`` holds the raw cosines of the
    latest call. Text embeddings are cached per prompt (the prompt is fixed during a search)."""

    uses_prompt = True

    def __init__(self, model, tokenizer, preprocess: Optional[Preprocess] = None, weight: float = 100.0,
                 clamp: bool = True, name: str = "clipscore", backend: str = "transformers"):
        self.model = model
        self.tokenizer = tokenizer
        self.preprocess = preprocess or Preprocess()
        self.weight = float(weight)
        self.clamp = bool(clamp)
        self.name = name
        self.backend = backend
        self.input_size = self.preprocess.input_size
        self.last_cosine: Optional[torch.Tensor] = None
        self._text_cache: Dict[str, torch.Tensor] = {}

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, spec: str = DEFAULT_CLIP, search_dirs: Iterable[str] = (),
                        dtype: Optional[torch.dtype] = None, **kw) -> "CLIPScore":
        path = resolve_clip(spec, search_dirs, what="CLIPScore model")
        model, tok, pre = load_clip(path, dtype=dtype)
        return cls(model, tok, pre, name=kw.pop("name", f"clipscore({os.path.basename(spec.rstrip('/'))})"), **kw)

    @classmethod
    def from_open_clip(cls, model_name: str = "ViT-L-14", pretrained: str = "openai", **kw) -> "CLIPScore":
        """OpenCLIP backend. ``pretrained`` is an OpenCLIP tag or a checkpoint path."""
        try:
            import open_clip  # noqa: F401  (imports torchvision and timm: only on request)
        except ImportError as e:
            raise ImportError("the OpenCLIP backend needs `open_clip_torch` (pip install open_clip_torch); "
                              "it is optional and not installed") from e
        model, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        tok = open_clip.get_tokenizer(model_name)
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        size = cfg.get("size", getattr(model.visual, "image_size", 224))
        size = size[0] if isinstance(size, (tuple, list)) else int(size)
        pre = Preprocess(crop=(size, size), resize=size, mean=tuple(cfg.get("mean", CLIP_MEAN)),
                         std=tuple(cfg.get("std", CLIP_STD)),
                         mode="bicubic" if cfg.get("interpolation", "bicubic") == "bicubic" else "bilinear")
        model.eval().requires_grad_(False)
        return cls(_OpenCLIPAdapter(model), _OpenCLIPTokenizer(tok), pre,
                   name=kw.pop("name", f"clipscore(open_clip:{model_name})"), backend="open_clip", **kw)

    # -- scoring ------------------------------------------------------------------------------
    def modules(self):
        return [self.model]

    def image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        px = self.preprocess(images, device=self.device, dtype=self.dtype)
        return features(self.model.get_image_features(pixel_values=px)).float()

    def _max_len(self) -> int:
        n = int(getattr(self.tokenizer, "model_max_length", 77) or 77)
        if n > 10 ** 6:  # "no limit" sentinel of tokenizers saved without one
            n = 77
        cfg = getattr(getattr(self.model, "config", None), "text_config", None)
        if cfg is not None:
            n = min(n, int(cfg.max_position_embeddings))
        return n

    def text_embeddings(self, prompts: List[str]) -> torch.Tensor:
        use_cache = not self._measuring_flops
        todo = [p for p in dict.fromkeys(prompts) if not (use_cache and p in self._text_cache)]
        fresh = {}
        if todo:
            tok = self.tokenizer(todo, padding="max_length", truncation=True, max_length=self._max_len(),
                                 return_tensors="pt")
            ids = tok["input_ids"].to(self.device)
            mask = tok["attention_mask"].to(self.device) if "attention_mask" in tok else None
            if self.device.type == "meta":  # FLOP counting without weights: masks are data-dependent
                mask = None
            emb = features(self.model.get_text_features(input_ids=ids, attention_mask=mask)).float()
            fresh = dict(zip(todo, emb))
            if use_cache:
                self._text_cache.update({k: v.detach().to("cpu") if v.device.type != "meta" else v
                                         for k, v in fresh.items()})
        return torch.stack([fresh[p] if p in fresh else self._text_cache[p].to(self.device) for p in prompts])

    def _score(self, images, prompts, mid_images):
        img = self.image_embeddings(images)
        txt = self.text_embeddings(prompts).to(img.device)
        cos = F.cosine_similarity(img, txt, dim=-1)
        self.last_cosine = cos.detach().cpu() if cos.device.type != "meta" else cos
        return self.weight * (cos.clamp(min=0) if self.clamp else cos)


class _OpenCLIPAdapter(torch.nn.Module):
    """Gives an OpenCLIP model the two methods CLIPScore calls."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def get_image_features(self, pixel_values):
        return self.inner.encode_image(pixel_values)

    def get_text_features(self, input_ids, attention_mask=None):
        return self.inner.encode_text(input_ids)


class _OpenCLIPTokenizer:
    model_max_length = 77

    def __init__(self, tok):
        self.tok = tok

    def __call__(self, texts, **kw):
        return {"input_ids": self.tok(texts)}
