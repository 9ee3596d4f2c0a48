r"""Particle search: sequential Monte Carlo over denoising trajectories (Feynman–Kac steering).

Method: Singhal et al. 2025, "A General Framework for Inference-time Scaling and Steering of
Diffusion Models" (arXiv 2501.06848). N particles are denoised together; at chosen schedule
indices each particle's x0 prediction is scored by the verifier, the particles are weighted by a
potential of the score and, when the weights have degenerated, resampled, so compute moves to
promising trajectories *during* sampling instead of after it (best-of-N).

Symbols (schedule indices: 0 is pure noise, ``last = len(sigmas) - 1`` the finished sample)
    N      particles; particle i starts from the stock noise of seed ``seed + i``
    t_k    resampling indices, 0 < t_1 < ... < t_K < last (every ``every`` steps, or the indices
           nearest to given sigmas)
    r_k^i  the verifier's score of particle i's x0 prediction: the solver's own one at t_k - 1, free
           (its last model call before t_k). With a verifier wanting ``mid_x0`` (``den.mid_index``)
           a segment captures the x0 to compare with instead (the one at ``mid_index`` when it
           passes it, else, before the trajectory reaches it, the one at the segment's start, as
           search over paths does: never the scored x0 itself) and pays one ``den.predict_x0``
           at t_k for the score
    V_k^i  the potential:  max:        max_{j<=k} r_j^i   (best so far on the particle's path)
                           difference: r_k^i - r_{k-1}^i  (r_0 = 0)
                           sum:        sum_{j<=k} r_j^i
    λ      temperature, scale-free: log G_k^i = λ (V_k^i - mean_j V_k^j) / std_j V_k^j over the
           particles weighed at t_k (finite ones; std 0 or one particle: G = 1), so λ = 1 gives
           a particle one standard deviation better e times the weight, whatever units the
           verifier scores in: an affine rescaling a·score + b (a > 0) leaves the weights, the
           resampling and the winner unchanged.  log w^i += log G_k^i  (w: running SMC weights)
    ESS    (sum w)^2 / sum w^2, after normalising; systematic resampling when ESS < ess_min * N,
           after which the weights are uniform again. A non-finite score gets weight 0 (never
           chosen); when every weight is 0 nothing is known and nothing is resampled.

Divergence: after t_k (whether or not it resampled) slot i continues with its own streams:
    segments where the solver adds step noise (``draws_noise``: probed by the backend, as a sampler
                          may take a noise sampler and draw nothing with it)
                          row seed ``derive_seed(seed, TAG, k, i, 0)``
    all other segments    a forward re-noise of ``renoise_steps`` schedule steps (as search over
                          paths) with eps from ``derive_seed(seed, TAG, k, i, 1)``, then the same
                          row seed; so duplicated particles never stay identical.
Every particle is treated the same at every t_k, so the cost is fixed and planned ahead.

Budget (NFE): per particle ``sum_k cost(segment_k)`` (+1 where an x0 prediction is paid); the search
runs ``n' = min(N, budget // per_particle)`` particles. With n' < 2 (nothing to resample) it
degrades to best-of-k plain samples (k = budget // trajectory, at most N). Spending is also
checked live after every segment under a budget, and the search stops with an error if the solver
overspends (without one, a sampler whose NFE is unknown ahead, dpm_adaptive, spends what it spends).

Final pick: the finished particle with the best verifier score (non-finite ranks lowest, ties:
lowest slot). ``recipe["winner"]`` holds its root seed and, per segment, its row seed and re-noise
draw; :func:`replay` rebuilds it bit for bit. ``recipe["events"]`` holds every resampling index with
its ESS, whether it resampled, and the ancestor of every slot (the lineage of every particle).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ._common import check_budget, last_index, trajectory_nfe
from .batching import Batcher
from .decide import Decision
from .noise import derive_seed, noise_batch
from .protocol import Denoiser
from .result import BestSoFar, Candidate, Progress, SearchResult

POTENTIALS = ("max", "difference", "sum")
TAG = 0x5C  # separates particle-search draws from other strategies' derive_seed paths


# ---- pure pieces -------------------------------------------------------------------------------
def finite_or_neg_inf(r: torch.Tensor) -> torch.Tensor:
    r = torch.as_tensor(r).double()
    return torch.where(torch.isfinite(r), r, torch.full_like(r, -math.inf))


def particle_values(den, scores) -> torch.Tensor:
    """One value per particle: scalar scores as they are (non-finite -> -inf); a rank ensemble's
    member-score vectors ranked jointly among the particles scored together (search/decide.py)."""
    d = Decision(den)
    d.add(scores)
    return finite_or_neg_inf(torch.tensor(d.values(), dtype=torch.float64))


def potential(kind: str, r: torch.Tensor, r_prev: torch.Tensor, v_prev: torch.Tensor) -> torch.Tensor:
    """V_k from the score r_k, the previous score r_{k-1} and the previous potential V_{k-1}."""
    if kind == "max":
        return torch.maximum(r, v_prev)
    if kind == "difference":
        return r - r_prev
    if kind == "sum":
        return r + v_prev
    raise ValueError(f"particle search: potential {kind!r} is not one of {POTENTIALS}")


def standardise(v: torch.Tensor) -> torch.Tensor:
    """(v - mean) / std over the finite entries (population std); zeros where they do not spread
    (fewer than two finite entries, or all equal); non-finite entries stay as they are (callers
    weigh them 0). Makes λ independent of the verifier's units (module docstring)."""
    v = v.double()
    ok = torch.isfinite(v)
    out = torch.where(ok, torch.zeros_like(v), v)
    if int(ok.sum()) < 2:
        return out
    f = v[ok]
    c = f - f.mean()
    sd = float(c.pow(2).mean().sqrt())
    if not sd > 0 or float(c.abs().max()) <= 1e-12 * max(1.0, float(f.abs().max())):
        return out
    out[ok] = c / sd
    return out


