"""How a search compares candidates: one *decision set* at a time.

A verifier's score (``Denoiser.score``) is either one number per row ([B]) or, for a rank ensemble,
a vector of member scores per row ([B, K]) whose values only mean something relative to the other
rows they are ranked with. Every decision a search makes (the winner of a random search, a zero-order
pivot against its neighbours, a hop's top N in search over paths, the winner among the finished
samples) collects the raw scores of exactly the candidates it decides between in a :class:`Decision`
and ranks them together: scalars as they are, vectors through ``Denoiser.rank`` (the paper's
ensemble: mean over members of average ranks within the set).

Non-finite scores (NaN, ±inf, in a scalar or in any member) rank lowest: they become ``-inf`` before
any comparison, so a NaN never wins an argmax. Ties go to the first candidate.
"""
from __future__ import annotations

from typing import List, Sequence

import torch

NEG_INF = float("-inf")


def clean(scores) -> torch.Tensor:
    """Scores as float64 on the CPU, every non-finite value replaced by ``-inf``."""
    t = torch.as_tensor(scores).detach().to(device="cpu", dtype=torch.float64)
    if t.ndim not in (1, 2):
        raise ValueError(f"verifier scores must be [B] or [B, members], got shape {tuple(t.shape)}")
    return torch.where(torch.isfinite(t), t, torch.full_like(t, NEG_INF))


def first_best(values: Sequence[float]) -> int:
    """Index of the first maximum (values are clean: no NaN)."""
    if not len(values):
        raise ValueError("first_best: no candidates to choose from")
    return max(range(len(values)), key=lambda i: (values[i], -i))


class Decision:
    """The raw scores of one decision set, in the order they were added; :meth:`values` ranks them
    jointly (see module docstring)."""

    def __init__(self, den):
        self.den = den
        self.rows: List[torch.Tensor] = []

    def add(self, scores) -> torch.Tensor:
        """Add a batch of raw scores; returns them cleaned."""
        s = clean(scores)
        self.rows.extend(s.unbind(0))
        return s

    def values(self) -> List[float]:
        """One comparable value per row added so far (higher is better)."""
        if not self.rows:
            return []
        s = torch.stack(self.rows)
        if s.ndim == 1:
            return s.tolist()
        rank = getattr(self.den, "rank", None)
        if rank is None:
            raise TypeError("the verifier returned member-score vectors [B, K], but the denoiser has no "
                            "rank(scores) to compare them")
        return clean(torch.as_tensor(rank(s)).reshape(-1)).tolist()


def raw_info(scores: torch.Tensor, r: int) -> dict:
    """Report entry for row ``r`` of cleaned raw scores: member scores when they are vectors."""
    return {"members": scores[r].tolist()} if scores.ndim == 2 else {}


def release(den, latents: torch.Tensor) -> None:
    """Tell the denoiser that ``latents`` were scored and will not be asked for again (it may drop
    what it cached for them, e.g. decoded images)."""
    fn = getattr(den, "release", None)
    if fn is not None and latents.shape[0]:
        fn(latents)
