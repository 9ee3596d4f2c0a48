"""Scoring inside a search: decode latents with the VAE, score the images with a verifier, and
compare them the way ``search.decide`` asks (rank ensembles return member-score vectors and rank
each decision set jointly). Also the JSON helper that keeps reports free of NaN."""
from __future__ import annotations

import hashlib
import logging
import math
import os
from typing import Any, Dict, List, Optional

import torch

from . import verifier_runtime
from ..verifiers.ensemble import Ensemble

log = logging.getLogger("noise_search")


def finite_json(obj):
    """``obj`` with non-finite floats as None: JSON has no NaN/Infinity (browsers reject them)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def latent_key(row: torch.Tensor) -> bytes:
    return hashlib.sha1(row.detach().contiguous().cpu().numpy().tobytes()).digest()


class DecodeCache:
    """Decoded images (float32, CPU) of latents scored during the search, so the finished samples
    are not decoded twice. Rows the search releases (intermediate x0 predictions, dropped
    candidates) leave the cache at once. ``NOISE_SEARCH_KEEP_DECODED=1`` keeps every image (the
    old behaviour; bench/memory.py measures the difference)."""

    def __init__(self):
        self.images: Dict[bytes, torch.Tensor] = {}
        self.keep_all = os.environ.get("NOISE_SEARCH_KEEP_DECODED", "") == "1"

    def release(self, latents: torch.Tensor) -> None:
        if self.keep_all:
            return
        for r in range(latents.shape[0]):
            self.images.pop(latent_key(latents[r]), None)


class Scorer:
    """Decodes latents with the VAE (one at a time, cached per latent until released) and scores
    them with a verifier, one image per call, so a score never depends on which candidates shared
    a batch. A rank ensemble's score is the vector of its members' raw scores; :meth:`rank` ranks
    one decision set of them jointly."""

    def __init__(self, vae, bound, max_batch: int):
        self.vae, self.bound, self.max_batch = vae, bound, max(1, int(max_batch))
        self.cache = DecodeCache()

    @property
    def rank_based(self) -> bool:
        return verifier_runtime.is_batch_relative(self.bound)

    @property
    def member_keys(self) -> List[str]:
        return list(self.bound.verifier.keys) if self.rank_based else []

    def decode(self, latents: torch.Tensor, cache=True) -> torch.Tensor:
        """IMAGE [B, H, W, C] of ``latents``; ``cache``: False to neither read nor fill the cache."""
        use = cache is not False and cache is not None
        out = []
        for r in range(latents.shape[0]):
            key = latent_key(latents[r]) if use else None
            img = self.cache.images.get(key) if use else None
            if img is None:
                img = self._decode_one(latents[r:r + 1])
                if use:
                    self.cache.images[key] = img
            out.append(img)
        return torch.stack(out)

    def _decode_one(self, latent: torch.Tensor) -> torch.Tensor:
        # one latent per decode: convolution kernels may change with batch size
        imgs = self.vae.decode(latent)
        if imgs.ndim == 5:  # video-style VAEs: [B, T, H, W, C]
            imgs = imgs.reshape(-1, *imgs.shape[-3:])
        return imgs[0].float().cpu()

    def release(self, latents: torch.Tensor) -> None:
        self.cache.release(latents)

    def __call__(self, images, mid_images=None) -> torch.Tensor:
        out = [self._score_one(images[r:r + 1], None if mid_images is None else mid_images[r:r + 1])
               for r in range(images.shape[0])]
        scores = torch.cat(out)
        bad = ~torch.isfinite(scores)
        if bad.any():  # search.decide ranks them lowest; say so once per call
            log.warning("noise search: verifier %s gave %d non-finite score(s); they rank lowest",
                        self.bound.verifier.name, int(bad.sum()))
        return scores

    def _score_one(self, image, mid) -> torch.Tensor:
        if not self.rank_based:
            return verifier_runtime.score_images(self.bound, image, mid)
        ens: Ensemble = self.bound.verifier
        verifier_runtime.prepare(self.bound, 1, reset=False)
        verifier_runtime._check_interrupt()
        m = ens.member_scores(image, self.bound.prompt, mid)
        return torch.stack([m[k].float().reshape(-1) for k in ens.keys], dim=1)  # [1, K]

    def rank(self, scores: torch.Tensor) -> torch.Tensor:
        """Joint values of one decision set of member-score vectors [N, K]: the ensemble's weighted
        mean of average ranks within the set (non-finite member scores rank lowest)."""
        ens: Ensemble = self.bound.verifier
        s = torch.as_tensor(scores, dtype=torch.float64)
        s = torch.where(torch.isfinite(s), s, torch.full_like(s, -float("inf")))
        return ens.combine({k: s[:, i] for i, k in enumerate(ens.keys)}).double()


def ensemble_report(report: Dict[str, Any], result, scorer: Scorer) -> None:
    """For rank ensembles: name the members in each candidate's entry, give every final its joint
    rank among the finals, and say how the winner was chosen."""
    if not scorer.rank_based:
        return
    keys = scorer.member_keys
    for c in report["candidates"]:
        if isinstance(c.get("members"), list):
            c["members"] = dict(zip(keys, c["members"]))
    joint = dict(zip(result.final_candidates, result.final_scores))
    for c in report["candidates"]:
        if c["index"] in joint:
            c["joint_rank"] = joint[c["index"]]
    report["selection"] = ("rank ensemble: every decision ranks its own candidates jointly (a pivot with its "
                           "neighbours, a hop's copies); the winner is the finished sample with the best joint "
                           "average rank among the finished samples")