def normalise(log_w: torch.Tensor) -> torch.Tensor:
    """Normalised weights; non-finite log-weights (NaN, -inf) weigh 0; all zero -> uniform."""
    lw = torch.where(torch.isnan(log_w) | (log_w == math.inf), torch.full_like(log_w, -math.inf), log_w)
    if not torch.isfinite(lw).any():
        return torch.full_like(lw, 1.0 / lw.numel())
    w = torch.exp(lw - lw.max())
    return w / w.sum()


def ess(w: torch.Tensor) -> float:
    """Effective sample size of weights: (sum w)^2 / sum w^2, computed on w / max(w) so that equal
    weights give exactly N (1 / sum w^2 of normalised weights 1/N rounds below N for many N)."""
    m = w.max()
    if not m > 0:
        return 0.0
    u = w / m
    return float(u.sum() ** 2 / (u * u).sum())


def systematic_resample(w: torch.Tensor, u0: float) -> List[int]:
    """Ancestor of each slot: slot i takes the particle whose cumulative weight first exceeds
    (u0 + i) / N (one uniform u0 in [0, 1) for all slots); ancestors come out sorted."""
    n = w.numel()
    cdf = torch.cumsum(w, 0)
    cdf[-1] = 1.0 + 1e-12
    u = (u0 + torch.arange(n, dtype=torch.float64)) / n
    return [min(int(a), n - 1) for a in torch.searchsorted(cdf, u, right=True)]


def uniform(seed: int, k: int) -> float:
    g = torch.Generator(device="cpu")
    g.manual_seed(derive_seed(seed, TAG, k, 2))
    return float(torch.rand((), dtype=torch.float64, generator=g))


def resampling_indices(last: int, every: int = 0, at_sigmas: Sequence[float] = (),
                       sigmas: Optional[torch.Tensor] = None) -> List[int]:
    """t_k: every ``every`` steps (every, 2·every, … < last), or the index nearest to each sigma."""
    if at_sigmas:
        idx = {int(torch.argmin((sigmas[:-1].double() - float(s)).abs())) for s in at_sigmas}
        return sorted(i for i in idx if 0 < i < last)
    if int(every) < 1:
        raise ValueError(f"particle search: resample_every must be >= 1 step, got {every}")
    return list(range(int(every), last, int(every)))


def is_stochastic(den: Denoiser) -> bool:
    """Whether the solver draws step noise from the row seeds (else copies need a re-noise)."""
    return bool(getattr(den, "stochastic", False))


def draws_noise(den: Denoiser, start: int, end: int) -> bool:
    """Whether the solver really adds step noise from the row seeds between ``start`` and ``end``:
    ``den.draws_noise`` when the backend can tell (a sampler may take a noise sampler and draw
    nothing: eta = 0, or outside its stochastic interval), else ``den.stochastic`` except on a lone
    final step to sigma = 0 (where a stochastic step draws no noise)."""
    probe = getattr(den, "draws_noise", None)
    if callable(probe):
        return bool(probe(int(start), int(end)))
    lone_last = end == last_index(den) and end - start == 1
    return is_stochastic(den) and not lone_last


