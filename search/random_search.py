"""Random search (best-of-N): N fresh noises, each denoised in full and scored; keep the best.

Candidate i starts from the noise a stock sampler draws for seed ``seed + i``, so the reported
best seed reproduces the winner in a plain KSampler.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .batching import Batcher
from .noise import noise_batch
from .protocol import Denoiser
from .result import Candidate, Progress, SearchResult


@dataclass
class RandomSearch:
    n: int = 4

    name = "random"

    def validate(self, den: Denoiser, budget: Optional[int] = None) -> None:
        if int(self.n) < 1:
            raise ValueError(f"random search: candidates (n) must be >= 1, got {self.n}")
        one = den.cost(0, len(den.sigmas) - 1)
        if budget is not None and budget < one:
            raise ValueError(f"budget_nfe: {budget} NFE is smaller than one trajectory ({one} NFE); "
                             f"set budget_nfe to at least {one}, or to 0 for no cap")

    def planned_nfe(self, den: Denoiser, budget: Optional[int] = None) -> int:
        one = den.cost(0, len(den.sigmas) - 1)
        n = self.n if budget is None else min(self.n, budget // one)
        return n * one

    def run(self, den: Denoiser, seed: int, max_batch: int = 4, budget: Optional[int] = None,
            progress: Progress = None) -> SearchResult:
        self.validate(den, budget)
        last = len(den.sigmas) - 1
        one = den.cost(0, last)
        n = self.n if budget is None else min(self.n, budget // one)
        seeds = [int(seed) + i for i in range(n)]
        batcher = Batcher(max_batch)
        nfe0, vc0 = den.nfe, den.verifier_calls
        finals, scores, candidates = [], [], []
        best = -float("inf")
        # chunk by chunk, so progress (and cancel) happen per model batch
        i = 0
        while i < n:
            chunk = seeds[i:i + batcher.limit]
            noise = noise_batch(den.latent_shape, chunk)
            if den.mid_index is not None:
                x, mid = batcher(lambda z, seeds: den.sample(z, last, seeds, x0_at=den.mid_index), noise, seeds=chunk)
            else:
                x, mid = batcher(lambda z, seeds: den.sample(z, last, seeds), noise, seeds=chunk), None
            s = den.score(x, mid)
            for k, sd in enumerate(chunk):
                c = Candidate(index=i + k, score=float(s[k]), nfe=den.nfe - nfe0 - (len(chunk) - 1 - k) * one, seed=sd)
                best = max(best, c.score)
                candidates.append(c)
                if progress:
                    progress(c.event(best, budget if budget is not None else n * one))
            finals.append(x)
            scores.append(s)
            i += len(chunk)
        finals_t = torch.cat(finals)
        scores_t = torch.cat(scores)
        b = int(torch.argmax(scores_t))  # first maximum on ties
        return SearchResult(
            algorithm=self.name, best_latent=finals_t[b:b + 1], best_score=float(scores_t[b]),
            best_noise=noise_batch(den.latent_shape, [seeds[b]]), best_seed=seeds[b],
            candidates=candidates, nfe=den.nfe - nfe0, verifier_calls=den.verifier_calls - vc0,
            finals=finals_t, final_candidates=list(range(n)),
            recipe={"algorithm": self.name, "seed": int(seed), "n": n, "seeds": seeds},
        )
