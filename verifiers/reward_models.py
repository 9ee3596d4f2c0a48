"""Human-preference reward models on CLIP backbones: PickScore and HPSv2.1.

- **PickScore** (Kirstain et al. 2023, ``yuvalkirstain/PickScore_v1``): a transformers ``CLIPModel``
  (ViT-H/14) in its ``save_pretrained`` layout. Score = ``logit_scale.exp()`` · cos(image, prompt),
  as the official example computes it. The PickScore repo has no tokenizer: it comes from the
  model folder when present, else from ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` (the official
  processor).
- **HPSv2.1** (Wu et al. 2023, ``xswu/HPSv2:HPS_v2.1_compressed.pt``): an OpenCLIP ViT-H-14 whose
  weights are the HPS checkpoint in its official layout (``{'state_dict': {visual.*, transformer.*,
  token_embedding.*, ..., logit_scale}}``). Score = cos(image, prompt), as HPSv2's ``score()``
  returns it (about 0.2-0.35). Needs ``open_clip_torch``; its tokenizer ships with the package.

Both loaders load strictly: a missing or unexpected key is an error naming the keys.
"""
from __future__ import annotations

import os
from typing import Iterable, Optional, Union

import torch

from .clip import CLIPScore, clip_preprocess_for
from .loading import find_file, load_state_dict, resolve
from .preprocess import CLIP_MEAN, CLIP_STD, Preprocess

DEFAULT_PICKSCORE = "yuvalkirstain/PickScore_v1"
PICKSCORE_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
DEFAULT_HPS = "xswu/HPSv2:HPS_v2.1_compressed.pt"
HPS_ARCH = "ViT-H-14"
_IGNORED = ("position_ids",)  # buffers some transformers versions save and others do not


class KeyLayoutError(KeyError):
    """A checkpoint whose keys do not match the model; the message names them."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def check_keys(what: str, path: str, missing, unexpected, limit: int = 12):
    missing = [k for k in missing if not k.endswith(_IGNORED)]
    unexpected = [k for k in unexpected if not k.endswith(_IGNORED)]
    if missing or unexpected:
        raise KeyLayoutError(
            f"{what} {path}: not the official key layout; missing keys {missing[:limit]}"
            f"{' ...' if len(missing) > limit else ''}, unexpected keys {unexpected[:limit]}"
            f"{' ...' if len(unexpected) > limit else ''}. Use the official file (see the verifier table "
            "in docs/verifiers.md).")


class PickScore(CLIPScore):
    """PickScore = logit_scale.exp() · cos (no clamp)."""

    @classmethod
    def from_pretrained(cls, spec: str = DEFAULT_PICKSCORE, search_dirs: Iterable[str] = (),
                        dtype: Optional[torch.dtype] = None, tokenizer: Optional[str] = None,
                        allow_download: Optional[bool] = None, **kw) -> "PickScore":
        from transformers import AutoTokenizer, CLIPConfig, CLIPModel
        path = resolve(spec, search_dirs, what="PickScore model", required=("config.json",),
                       allow_download=allow_download)
        model, info = CLIPModel.from_pretrained(path, output_loading_info=True, **({"dtype": dtype} if dtype else {}))
        check_keys("PickScore model", path, info.get("missing_keys", ()), info.get("unexpected_keys", ()))
        model.eval().requires_grad_(False)
        tok_path = tokenizer or (path if find_file(path, ("tokenizer.json", "vocab.json")) else PICKSCORE_PROCESSOR)
        if tok_path != path:
            tok_path = resolve(tok_path, search_dirs, what="PickScore tokenizer", allow_download=allow_download,
                               required=("tokenizer_config.json",), allow_patterns=("*.json", "*.txt"))
        tok = AutoTokenizer.from_pretrained(tok_path)
        pre = clip_preprocess_for(path, CLIPConfig.from_pretrained(path).vision_config.image_size)
        return cls(model, tok, pre, weight=1.0, clamp=False, name=kw.pop("name", "pickscore"), **kw)

    def _score(self, images, prompts, mid_images):
        self.weight = float(self.model.logit_scale.detach().float().exp())
        return super()._score(images, prompts, mid_images)


class HPSv2(CLIPScore):
    """HPSv2.1 = cos(image, prompt) with the HPS-tuned OpenCLIP ViT-H-14."""

    @classmethod
    def from_checkpoint(cls, spec: str = DEFAULT_HPS, search_dirs: Iterable[str] = (),
                        arch: Union[str, dict] = HPS_ARCH, allow_download: Optional[bool] = None,
                        **kw) -> "HPSv2":
        """``arch``: an OpenCLIP model name, or a config dict (``embed_dim``, ``vision_cfg``,
        ``text_cfg``) for other sizes of the same architecture."""
        try:
            import open_clip
        except ImportError as e:
            raise ImportError("HPSv2 needs open_clip_torch (pip install open_clip_torch)") from e
        path = resolve(spec, search_dirs, what="HPSv2 checkpoint", allow_download=allow_download,
                       default_filename="HPS_v2.1_compressed.pt")
        if os.path.isdir(path):
            path = find_file(path, ("HPS_v2.1_compressed.pt", "HPS_v2_compressed.pt"), (".pt", ".safetensors")) or path
        model = build_open_clip(arch)
        sd = load_state_dict(path)
        if sd and all(k.startswith("module.") for k in sd):
            sd = {k[len("module."):]: v for k, v in sd.items()}
        res = model.load_state_dict(sd, strict=False)
        check_keys("HPSv2 checkpoint", path, res.missing_keys, res.unexpected_keys)
        model.eval().requires_grad_(False)
        name = arch if isinstance(arch, str) else "ViT-H-14"
        tok = open_clip.get_tokenizer(name)
        size = model.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else int(size)
        from .clip import _OpenCLIPAdapter, _OpenCLIPTokenizer
        # HPSv2's scorer sees the whole image: longest side to the input size, the rest padded black
        pre = Preprocess(crop=(size, size), resize=size, mean=CLIP_MEAN, std=CLIP_STD, longest=True)
        return cls(_OpenCLIPAdapter(model), _OpenCLIPTokenizer(tok), pre, weight=1.0, clamp=False,
                   name=kw.pop("name", "hpsv2.1"), backend="open_clip", **kw)


def build_open_clip(arch: Union[str, dict]):
    """An OpenCLIP CLIP of ``arch`` (a model name or a config dict) with random weights; nothing
    is downloaded."""
    import open_clip
    if isinstance(arch, dict):
        return open_clip.CLIP(**arch)
    return open_clip.create_model(arch, pretrained=None)
