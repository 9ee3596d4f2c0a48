"""Classifier-logit verifiers: the score is how strongly an image shows a target class.

- :class:`ClassifierLogit`: any ``AutoModelForImageClassification`` (ViT, DINOv2 with an ImageNet
  head, ConvNeXt, ...): score = logit (or log-probability) of the target class, chosen by index or
  by label name (matched case-insensitively against ``config.id2label``, also against each
  comma-separated synonym as ImageNet labels have them: "tabby, tabby cat").
- :class:`CLIPZeroShot`: CLIP zero-shot classification over class names: score = log-softmax of
  ``100 · cos`` over the prompts "a photo of a {name}." at the target class.

Preprocessing follows the folder's ``preprocessor_config.json`` but is done in torch.
"""
from __future__ import annotations

import os
from typing import Iterable, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from .base import Verifier
from .clip import DEFAULT_CLIP, features, load_clip, resolve_clip
from .loading import resolve
from .precision import head_in_fp32
from .preprocess import preprocess_from_config


def find_label(id2label: dict, target: Union[int, str]) -> int:
    n = len(id2label)
    if isinstance(target, int) or (isinstance(target, str) and target.strip().lstrip("-").isdigit()):
        i = int(target)
        if not 0 <= i < n:
            raise ValueError(f"class index {i} out of range: the model has {n} classes (0..{n - 1})")
        return i
    t = str(target).strip().lower()
    labels = {int(k): str(v) for k, v in id2label.items()}
    for i, l in labels.items():
        if l.lower() == t:
            return i
    for i, l in labels.items():
        if t in [s.strip().lower() for s in l.split(",")]:
            return i
    near = [l for l in labels.values() if t in l.lower()][:8]
    raise ValueError(f"class {target!r} is not a label of this model ({n} classes)"
                     + (f"; close: {near}" if near else f"; e.g. {list(labels.values())[:8]}"))


def classification_head(model, num_labels: int) -> Optional[torch.nn.Module]:
    """The layer that makes the logits: ``model.classifier`` (the transformers convention), else the
    last Linear with ``num_labels`` outputs; None when there is neither."""
    head = getattr(model, "classifier", None)
    if isinstance(head, torch.nn.Module) and any(True for _ in head.parameters()):
        return head
    lins = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
    return lins[-1] if lins else None


class ClassifierLogit(Verifier):
    def __init__(self, model, target: Union[int, str], preprocess, mode: str = "logit", name: Optional[str] = None):
        if mode not in ("logit", "logprob", "prob"):
            raise ValueError(f"classifier mode {mode!r}: use 'logit', 'logprob' or 'prob'")
        self.model = model
        self.mode = mode
        self.id2label = dict(getattr(model.config, "id2label", {}) or {})
        self.target = find_label(self.id2label or {i: str(i) for i in range(model.config.num_labels)}, target)
        self.preprocess = preprocess
        self.input_size = preprocess.input_size
        label = self.id2label.get(self.target, str(self.target))
        self.name = name or f"classifier({label})"
        head = classification_head(model, model.config.num_labels)
        if head is not None:  # logits in fp32 even when the backbone runs in half precision
            head_in_fp32(head)

    @classmethod
    def from_pretrained(cls, spec: str, target: Union[int, str], search_dirs: Iterable[str] = (),
                        mode: str = "logit", dtype: Optional[torch.dtype] = None, **kw) -> "ClassifierLogit":
        from transformers import AutoConfig, AutoModelForImageClassification
        path = resolve(spec, list(search_dirs), what="image classifier", required=("config.json",))
        cfg = AutoConfig.from_pretrained(path)
        model = AutoModelForImageClassification.from_pretrained(path, **({"dtype": dtype} if dtype else {}))
        model.eval().requires_grad_(False)
        size = getattr(cfg, "image_size", 224)
        size = size[0] if isinstance(size, (tuple, list)) else int(size)
        return cls(model, target, preprocess_from_config(path, size), mode=mode, **kw)

    def modules(self):
        return [self.model]

    def _score(self, images, prompts, mid_images):
        px = self.preprocess(images, device=self.device, dtype=self.dtype)
        logits = self.model(pixel_values=px).logits.float()
        if self.mode == "logit":
            return logits[:, self.target]
        lp = logits.log_softmax(-1)[:, self.target]
        return lp if self.mode == "logprob" else lp.exp()


class CLIPZeroShot(Verifier):
    def __init__(self, model, tokenizer, preprocess, class_names: Sequence[str], target: Union[int, str],
                 template: str = "a photo of a {}.", name: Optional[str] = None):
        names = [c.strip() for c in class_names if c.strip()]
        if len(names) < 2:
            raise ValueError("CLIP zero-shot needs at least two class names")
        self.model, self.tokenizer, self.preprocess = model, tokenizer, preprocess
        self.class_names = names
        self.target = find_label(dict(enumerate(names)), target)
        self.template = template
        self.input_size = preprocess.input_size
        self.name = name or f"clip_zeroshot({names[self.target]})"
        self._text = None

    @classmethod
    def from_pretrained(cls, class_names: Sequence[str], target: Union[int, str], spec: str = DEFAULT_CLIP,
                        search_dirs: Iterable[str] = (), dtype=None, **kw) -> "CLIPZeroShot":
        model, tok, pre = load_clip(resolve_clip(spec, search_dirs, what="CLIP zero-shot model"), dtype=dtype)
        return cls(model, tok, pre, class_names, target, **kw)

    def modules(self):
        return [self.model]

    def _score(self, images, prompts, mid_images):
        px = self.preprocess(images, device=self.device, dtype=self.dtype)
        img = F.normalize(features(self.model.get_image_features(pixel_values=px)).float(), dim=-1)
        if self._text is None or self._measuring_flops or self._text.device != img.device:
            tok = self.tokenizer([self.template.format(c) for c in self.class_names], padding=True,
                                 truncation=True, return_tensors="pt")
            t = features(self.model.get_text_features(input_ids=tok["input_ids"].to(self.device),
                                                      attention_mask=tok["attention_mask"].to(self.device)))
            self._text = F.normalize(t.float(), dim=-1)
        logits = 100.0 * img @ self._text.T
        return logits.log_softmax(-1)[:, self.target]
