"""Random search (best-of-N): N fresh noises, each denoised in full and scored; keep the best.

Candidate i starts from the noise a stock sampler draws for seed ``seed + i``, so the reported
best seed reproduces the winner in a plain KSampler.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .batching import Batcher
from .decide import Decision, first_best, raw_info
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
        finals, candidates = [], []
        dec = Decision(den)  # one decision: every candidate against every other
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
            s = dec.add(den.score(x, mid))
            vals = dec.values()
            for k, sd in enumerate(chunk):
                c = Candidate(index=i + k, score=vals[i + k], nfe=den.nfe - nfe0 - (len(chunk) - 1 - k) * one,
                              seed=sd, info=raw_info(s, k))
                best = max(best, c.score)
                candidates.append(c)
                if progress:
                    progress(c.event(best, budget if budget is not None else n * one))
            finals.append(x)
            i += len(chunk)
        finals_t = torch.cat(finals)
        vals = dec.values()
        for c, v in zip(candidates, vals):
            c.score = v
        b = first_best(vals)  # non-finite scores rank lowest; first maximum on ties
        return SearchResult(
            algorithm=self.name, best_latent=finals_t[b:b + 1], best_score=vals[b],
            best_noise=noise_batch(den.latent_shape, [seeds[b]]), best_seed=seeds[b],
            candidates=candidates, nfe=den.nfe - nfe0, verifier_calls=den.verifier_calls - vc0,
            finals=finals_t, final_candidates=list(range(n)), final_scores=list(vals),
            recipe={"algorithm": self.name, "seed": int(seed), "n": n, "seeds": seeds},
        )
