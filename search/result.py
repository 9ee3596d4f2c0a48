"""What a search returns: every candidate it scored, the winner, and how to reproduce it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch

#: progress callback: receives one event dict per scored candidate (see ``Candidate.event``)
Progress = Optional[Callable[[Dict[str, Any]], None]]


@dataclass
class Candidate:
    index: int                 # order in which it was scored
    score: float
    nfe: int                   # cumulative NFE spent by the search when this score was known
    seed: Optional[int] = None  # the seed that reproduces its initial noise (random search)
    stage: str = "final"       # "final" (scored on a finished sample) or e.g. "path@12", "zo-iter3"
    parent: Optional[int] = None
    info: Dict[str, Any] = field(default_factory=dict)

    @property
    def intermediate(self) -> bool:
        """Scored on an x0 prediction part-way down the schedule (stage "<kind>@<index>"), not on a
        finished sample: no image with that score exists at the end."""
        return "@" in self.stage

    def event(self, best_score: float, budget: Optional[int]) -> Dict[str, Any]:
        return {"index": self.index, "score": self.score, "best": best_score, "nfe": self.nfe,
                "budget": budget, "seed": self.seed, "stage": self.stage, "intermediate": self.intermediate}


class BestSoFar:
    """The live "best" of a search's progress events: the best score of a *finished* sample (-inf
    until one is finished), with the best intermediate (x0-prediction) score beside it as what it
    is, so the feed never shows a best that no finished image has."""

    def __init__(self):
        self.final = -math.inf
        self.intermediate = -math.inf

    def event(self, c: Candidate, budget: Optional[int]) -> Dict[str, Any]:
        if c.intermediate:
            self.intermediate = max(self.intermediate, c.score)
        else:
            self.final = max(self.final, c.score)
        return {**c.event(self.final, budget), "best_intermediate": self.intermediate}


@dataclass
class SearchResult:
    algorithm: str
    best_latent: torch.Tensor           # [1, *latent_shape], state at the end of the schedule
    best_score: float
    best_noise: torch.Tensor            # [1, *latent_shape], the winner's initial unit noise
    best_seed: Optional[int]            # seed whose stock noise is best_noise, when there is one
    candidates: List[Candidate]
    nfe: int                            # denoiser evaluations spent, all latents counted
    verifier_calls: int
    finals: Optional[torch.Tensor] = None       # [K, *latent_shape] finished samples, when kept
    final_candidates: List[int] = field(default_factory=list)  # candidate index of each row of finals
    #: each final's value in the last decision (the winner is the first maximum): the score itself,
    #: or for member-score vectors the joint rank among the finals
    final_scores: List[float] = field(default_factory=list)
    recipe: Dict[str, Any] = field(default_factory=dict)       # settings + draws that reproduce it

    def report(self) -> Dict[str, Any]:
        w = self.recipe.get("winner", {}).get("candidate") if isinstance(self.recipe.get("winner"), dict) else None
        if w is None and self.final_candidates and self.final_scores:
            w = self.final_candidates[max(range(len(self.final_scores)), key=lambda i: (self.final_scores[i], -i))]
        best = self.candidates[w] if w is not None and self.candidates else None
        return {
            "algorithm": self.algorithm,
            "best": {"score": self.best_score, "seed": self.best_seed,
                     "candidate": best.index if best else None},
            "totals": {"nfe": self.nfe, "verifier_calls": self.verifier_calls,
                       "candidates": len(self.candidates)},
            "candidates": [
                {"index": c.index, "seed": c.seed, "score": c.score, "nfe": c.nfe, "stage": c.stage,
                 **({"parent": c.parent} if c.parent is not None else {}), **c.info}
                for c in self.candidates
            ],
            "recipe": self.recipe,
        }
