r"""Zero-order search (Ma et al. 2025, sec. 3.2): local search in noise space around a pivot.

Algorithm
    1. The first pivot is the stock noise of ``seed`` (what a plain KSampler draws), denoised and
       scored.
    2. Each iteration k = 1..K draws ``n_neighbors`` neighbours of the pivot, denoises and scores
       them. If the best neighbour scores strictly higher than the pivot it becomes the pivot;
       otherwise the search *restarts*: iteration k+1 starts from a fresh pivot, the stock noise of
       ``derive_seed(seed, k+1, 0)`` (scored in the same batch as its neighbours). Restarts are
       listed in ``recipe["restarts"]``.
    3. It stops after K iterations or when the budget cannot pay for another trajectory; the
       winner is the best-scoring candidate seen (pivots included), over all restarts.

Neighbourhood (exact definition)
    neighbour_j = sqrt(1 - lam^2) * pivot + lam * z_j,
    z_j = seeded_noise(derive_seed(seed, k, j)),  j = 1..n_neighbors,  0 <= lam <= 1.
    - If the pivot is a standard Gaussian, every neighbour is *exactly* a standard Gaussian too
      (variance preserving), so neighbours have the norms of fresh noise in distribution; for a
      selected, atypical pivot the neighbour's squared norm is pulled towards that of fresh noise
      (E|y|^2 = (1 - lam^2)|p|^2 + lam^2 D).
    - Distance: |y - p|^2 / D has expectation 2 (1 - sqrt(1 - lam^2)) for a Gaussian pivot, i.e.
      a per-element RMS distance of ~lam for small lam (0.5 -> 0.52, 1.0 -> 1.41). ``lam = 0``
      makes every neighbour equal to the pivot; ``lam = 1`` makes them fresh noise (random search
      with restarts).
    Stochastic solvers get a neighbour's draw seed as its row seed, a fresh pivot its stock seed.

Budget: NFE, each candidate costs one trajectory ``T = den.cost(0, last)``; with a budget the
search evaluates at most ``budget // T`` candidates (the last iteration may get fewer neighbours).
``planned_nfe`` is an upper bound (K iterations each paying a fresh pivot).

Reproduction: ``recipe["winner"]`` holds the winner's pivot seed and the draw seeds of every step
from it; :func:`reconstruct_noise` rebuilds ``best_noise`` from them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from ._common import check_budget, sample_full, trajectory_nfe
from .batching import Batcher
from .noise import derive_seed, noise_batch
from .protocol import Denoiser
from .result import Candidate, Progress, SearchResult


def neighbor_noise(pivot: torch.Tensor, fresh: torch.Tensor, lam: float) -> torch.Tensor:
    """The neighbourhood map: ``sqrt(1 - lam^2) * pivot + lam * fresh`` (see module docstring)."""
    lam = float(lam)
    return (1.0 - lam * lam) ** 0.5 * pivot + lam * fresh


def reconstruct_noise(latent_shape: Sequence[int], pivot_seed: int, draws: Sequence[int], lam: float) -> torch.Tensor:
    """Rebuild a zero-order candidate's noise from its pivot seed and its chain of draw seeds."""
    x = noise_batch(latent_shape, [int(pivot_seed)])
    for d in draws:
        x = neighbor_noise(x, noise_batch(latent_shape, [int(d)]), lam)
    return x