def segments(last: int, ts: Sequence[int], back: int, draws=lambda t, b: False) -> List[Tuple[int, int, int]]:
    """Per segment k: (t, a, b): states at t, re-noised to a = t - back (k >= 1), denoised to b.
    No re-noise where the solver itself adds step noise on t -> b (``draws(t, b)``): the copies'
    own row seeds make them diverge there."""
    bounds = [0, *ts, last]
    return [(t, t if k == 0 or draws(t, b) else t - back, b)
            for k, (t, b) in enumerate(zip(bounds[:-1], bounds[1:]))]


def mid_capture(mi: Optional[int], a: int, b: int) -> Optional[int]:
    """Where a segment a -> b captures the x0 a mid_x0 verifier compares with (None: nowhere; the
    one captured earlier is kept): ``mi`` itself when the segment passes it (a <= mi < b); the
    segment's own start ``a`` while it ends at or above ``mi`` (b <= mi: the trajectory has not
    reached it yet), so the x0 scored at b is compared with an earlier prediction of the same
    trajectory, never with itself (as search over paths does)."""
    if mi is None:
        return None
    return mi if a <= mi < b else a if b <= mi else None


def segment_cost(den: Denoiser, a: int, b: int, done: bool) -> int:
    """NFE of one particle's segment: the solver's, plus one x0 prediction at b when the free one
    (at b - 1) cannot be scored: the segment's call captures a mid_x0 comparison instead (and the
    one at b - 1 may be that very x0)."""
    at = mid_capture(den.mid_index, a, b)
    return int(den.cost(a, b)) + (0 if done or at is None else 1)


def replay(den: Denoiser, recipe: Dict[str, Any], with_mid: bool = False):
    """Rebuild the winning final state of a particle search from its recipe (one row, batch 1).
    ``with_mid``: return (state, mid_x0), the x0 prediction at ``den.mid_index`` the winner's own
    trajectory made (None without a mid_index), captured where the search captured it."""
    shape, w = list(den.latent_shape), recipe["winner"]
    root = int(w["root_seed"])
    mi = den.mid_index
    if "fallback" in recipe:  # best-of-k plain samples
        last = last_index(den)
        x, mid = (den.sample(noise_batch(shape, [root]), last, [root], x0_at=mi) if mi is not None else
                  (den.sample(noise_batch(shape, [root]), last, [root]), None))
        return (x, mid) if with_mid else x
    mid = None

    def run(call, a, b):
        nonlocal mid
        if mi is not None and a <= mi < b:
            x, mid = call(mi)
            return x
        return call(None)

    segs = recipe["segments"]
    x = run(lambda at: den.sample(noise_batch(shape, [root]), segs[0][2], [root], x0_at=at) if at is not None
            else den.sample(noise_batch(shape, [root]), segs[0][2], [root]), 0, segs[0][2])
    for (t, a, b), step in zip(segs[1:], w["steps"]):
        if a < t:
            x = den.renoise(x, t, a, noise_batch(shape, [int(step["draw_seed"])]))
        rs = [int(step["row_seed"])]
        x = run(lambda at: den.denoise(x, a, b, rs, x0_at=at) if at is not None else den.denoise(x, a, b, rs), a, b)
    return (x, mid) if with_mid else x


