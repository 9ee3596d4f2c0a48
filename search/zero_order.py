r"""Zero-order search (Ma et al. 2025, sec. 3.2): local search in noise space around a pivot.

Algorithm
    1. The first pivot is the stock noise of ``seed`` (what a plain KSampler draws), denoised and
       scored.
    2. Each iteration k = 1..K draws ``n_neighbors`` neighbours of the pivot, denoises and scores
       them. The pivot and its neighbours are one decision set (``search.decide``; a rank
       ensemble ranks them together). If the best neighbour ranks strictly higher than the pivot
       it becomes the pivot;
       otherwise the search *restarts*: iteration k+1 starts from a fresh pivot, the stock noise of
       ``derive_seed(seed, k+1, 0)`` (scored in the same batch as its neighbours). Restarts are
       listed in ``recipe["restarts"]``.
    3. It stops after K iterations or when the budget cannot pay for another trajectory; the
       winner is the best of every pivot the search had (the best-scoring candidate seen is always
       one of them), ranked as one decision set. Only pivots are kept (``finals``); the other
       candidates are released (``den.release``) once their iteration is decided.

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
    - lam is not a distance: the per-element RMS distance is sqrt(2 (1 - sqrt(1 - lam^2))) and the
      cosine between pivot and neighbour is sqrt(1 - lam^2) (in expectation, large D):
      lam 0.1 -> RMS 0.10, cos 0.995;  0.31 -> 0.31, 0.95;  0.5 -> 0.52, 0.87;  1 -> 1.41, 0.
    Stochastic solvers get ``solver_seed(draw seed)`` as a neighbour's row seed (a stream
    independent of its draw), a fresh pivot its stock seed.

Budget: NFE, each candidate costs one trajectory ``T = den.cost(0, last)``; with a budget the
search evaluates at most ``budget // T`` candidates (the last iteration may get fewer neighbours).
``planned_nfe`` is an upper bound (K iterations each paying a fresh pivot).

Reproduction: ``recipe["winner"]`` holds the winner's pivot seed and the draw seeds of every step
from it; :func:`reconstruct_noise` rebuilds ``best_noise`` from them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from ._common import check_budget, sample_full, solver_seed, trajectory_nfe
from .batching import Batcher
from .decide import Decision, first_best, raw_info, release
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
    #: 0.31: neighbours at cosine 0.95 to the pivot, as the paper's reference neighbour generator
    lam: float = 0.31
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
        batcher = Batcher(max_batch)
        nfe0, vc0 = den.nfe, den.verifier_calls
        rows_left = None if budget is None else int(budget) // one
        st = {"den": den, "batcher": batcher, "one": one, "nfe0": nfe0, "progress": progress,
              "shown": budget if budget is not None else self.planned_nfe(den), "best": -float("inf"),
              "candidates": [], "pivots": []}
        pivot, restarts, fresh_pivots, done_iters = None, [], [], 0
        for k in range(1, iters + 1):
            if rows_left is not None and rows_left < 1:
                break
            batch = []  # (noise, row seed, draw seed, lineage, role)
            if pivot is None:
                ps = seed if k == 1 else derive_seed(seed, k, 0)
                batch.append((noise_batch(list(den.latent_shape), [ps]), ps, ps, (ps, ()), "pivot"))
                fresh_pivots.append({"iteration": k, "seed": ps})
            centre = pivot if pivot is not None else {"noise": batch[0][0], "lineage": batch[0][3]}
            n_here = n_nb if rows_left is None else min(n_nb, rows_left - len(batch))
            for j in range(1, n_here + 1):
                ds = derive_seed(seed, k, j)
                lin = (centre["lineage"][0], centre["lineage"][1] + (ds,))
                batch.append((neighbor_noise(centre["noise"], noise_batch(list(den.latent_shape), [ds]), lam),
                              solver_seed(ds), ds, lin, "neighbor"))
            done_iters = k
            if rows_left is not None:
                rows_left -= len(batch)
            pivot, moved = self._iteration(st, k, pivot, batch)
            if moved is False:  # None: the budget left no neighbour to compare with
                restarts.append(k)
                pivot = None
        return self._result(st, seed, n_nb, lam, iters, done_iters, fresh_pivots, restarts,
                            den.nfe - nfe0, den.verifier_calls - vc0)

    def _iteration(self, st, k, pivot, batch):
        """Score ``batch`` (a fresh pivot first, when there is one, then the neighbours) and decide:
        the pivot and its neighbours are ranked together, as one set. Returns (pivot, moved), moved
        None when there was no neighbour."""
        den, batcher, cands = st["den"], st["batcher"], st["candidates"]
        dec = Decision(den)
        if pivot is not None:
            dec.add(pivot["raw"].unsqueeze(0))
        centre_cand = None if pivot is None else pivot["cand"]
        noise_t = torch.cat([b[0] for b in batch])
        rows, i = [], 0
        while i < len(batch):  # chunk by chunk, so progress happens per model batch
            part = batch[i:i + batcher.limit]
            x, mid = sample_full(den, batcher, noise_t[i:i + len(part)], [b[1] for b in part])
            s = dec.add(den.score(x, mid))
            vals = dec.values()
            for r, (noise, row_seed, ds, lin, role) in enumerate(part):
                c = Candidate(index=len(cands), score=vals[len(dec.rows) - len(part) + r],
                              nfe=den.nfe - st["nfe0"] - (len(part) - 1 - r) * st["one"],
                              seed=ds if role == "pivot" else None, stage=f"zo-iter{k}",
                              parent=centre_cand if role == "neighbor" else None,
                              info={"iteration": k, "role": role, "draw_seed": ds, **raw_info(s, r)})
                cands.append(c)
                if role == "pivot":
                    centre_cand = c.index
                rows.append({"noise": noise, "raw": s[r], "cand": c.index, "lineage": lin, "row_seed": row_seed,
                             "latent": x[r:r + 1]})
                st["best"] = max(st["best"], c.score)
                if st["progress"]:
                    st["progress"](c.event(st["best"], st["shown"]))
            i += len(part)
        vals = dec.values()
        for row, v in zip(rows, vals[len(vals) - len(rows):]):
            cands[row["cand"]].score = v
        if pivot is None:
            pivot = rows.pop(0)
            st["pivots"].append(pivot)
        vals = vals[len(vals) - len(rows) - 1:]  # the pivot, then its neighbours
        moved = None
        if rows:
            moved = False
            j = first_best(vals[1:])
            if vals[1 + j] > vals[0]:  # strictly better than the pivot
                pivot, moved = rows.pop(j), True
                st["pivots"].append(pivot)
        released = [r["latent"] for r in rows]
        if released:
            release(den, torch.cat(released))
        return pivot, moved

    def _result(self, st, seed, n_nb, lam, iters, done_iters, fresh_pivots, restarts, nfe, calls):
        """The winner among every pivot the search had (the best candidate is always one of them)."""
        pivots = st["pivots"]
        dec = Decision(st["den"])
        dec.add(torch.stack([p["raw"] for p in pivots]))
        vals = dec.values()
        b = first_best(vals)
        w = pivots[b]
        win_lin = w["lineage"]
        return SearchResult(
            algorithm=self.name, best_latent=w["latent"], best_score=vals[b],
            best_noise=w["noise"], best_seed=win_lin[0] if not win_lin[1] else None,
            candidates=st["candidates"], nfe=nfe, verifier_calls=calls,
            finals=torch.cat([p["latent"] for p in pivots]), final_candidates=[p["cand"] for p in pivots],
            final_scores=vals,
            recipe={"algorithm": self.name, "seed": seed, "n_neighbors": n_nb, "lam": lam,
                    "iterations": iters, "iterations_run": done_iters,
                    "neighbor": "sqrt(1-lam^2)*pivot + lam*seeded_noise(derive_seed(seed, k, j))",
                    "row_seed": "solver_seed(draw seed) for neighbours, the stock seed for fresh pivots",
                    "pivots": fresh_pivots, "restarts": restarts,
                    "winner": {"candidate": w["cand"], "pivot_seed": win_lin[0], "draws": list(win_lin[1]),
                               "row_seed": w["row_seed"]}},
        )