@dataclass
class ZeroOrderSearch:
    n_neighbors: int = 4
    lam: float = 0.5
    iterations: int = 8

    name = "zero_order"

    def validate(self, den: Denoiser, budget: Optional[int] = None) -> None:
        if int(self.n_neighbors) < 1:
            raise ValueError(f"zero-order search: n_neighbors (N) must be >= 1, got {self.n_neighbors}")
        lam = float(self.lam)
        if not lam >= 0.0:  # also catches NaN
            raise ValueError(f"zero-order search: lam (λ) must be >= 0, got {self.lam}")
        if lam > 1.0:
            raise ValueError(f"zero-order search: lam (λ) must be <= 1 (1 = fresh noise), got {self.lam}")
        if int(self.iterations) < 1:
            raise ValueError(f"zero-order search: iterations (K) must be >= 1, got {self.iterations}")
        check_budget(den, budget, "zero-order search")

    def planned_nfe(self, den: Denoiser, budget: Optional[int] = None) -> int:
        """Upper bound on the NFE the search spends (every iteration paying a fresh pivot)."""
        one = trajectory_nfe(den)
        rows = int(self.iterations) * (int(self.n_neighbors) + 1)
        if budget is not None:
            rows = min(rows, int(budget) // one)
        return rows * one

    def run(self, den: Denoiser, seed: int, max_batch: int = 4, budget: Optional[int] = None,
            progress: Progress = None) -> SearchResult:
        self.validate(den, budget)
        seed = int(seed)
        n_nb, lam, iters = int(self.n_neighbors), float(self.lam), int(self.iterations)
        one = trajectory_nfe(den)
        shape = list(den.latent_shape)
        batcher = Batcher(max_batch)
        nfe0, vc0 = den.nfe, den.verifier_calls
        rows_left = None if budget is None else int(budget) // one
        shown_budget = budget if budget is not None else self.planned_nfe(den)

        candidates: List[Candidate] = []
        finals: List[torch.Tensor] = []
        lineage: List[tuple] = []      # per candidate: (pivot_seed, draws tuple)
        noises: List[torch.Tensor] = []
        row_seeds: List[int] = []
        pivot = None                   # dict(noise, score, cand, lineage)
        restarts: List[int] = []
        pivots: List[dict] = []
        best_i, best = -1, -float("inf")
        done_iters = 0

        for k in range(1, iters + 1):
            fresh = pivot is None
            if rows_left is not None and rows_left < 1:
                break
            batch_noise, batch_seeds, batch_lin, roles = [], [], [], []
            if fresh:
                ps = seed if k == 1 else derive_seed(seed, k, 0)
                pnoise = noise_batch(shape, [ps])
                batch_noise.append(pnoise)
                batch_seeds.append(ps)
                batch_lin.append((ps, ()))
                roles.append("pivot")
                pivots.append({"iteration": k, "seed": ps})
                centre, centre_lin = pnoise, (ps, ())
            else:
                centre, centre_lin = pivot["noise"], pivot["lineage"]
            n_here = n_nb if rows_left is None else min(n_nb, rows_left - len(batch_noise))
            for j in range(1, n_here + 1):
                ds = derive_seed(seed, k, j)
                batch_noise.append(neighbor_noise(centre, noise_batch(shape, [ds]), lam))
                batch_seeds.append(ds)
                batch_lin.append((centre_lin[0], centre_lin[1] + (ds,)))
                roles.append("neighbor")
            done_iters = k
            centre_cand = None if fresh else pivot["cand"]
            noise_t = torch.cat(batch_noise)
            scores: List[float] = []
            i = 0
            while i < len(batch_seeds):  # chunk by chunk, so progress happens per model batch
                size = batcher.limit
                chunk_seeds = batch_seeds[i:i + size]
                x, mid = sample_full(den, batcher, noise_t[i:i + size], chunk_seeds)
                s = den.score(x, mid)
                for r in range(len(chunk_seeds)):
                    idx = len(candidates)
                    role = roles[i + r]
                    c = Candidate(index=idx, score=float(s[r]),
                                  nfe=den.nfe - nfe0 - (len(chunk_seeds) - 1 - r) * one,
                                  seed=batch_seeds[i + r] if role == "pivot" else None,
                                  stage=f"zo-iter{k}", parent=centre_cand if role == "neighbor" else None,
                                  info={"iteration": k, "role": role, "draw_seed": batch_seeds[i + r]})
                    candidates.append(c)
                    finals.append(x[r:r + 1])
                    lineage.append(batch_lin[i + r])
                    noises.append(noise_t[i + r:i + r + 1])
                    row_seeds.append(batch_seeds[i + r])
                    scores.append(c.score)
                    if c.score > best:
                        best, best_i = c.score, idx
                    if fresh and role == "pivot":
                        pivot = {"noise": noise_t[i + r:i + r + 1], "score": c.score, "cand": idx,
                                 "lineage": batch_lin[i + r]}
                        centre_cand = idx
                    if progress:
                        progress(c.event(best, shown_budget))
                i += len(chunk_seeds)
            if rows_left is not None:
                rows_left -= len(batch_seeds)
            first_nb = len(candidates) - n_here
            if n_here > 0:
                nb_scores = scores[len(scores) - n_here:]
                j_best = max(range(n_here), key=lambda j: (nb_scores[j], -j))  # first maximum
                if nb_scores[j_best] > pivot["score"]:
                    ci = first_nb + j_best
                    pivot = {"noise": noises[ci], "score": nb_scores[j_best], "cand": ci, "lineage": lineage[ci]}
                else:
                    restarts.append(k)
                    pivot = None

        win_lin = lineage[best_i]
        return SearchResult(
            algorithm=self.name, best_latent=finals[best_i], best_score=best,
            best_noise=noises[best_i], best_seed=win_lin[0] if not win_lin[1] else None,
            candidates=candidates, nfe=den.nfe - nfe0, verifier_calls=den.verifier_calls - vc0,
            finals=torch.cat(finals), final_candidates=list(range(len(candidates))),
            recipe={"algorithm": self.name, "seed": seed, "n_neighbors": n_nb, "lam": lam,
                    "iterations": iters, "iterations_run": done_iters,
                    "neighbor": "sqrt(1-lam^2)*pivot + lam*seeded_noise(derive_seed(seed, k, j))",
                    "pivots": pivots, "restarts": restarts,
                    "winner": {"candidate": best_i, "pivot_seed": win_lin[0], "draws": list(win_lin[1]),
                               "row_seed": row_seeds[best_i]}},
        )