# ---- the search ----------------------------------------------------------------------------------
@dataclass
class ParticleSearch:
    n: int = 4
    #: defaults chosen on the trained digits bed (bench/particles_tune.py); how they fare on beds
    #: they were not chosen on: bench/particles_travel.py
    resample_every: int = 3
    resample_sigmas: Sequence[float] = field(default_factory=tuple)
    potential: str = "sum"
    lam: float = 4.0
    ess_min: float = 0.5
    renoise_steps: int = 1

    name = "particles"

    # ---- settings ------------------------------------------------------------------------------
    def schedule(self, den: Denoiser) -> List[Tuple[int, int, int]]:
        last = last_index(den)
        ts = resampling_indices(last, self.resample_every, tuple(self.resample_sigmas), den.sigmas)
        return segments(last, ts, int(self.renoise_steps), lambda t, b: draws_noise(den, t, b))

    def validate(self, den: Denoiser, budget: Optional[int] = None) -> None:
        if int(self.n) < 1:
            raise ValueError(f"particle search: particles (n) must be >= 1, got {self.n}")
        if self.potential not in POTENTIALS:
            raise ValueError(f"particle search: potential {self.potential!r} is not one of {POTENTIALS}")
        if not math.isfinite(float(self.lam)) or float(self.lam) < 0:
            raise ValueError(f"particle search: lambda (λ, temperature) must be finite and >= 0, got {self.lam}")
        if not 0.0 <= float(self.ess_min) <= 1.0:
            raise ValueError(f"particle search: ess_threshold must be in [0, 1] (a fraction of N), got {self.ess_min}")
        if int(self.renoise_steps) < 1:
            raise ValueError(f"particle search: renoise_steps must be >= 1, got {self.renoise_steps}")
        segs = self.schedule(den)
        if len(segs) < 2:
            raise ValueError(f"particle search: no resampling index inside the schedule of {last_index(den)} steps; "
                             "lower resample_every or give sigmas between the first and the last")
        for t, a, _ in segs[1:]:
            if a < 1:
                raise ValueError(f"particle search: resampling at step {t} with renoise_steps={self.renoise_steps} "
                                 "re-noises to pure noise; resample later or lower renoise_steps")
        check_budget(den, budget, "particle search")

    def per_particle(self, den: Denoiser) -> int:
        last = last_index(den)
        return sum(segment_cost(den, a, b, b >= last) for _, a, b in self.schedule(den))

    def fit(self, den: Denoiser, budget: Optional[int]) -> Tuple[int, bool]:
        """(particles, is a particle search): see the module docstring."""
        n = int(self.n) if budget is None else min(int(self.n), int(budget) // self.per_particle(den))
        if n >= 2:
            return n, True
        return max(1, min(int(self.n), (int(budget) if budget else 0) // trajectory_nfe(den))), False

    def planned_nfe(self, den: Denoiser, budget: Optional[int] = None) -> int:
        n, smc = self.fit(den, budget)
        return n * (self.per_particle(den) if smc else trajectory_nfe(den))

    # ---- run -------------------------------------------------------------------------------------
    def run(self, den: Denoiser, seed: int, max_batch: int = 4, budget: Optional[int] = None,
            progress: Progress = None) -> SearchResult:
        self.validate(den, budget)
        seed = int(seed)
        n, smc = self.fit(den, budget)
        if not smc:
            return self._best_of(den, seed, n, max_batch, budget, progress)
        return _Run(self, den, seed, n, Batcher(max_batch), budget, progress).go()

    def _best_of(self, den, seed, k, max_batch, budget, progress) -> SearchResult:
        from .random_search import RandomSearch
        res = RandomSearch(k).run(den, seed, max_batch=max_batch, budget=budget, progress=progress)
        res.algorithm = self.name
        res.recipe = {"algorithm": self.name, "seed": seed, "n": k, "seeds": res.recipe["seeds"],
                      "fallback": "budget below two particles: best-of-n plain samples",
                      "winner": {"root_seed": res.best_seed, "steps": []}}
        return res


class _Run:
    """One particle search in progress (state kept between segments)."""

    def __init__(self, cfg: ParticleSearch, den: Denoiser, seed: int, n: int, batcher: Batcher,
                 budget: Optional[int], progress: Progress):
        self.cfg, self.den, self.seed, self.n, self.batcher = cfg, den, seed, n, batcher
        self.progress, self.segs = progress, cfg.schedule(den)
        self.plan = n * cfg.per_particle(den)
        self.shown_budget = budget if budget is not None else self.plan
        self.budget = budget  # without one, a variable-cost sampler (dpm_adaptive) may spend what it spends
        self.nfe0, self.vc0 = den.nfe, den.verifier_calls
        self.mi = den.mid_index
        self.candidates: List[Candidate] = []
        self.best = BestSoFar()
        self.events: List[Dict[str, Any]] = []

    def spent(self) -> int:
        return self.den.nfe - self.nfe0

    def check(self, planned: int) -> None:
        if self.budget is not None and self.spent() > planned:
            raise RuntimeError(f"particle search: the sampler spent {self.spent()} NFE where {planned} were planned; "
                               "variable-cost samplers cannot run under budget_nfe, choose a fixed-step sampler")

    def segment(self, x, mid, a, b, seeds, done):
        """Denoise a -> b; returns (states, x0 to score, mid x0 kept, mid x0 to score with). The x0
        scored is the solver's own prediction at b - 1 (free), unless the call captures a mid_x0
        comparison (``mid_capture``): then one paid prediction at b."""
        den, mi = self.den, self.mi
        cap = mid_capture(mi, a, b)
        at = cap if cap is not None else (None if done else b - 1)
        if at is None:
            x_b = self.batcher(self.call(a, b, None), x, seeds=seeds)
            return x_b, x_b, mid, mid
        x_b, x0 = self.batcher(self.call(a, b, at), x, seeds=seeds)
        if cap is None:
            return x_b, x0, mid, mid
        mid = x0 if cap == mi else mid
        ref = x0  # the mid x0, or (before the trajectory reaches mid_index) the prediction at a
        judged = x_b if done else self.batcher(lambda z: den.predict_x0(z, b), x_b)
        return x_b, judged, mid, ref

    def call(self, a, b, at):
        den = self.den
        if a == 0:
            return lambda z, seeds: den.sample(z, b, seeds, x0_at=at) if at is not None else den.sample(z, b, seeds)
        return lambda z, seeds: den.denoise(z, a, b, seeds, x0_at=at) if at is not None else den.denoise(z, a, b, seeds)

    def score(self, judged, ref, b, done, lineage, k):
        """Score every particle (finished, or its x0 prediction), one candidate each; ``ref``: the
        mid x0 it is compared with (None without a mid_index)."""
        den = self.den
        r = particle_values(den, den.score(judged, ref if self.mi is not None else None))
        for i in range(self.n):
            lin = lineage[i]
            c = Candidate(index=len(self.candidates), score=float(r[i]), nfe=self.spent(), seed=None,
                          stage="final" if done else f"particle@{b}", parent=lin["cand"],
                          info={"particle": i, "round": k, "t": b, "root_seed": lin["root"],
                                "ancestor": lin["ancestor"], "row_seed": lin["row_seed"],
                                "draw_seed": lin["draw_seed"]})
            self.candidates.append(c)
            lin["cand"] = c.index
            ev = self.best.event(c, self.shown_budget)
            if self.progress:
                self.progress(ev)
        return r

    def go(self) -> SearchResult:
        den, cfg, n, seed = self.den, self.cfg, self.n, self.seed
        shape = list(den.latent_shape)
        roots = [seed + i for i in range(n)]
        lineage = [{"root": s, "cand": None, "ancestor": None, "row_seed": s, "draw_seed": None, "steps": []}
                   for s in roots]
        x, mid = noise_batch(shape, roots), None
        log_w = torch.zeros(n, dtype=torch.float64)
        r_prev = torch.zeros(n, dtype=torch.float64)
        v_prev = torch.full((n,), -math.inf if cfg.potential == "max" else 0.0, dtype=torch.float64)
        per = cfg.per_particle(den)
        planned = 0
        for k, (t, a, b) in enumerate(self.segs):
            seeds = [lin["row_seed"] for lin in lineage]
            if a < t:
                eps = noise_batch(shape, [lin["draw_seed"] for lin in lineage])
                x = den.renoise(x, t, a, eps)
            done = b >= last_index(den)
            x, judged, mid, ref = self.segment(x, mid, a, b, seeds, done)
            planned += n * segment_cost(den, a, b, done)
            r = self.score(judged, ref, b, done, lineage, k)
            self.check(planned)
            if done:
                break
            v = potential(cfg.potential, r, r_prev, v_prev)
            ok = torch.isfinite(r) & torch.isfinite(v)
            z = standardise(torch.where(ok, v, torch.full_like(v, math.nan)))
            log_w = log_w + torch.where(ok, float(cfg.lam) * torch.where(ok, z, 0.0), torch.full_like(v, -math.inf))
            x, mid, lineage, log_w, r_prev, v_prev = self.resample(k, b, x, mid, lineage, log_w, r, v)
        assert planned == n * per
        return self.result(x, r, lineage, roots)

    def resample(self, k, b, x, mid, lineage, log_w, r, v):
        cfg, n = self.cfg, self.n
        w = normalise(log_w)
        e = ess(w)
        do = bool(torch.isfinite(log_w).any()) and e < cfg.ess_min * n
        anc = systematic_resample(w, uniform(self.seed, k)) if do else list(range(n))
        self.events.append({"round": k, "t": b, "sigma": float(self.den.sigmas[b]), "ess": e, "resampled": do,
                            "weights": [float(q) for q in w], "scores": [float(q) for q in r],
                            "ancestors": anc})
        idx = torch.tensor(anc)
        new = []
        for i, a in enumerate(anc):
            old = lineage[a]
            step = {"row_seed": derive_seed(self.seed, TAG, k + 1, i, 0),
                    "draw_seed": derive_seed(self.seed, TAG, k + 1, i, 1)}
            new.append({"root": old["root"], "cand": old["cand"], "ancestor": a, **step,
                        "steps": old["steps"] + [step]})
        if do or not torch.isfinite(log_w).any():  # resampled, or nothing known: uniform again
            log_w = torch.zeros(n, dtype=torch.float64)
        return x[idx], (mid[idx] if mid is not None else None), new, log_w, r[idx], v[idx]

    def result(self, x, r, lineage, roots) -> SearchResult:
        den, n = self.den, self.n
        wi = max(range(n), key=lambda i: (float(r[i]), -i))  # r is -inf where not finite
        first = len(self.candidates) - n
        lin = lineage[wi]
        return SearchResult(
            algorithm=self.cfg.name, best_latent=x[wi:wi + 1], best_score=float(r[wi]),
            best_noise=noise_batch(list(den.latent_shape), [lin["root"]]), best_seed=None,
            candidates=self.candidates, nfe=self.spent(), verifier_calls=den.verifier_calls - self.vc0,
            finals=x, final_candidates=list(range(first, first + n)),
            recipe={"algorithm": self.cfg.name, "seed": self.seed, "n": n, "potential": self.cfg.potential,
                    "lambda": float(self.cfg.lam), "ess_threshold": float(self.cfg.ess_min),
                    "renoise_steps": int(self.cfg.renoise_steps), "stochastic": is_stochastic(den),
                    "segments": [list(s) for s in self.segs], "units": "schedule steps",
                    "row_seed": "derive_seed(seed, 0x5C, round, slot, 0); draw: (…, 1); resampling uniform: "
                                "derive_seed(seed, 0x5C, round, 2)",
                    "events": self.events,
                    "lineages": [{"particle": i, "root_seed": q["root"], "final_candidate": first + i,
                                  "steps": q["steps"]} for i, q in enumerate(lineage)],
                    "winner": {"particle": wi, "candidate": first + wi, "root_seed": lin["root"],
                               "steps": lin["steps"]}},
        )


@dataclass
class ParticleReplay:
    """Rebuild the winner of an earlier particle search from its recipe (``report["recipe"]``) on
    the same model, schedule and sampler, score it once, and return it as a one-candidate result."""
    recipe: Dict[str, Any] = field(default_factory=dict)

    name = "particles"

    def validate(self, den: Denoiser, budget: Optional[int] = None) -> None:
        rec = self.recipe
        if rec.get("algorithm") != self.name or "winner" not in rec:
            raise ValueError("replay: not the recipe of a particle search (paste the report, or its \"recipe\")")
        last = last_index(den)
        segs = rec.get("segments") or [[0, 0, last]]
        if segs[-1][2] != last:
            raise ValueError(f"replay: the recipe's schedule ends at step {segs[-1][2]}, this one at {last}; "
                             "use the same steps, scheduler and denoise as the search that made it")

    def planned_nfe(self, den: Denoiser, budget: Optional[int] = None) -> int:
        if "fallback" in self.recipe:
            return trajectory_nfe(den)
        return sum(int(den.cost(a, b)) for _, a, b in self.recipe["segments"])

    def run(self, den: Denoiser, seed: int, max_batch: int = 4, budget: Optional[int] = None,
            progress: Progress = None) -> SearchResult:
        self.validate(den, budget)
        nfe0, vc0 = den.nfe, den.verifier_calls
        x, mid = replay(den, self.recipe, with_mid=True)
        s = particle_values(den, den.score(x, mid))
        root = int(self.recipe["winner"]["root_seed"])
        c = Candidate(index=0, score=float(s[0]), nfe=den.nfe - nfe0, seed=None, stage="final",
                      info={"replay": True, "root_seed": root})
        if progress:
            progress(c.event(c.score, self.planned_nfe(den)))
        return SearchResult(algorithm=self.name, best_latent=x, best_score=c.score,
                            best_noise=noise_batch(list(den.latent_shape), [root]), best_seed=None,
                            candidates=[c], nfe=den.nfe - nfe0, verifier_calls=den.verifier_calls - vc0,
                            finals=x, final_candidates=[0],
                            recipe={**self.recipe, "replayed": True,
                                    "winner": {**self.recipe["winner"], "candidate": 0}})
