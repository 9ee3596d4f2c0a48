"""Tiny random-weight PickScore and HPSv2.1 files in their official layouts.

- PickScore: a transformers ``CLIPModel`` folder (``save_pretrained``), as ``yuvalkirstain/PickScore_v1``;
- HPSv2.1: ``HPS_v2.1_compressed.pt`` = ``{'state_dict': <OpenCLIP CLIP state dict>}`` for a tiny
  config of the ViT-H-14 architecture (same module tree, GELU, class-token pooling).
"""
from __future__ import annotations

import os

import torch

from tests.tiny_models import make_clip_dir, seed_init

TINY_HPS_ARCH = dict(embed_dim=16,
                     vision_cfg=dict(image_size=32, layers=2, width=32, head_width=16, patch_size=8),
                     text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))


def make_pickscore_dir(path: str, seed: int = 0) -> str:
    make_clip_dir(path, seed=seed)
    return path


def hps_state_dict(seed: int = 0):
    from verifiers.reward_models import build_open_clip
    torch.manual_seed(seed)
    model = seed_init(build_open_clip(TINY_HPS_ARCH), seed, std=0.2)
    with torch.no_grad():
        model.logit_scale.fill_(4.6052)
    return model.state_dict()


def make_hps_file(folder: str, seed: int = 0, name: str = "HPS_v2.1_compressed.pt") -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    torch.save({"state_dict": hps_state_dict(seed)}, path)
    return path
