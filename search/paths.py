r"""Search over paths (Ma et al. 2025, sec. 3.2): branch partly-denoised trajectories, keep the best.

Units: ``start``, ``delta_f`` and ``delta_b`` are *schedule steps* (indices into ``den.sigmas``;
index 0 is pure noise, ``last = len(sigmas) - 1`` the finished sample). ``start`` may instead be
a float strictly between 0 and 1, read as a fraction of the schedule: ``round(start * last)``.

Algorithm
    1. N initial noises, the stock noises of seeds ``seed + i`` (i < N), are denoised from index 0
       to ``start``.
    2. Hop h from index t: every one of the N kept states (in rank order, slot i) spawns M copies,
       copy j re-noised forward (via ``den.renoise``) from t to ``a = t - delta_f`` with
       ``eps = seeded_noise(derive_seed(seed, h, i, j))`` and denoised back to
       ``b = min(a + delta_b, last)``; ``delta_b > delta_f``, so every hop gains
       ``delta_b - delta_f`` steps and the last hop is clipped to the end of the schedule.
    3. Copies that are not finished are scored on the model's x0 prediction at b
       (``den.predict_x0``: one extra NFE per copy, so the verifier sees a clean sample); the top N
       (ties: earlier copy first) become the next generation and the search hops again from b.
       The hop's N*M copies are one decision set (``search.decide``): a rank ensemble ranks them
       among themselves. The x0 predictions are released (``den.release``) once scored.
    4. The hop that reaches ``last`` yields N*M finished samples, all scored; the best wins
       (best-of-N over the finished samples, N*M of them).
    The initial N states are not scored (nothing to choose between yet). Stochastic solvers get
    the stock seed as row seed for the initial segment, and for a copy's hop
    ``solver_seed(draw seed)``: a stream independent of the re-noise draw.

Solver state: every hop is a fresh solver call from index a. Multistep solvers (dpmpp_2m, lms,
uni_pc, deis, ipndm, res_multistep, ...) keep no history across the re-noise, so each hop starts
with their first-order step (for dpmpp_2m exactly an Euler step) and builds its history again; a
hop of Δb steps uses the multistep update on its later steps only.

Verifiers wanting ``mid_x0`` (``den.mid_index``) get the x0 prediction the row's own trajectory
made at ``mid_index``; a hop that re-noises to ``mid_index`` or above recaptures it (a <= mid < b).
While a hop ends at or above ``mid_index`` (b <= mid: the trajectory has not passed it yet), the
scored prediction at b is compared with the solver's x0 prediction at the hop's start a (free,
captured from the step), never with itself.

Budget (NFE): the plan for (n, m) costs
    n * cost(0, start) + n * m * sum_hops (cost(a, b) + [b < last])
With a budget smaller than the plan, the search uses the (n' <= N, m' <= M) with the most copies
per hop (n' * m', ties: larger m') that fits. When only (1, 1) fits (a single path: nothing is
ever chosen) or not even that, it degrades to best-of-k plain samples (k = budget // trajectory,
at most N; ``recipe["m"] == 0``), unless k is 1 too, where the single path is run.

Reproduction: ``recipe["winner"]`` holds the root seed and the draw seed of every hop of the
winner's lineage; :func:`replay` rebuilds the winning sample from the recipe alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from ._common import check_budget, last_index, solver_seed, trajectory_nfe
from .batching import Batcher
from .decide import Decision, first_best, raw_info, release
from .noise import derive_seed, noise_batch
from .protocol import Denoiser
from .result import BestSoFar, Candidate, Progress, SearchResult


def hop_plan(last: int, start: int, delta_f: int, delta_b: int) -> List[Tuple[int, int, int]]:
    """The hops as (t, a, b): from index t re-noise to a = t - delta_f, denoise to b."""
    hops, t = [], int(start)
    while True:
        a = t - int(delta_f)
        b = min(a + int(delta_b), last)
        hops.append((t, a, b))
        if b >= last:
            return hops
        t = b


def replay(den: Denoiser, recipe: Dict[str, Any]) -> torch.Tensor:
    """Rebuild the winning final state of a paths search from its recipe (one row, batch 1)."""
    w = recipe["winner"]
    shape = list(den.latent_shape)
    root = int(w["root_seed"])
    last = last_index(den)
    if int(recipe["m"]) == 0:
        return den.sample(noise_batch(shape, [root]), last, [root], x0_at=den.mid_index)[0] \
            if den.mid_index is not None else den.sample(noise_batch(shape, [root]), last, [root])
    x = den.sample(noise_batch(shape, [root]), int(recipe["start_index"]), [root])
    for (t, a, b), ds in zip(recipe["hops"], w["draws"]):
        x = den.renoise(x, t, a, noise_batch(shape, [int(ds)]))
        x = den.denoise(x, a, b, [solver_seed(int(ds))])
    return x


@dataclass
class PathsSearch:
    n: int = 4
    m: int = 2
    start: Union[int, float] = 4
    delta_f: int = 2
    delta_b: int = 4

    name = "paths"

    # ---- settings ------------------------------------------------------------------------------
    def start_index(self, den: Denoiser) -> int:
        last = last_index(den)
        s = self.start
        if isinstance(s, float) and not s.is_integer():
            if not 0.0 < s < 1.0:
                raise ValueError(f"paths search: start={s} is neither a step index nor a fraction in (0, 1)")
            return int(round(s * last))
        return int(s)

    def validate(self, den: Denoiser, budget: Optional[int] = None) -> None:
        if int(self.n) < 1:
            raise ValueError(f"paths search: n (N, paths kept) must be >= 1, got {self.n}")
        if int(self.m) < 1:
            raise ValueError(f"paths search: m (M, copies per path) must be >= 1, got {self.m}")
        if int(self.delta_f) < 1:
            raise ValueError(f"paths search: delta_f (Δf) must be >= 1 step, got {self.delta_f}")
        if int(self.delta_b) <= int(self.delta_f):
            raise ValueError(f"paths search: delta_b (Δb={self.delta_b}) must be greater than "
                             f"delta_f (Δf={self.delta_f}), or the search never reaches the end")
        last = last_index(den)
        st = self.start_index(den)
        if not int(self.delta_f) <= st < last:
            raise ValueError(f"paths search: start={self.start} (index {st}) outside the schedule: need "
                             f"delta_f ({self.delta_f}) <= start < {last} (steps)")
        check_budget(den, budget, "paths search")

    def plan_nfe(self, den: Denoiser, n: int, m: int) -> int:
        """NFE of the full search with n paths and m copies (m = 0: n plain samples)."""
        last = last_index(den)
        if m == 0:
            return n * trajectory_nfe(den)
        st = self.start_index(den)
        per_copy = sum(den.cost(a, b) + (1 if b < last else 0)
                       for _, a, b in hop_plan(last, st, self.delta_f, self.delta_b))
        return n * den.cost(0, st) + n * m * per_copy

    def fit(self, den: Denoiser, budget: Optional[int]) -> Tuple[int, int]:
        """(n, m) actually run under ``budget`` (see module docstring)."""
        n, m = int(self.n), int(self.m)
        if budget is None or self.plan_nfe(den, n, m) <= budget:
            return n, m
        best = None
        for nn in range(1, n + 1):
            for mm in range(1, m + 1):
                if self.plan_nfe(den, nn, mm) <= budget:
                    key = (nn * mm, mm)
                    if best is None or key > best[0]:
                        best = (key, nn, mm)
        k = max(1, min(n, int(budget) // trajectory_nfe(den)))
        if best is not None and (best[0][0] > 1 or k == 1):
            return best[1], best[2]
        return k, 0

    def planned_nfe(self, den: Denoiser, budget: Optional[int] = None) -> int:
        n, m = self.fit(den, budget)
        return self.plan_nfe(den, n, m)

    # ---- run -----------------------------------------------------------------------------------
    def run(self, den: Denoiser, seed: int, max_batch: int = 4, budget: Optional[int] = None,
            progress: Progress = None) -> SearchResult:
        self.validate(den, budget)
        seed = int(seed)
        n, m = self.fit(den, budget)
        if m == 0:
            return self._best_of(den, seed, n, max_batch, budget, progress)
        last = last_index(den)
        st = self.start_index(den)
        hops = hop_plan(last, st, self.delta_f, self.delta_b)
        shape = list(den.latent_shape)
        mi = den.mid_index
        batcher = Batcher(max_batch)
        nfe0, vc0 = den.nfe, den.verifier_calls
        shown_budget = budget if budget is not None else self.plan_nfe(den, n, m)

        def segment(x, a, b, seeds):
            """Denoise a..b; also returns the x0 prediction for the self-supervised score: the one
            at ``mi`` when the hop passes it, at the hop's own start ``a`` while it ends at or above
            ``mi`` (so the scored prediction at b is never compared with itself), else None."""
            at = None if mi is None else (mi if a <= mi < b else a if b <= mi else None)
            if at is None:
                return batcher(lambda z, seeds: den.denoise(z, a, b, seeds), x, seeds=seeds), None
            return batcher(lambda z, seeds: den.denoise(z, a, b, seeds, x0_at=at), x, seeds=seeds)

        # initial generation: N stock noises denoised to `start`
        roots = [seed + i for i in range(n)]
        noise0 = noise_batch(shape, roots)
        if mi is not None and mi < st:
            x, mid = batcher(lambda z, seeds: den.sample(z, st, seeds, x0_at=mi), noise0, seeds=roots)
        else:
            x, mid = batcher(lambda z, seeds: den.sample(z, st, seeds), noise0, seeds=roots), None
        gen = [{"lineage": (r, ()), "cand": None} for r in roots]

        run = {"den": den, "batcher": batcher, "nfe0": nfe0, "progress": progress, "shown": shown_budget,
               "best": BestSoFar(), "candidates": [], "segment": segment, "mi": mi, "last": last}
        for h, (t, a, b) in enumerate(hops):
            src, draws, lin, par, info = [], [], [], [], []
            for i, g in enumerate(gen):
                for j in range(m):
                    ds = derive_seed(seed, h, i, j)
                    src.append(i)
                    draws.append(ds)
                    lin.append((g["lineage"][0], g["lineage"][1] + (ds,)))
                    par.append(g["cand"])
                    info.append({"hop": h, "t": b, "parent_slot": i, "copy": j, "draw_seed": ds,
                                 "root_seed": g["lineage"][0]})
            idx = torch.tensor(src)
            xr = den.renoise(x[idx], t, a, noise_batch(shape, draws))
            mid_r = mid[idx] if (mid is not None and mi < a) else None
            x_all, mid_all, vals = self._hop(run, a, b, xr, mid_r, draws, par, info)
            first = len(run["candidates"]) - len(draws)
            if b >= last:
                w = first_best(vals)
                break
            order = sorted(range(len(draws)), key=lambda k: (-vals[k], k))[:n]
            keep = torch.tensor(order)
            x = x_all[keep]
            mid = mid_all[keep] if mid_all is not None else None
            gen = [{"lineage": lin[k], "cand": first + k} for k in order]

        root, wdraws = lin[w]
        final_cands = list(range(first, len(run["candidates"])))
        return SearchResult(
            algorithm=self.name, best_latent=x_all[w:w + 1], best_score=vals[w],
            best_noise=noise_batch(shape, [root]), best_seed=None,
            candidates=run["candidates"], nfe=den.nfe - nfe0, verifier_calls=den.verifier_calls - vc0,
            finals=x_all, final_candidates=final_cands, final_scores=list(vals),
            recipe={"algorithm": self.name, "seed": seed, "n": n, "m": m, "start": self.start,
                    "start_index": st, "delta_f": int(self.delta_f), "delta_b": int(self.delta_b),
                    "units": "schedule steps", "hops": [list(hp) for hp in hops],
                    "draw_seed": "derive_seed(seed, hop, parent_slot, copy)",
                    "row_seed": "solver_seed(draw seed)",
                    "winner": {"candidate": final_cands[w], "root_seed": root, "draws": list(wdraws)}},
        )

    def _hop(self, run, a, b, xr, mid_r, draws, par, info):
        """Denoise the hop's copies from a to b and score them; the hop's copies are one decision set
        (ranked among themselves). Intermediate x0 predictions are released once scored. Returns the
        states at b, their mid-x0 (when captured) and each copy's value in the decision."""
        den, batcher, cands = run["den"], run["batcher"], run["candidates"]
        done = b >= run["last"]
        mi = run["mi"]
        per = den.cost(a, b) + (0 if done else 1)
        dec = Decision(den)
        new_x, new_mid, q = [], [], 0
        while q < len(draws):  # chunk by chunk, so progress happens per model batch
            sl = slice(q, q + batcher.limit)
            cx, cap = run["segment"](xr[sl], a, b, [solver_seed(d) for d in draws[sl]])
            keep_mid = cap if (mi is not None and a <= mi < b) else None
            judged = cx if done else batcher(lambda z: den.predict_x0(z, b), cx)
            if mi is None:
                s = dec.add(den.score(judged, None))
            else:
                s = dec.add(den.score(judged, cap if cap is not None else mid_r[sl]))
            if not done:
                release(den, judged)
            vals = dec.values()
            for r in range(cx.shape[0]):
                k = q + r
                c = Candidate(index=len(cands), score=vals[k], nfe=den.nfe - run["nfe0"] - (cx.shape[0] - 1 - r) * per,
                              seed=None, stage="final" if done else f"path@{b}", parent=par[k],
                              info={**info[k], **raw_info(s, r)})
                cands.append(c)
                ev = run["best"].event(c, run["shown"])
                if run["progress"]:
                    run["progress"](ev)
            new_x.append(cx)
            mid_keep = keep_mid if keep_mid is not None else (mid_r[sl] if mid_r is not None else None)
            if mid_keep is not None:
                new_mid.append(mid_keep)
            q += cx.shape[0]
        vals = dec.values()
        for c, v in zip(cands[len(cands) - len(draws):], vals):
            c.score = v
        return torch.cat(new_x), (torch.cat(new_mid) if new_mid else None), vals

    def _best_of(self, den, seed, k, max_batch, budget, progress) -> SearchResult:
        """Budget below one path: plain best-of-k over stock seeds seed .. seed + k - 1."""
        from .random_search import RandomSearch
        res = RandomSearch(k).run(den, seed, max_batch=max_batch, budget=budget, progress=progress)
        res.algorithm = self.name
        res.recipe = {"algorithm": self.name, "seed": seed, "n": k, "m": 0, "start": self.start,
                      "fallback": "budget below one path: best-of-n plain samples",
                      "seeds": res.recipe["seeds"],
                      "winner": {"candidate": res.final_candidates[first_best(res.final_scores)],
                                 "root_seed": res.best_seed, "draws": []}}
        return res
