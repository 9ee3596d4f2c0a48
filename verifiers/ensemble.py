"""Ensemble of verifiers by average rank (Ma et al. 2025, §"Verifier ensemble").

Each member scores the batch; within each member the images are ranked 1 (worst) .. B (best);
the ensemble score is the (weighted) mean rank across members, so higher is better and members
with different scales mix fairly.

Ties: tied scores share the mean of the ranks they span ("fractional"/average ranking, as
``scipy.stats.rankdata(method='average')``): scores [3, 1, 3] → ranks [2.5, 1, 2.5]. Non-finite
scores (NaN) rank lowest.

Ranks are relative to the images of one call (``batch_relative = True``): scoring one image at a
time gives every image rank 1. A search that scores candidates in several calls should rank them
together at the end: every call appends each member's raw scores to ``history`` (cleared by
:meth:`reset_history`), and :meth:`history_scores` returns the ensemble score of every image
scored since, ranked over all of them (in call order). :meth:`combine` does the same for any
``{member: scores}`` dict.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch

from .base import Verifier


def average_ranks(scores: torch.Tensor) -> torch.Tensor:
    """1-based ranks, ascending (best = B), ties share their mean rank, NaN ranks lowest."""
    s = scores.detach().float().reshape(-1).cpu()
    s = torch.where(torch.isnan(s), torch.full_like(s, float("-inf")), s)
    n = s.numel()
    order = torch.argsort(s, stable=True)
    ranks = torch.empty(n, dtype=torch.float64)
    sorted_s = s[order]
    i = 0
    while i < n:
        j = i
        while j + 1 < n and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks.float()


class Ensemble(Verifier):
    batch_relative = True

    def __init__(self, members: Sequence[Verifier], weights: Optional[Sequence[float]] = None,
                 name: Optional[str] = None):
        members = [m for m in members if m is not None]
        if not members:
            raise ValueError("ensemble needs at least one verifier")
        if weights is None:
            weights = [1.0] * len(members)
        weights = [float(w) for w in weights]
        if len(weights) != len(members):
            raise ValueError(f"ensemble: {len(weights)} weights for {len(members)} verifiers")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"ensemble weights must be ≥ 0 with a positive sum, got {weights}")
        self.members = list(members)
        self.weights = weights
        self.uses_prompt = any(m.uses_prompt for m in members)
        self.needs_mid_x0 = any(m.needs_mid_x0 for m in members)
        self.name = name or "ensemble(" + ", ".join(m.name for m in members) + ")"
        self.keys = self._unique_keys()
        self.last_member_scores: Dict[str, torch.Tensor] = {}
        self.last_member_ranks: Dict[str, torch.Tensor] = {}
        self.history: List[Dict[str, torch.Tensor]] = []

    def reset_history(self) -> None:
        self.history = []

    def history_member_scores(self) -> Dict[str, torch.Tensor]:
        """Each member's raw scores of every image scored since :meth:`reset_history`, in order."""
        if not self.history:
            return {k: torch.zeros(0) for k in self.keys}
        return {k: torch.cat([h[k] for h in self.history]) for k in self.keys}

    def history_scores(self) -> torch.Tensor:
        """Ensemble scores of every image scored since :meth:`reset_history`, ranked jointly."""
        hist = self.history_member_scores()
        if next(iter(hist.values())).numel() == 0:
            return torch.zeros(0)
        return self.combine(hist).float()

    def _unique_keys(self) -> List[str]:
        keys, seen = [], {}
        for m in self.members:
            k = m.name
            if k in seen:
                seen[k] += 1
                k = f"{k}#{seen[k]}"
            else:
                seen[k] = 0
            keys.append(k)
        return keys

    def modules(self):
        mods = []
        for m in self.members:
            for mod in m.modules():
                if all(mod is not x for x in mods):
                    mods.append(mod)
        return mods

    def member_scores(self, images, prompts=None, mid_images=None) -> Dict[str, torch.Tensor]:
        """Each member's raw scores (float32 [B], CPU), keyed by member name."""
        return {k: m.score(images, prompts, mid_images if m.needs_mid_x0 else None)
                for k, m in zip(self.keys, self.members)}

    def combine(self, member_scores: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted mean of per-member average ranks over all rows given."""
        total = sum(w for w in self.weights)
        out = None
        self.last_member_ranks = {}
        for k, w in zip(self.keys, self.weights):
            r = average_ranks(member_scores[k])
            self.last_member_ranks[k] = r
            out = r * (w / total) if out is None else out + r * (w / total)
        return out

    def score(self, images, prompts=None, mid_images=None):
        from .base import check_images
        check_images(images)
        if self.needs_mid_x0 and mid_images is None:
            raise ValueError(f"verifier {self.name!r} needs the mid-trajectory x0 images (mid_images)")
        self.last_member_scores = self.member_scores(images, prompts, mid_images)
        self.history.append(self.last_member_scores)
        return self.combine(self.last_member_scores).float()

    def _score(self, images, prompts, mid_images):  # used by flops measurement only
        return self.combine({k: m._score(images, prompts, mid_images) for k, m in zip(self.keys, self.members)})

    def flops_per_image(self, height, width):
        return float(sum(m.flops_per_image(height, width) for m in self.members))

    def score_details(self) -> dict:
        """The latest call's member scores and ranks as plain lists (for reports / JSON)."""
        return {k: {"weight": w, "scores": self.last_member_scores.get(k, torch.empty(0)).tolist(),
                    "ranks": self.last_member_ranks.get(k, torch.empty(0)).tolist()}
                for k, w in zip(self.keys, self.weights)}

    def describe(self):
        d = super().describe()
        d["members"] = [m.describe() for m in self.members]
        d["weights"] = list(self.weights)
        return d


class WithPrompt(Verifier):
    """A verifier with its prompt fixed (so ensemble members can each keep their own prompt);
    the prompt passed at scoring time is ignored."""

    uses_prompt = False

    def __init__(self, inner: Verifier, prompt: str = ""):
        self.inner = inner
        self.prompt = prompt or ""
        self.name = inner.name
        self.needs_mid_x0 = inner.needs_mid_x0
        self.input_size = inner.input_size
        self.batch_relative = inner.batch_relative

    def modules(self):
        return self.inner.modules()

    def score(self, images, prompts=None, mid_images=None):
        return self.inner.score(images, self.prompt, mid_images)

    def _score(self, images, prompts, mid_images):
        return self.inner._score(images, [self.prompt] * images.shape[0], mid_images)

    def flops_per_image(self, height, width):
        return self.inner.flops_per_image(height, width)

    def describe(self):
        d = self.inner.describe()
        if self.inner.uses_prompt:
            d["prompt"] = self.prompt
        return d
