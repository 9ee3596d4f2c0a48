"""How the search algorithms decide (issue 10, items 2, 3, 4, 7, 9): non-finite scores rank lowest,
rank ensembles rank each decision set jointly, the self-supervised score is never cos(f, f), the
solver's step noise is independent of the re-noise draw, and intermediates are released."""
import math

import pytest
import torch

from search import PathsSearch, RandomSearch, ZeroOrderSearch
from search.noise import derive_seed, noise_batch
from search.paths import replay
from search.zero_order import reconstruct_noise
from tests.analytic import AnalyticDenoiser


def nan_at(den, bad):
    """Make the verifier return NaN for the candidates (in scoring order) listed in ``bad``."""
    inner, seen = den.score, [0]

    def score(x0, mid_x0=None):
        s = inner(x0, mid_x0).clone()
        for r in range(s.shape[0]):
            if seen[0] + r in bad:
                s[r] = float("nan")
        seen[0] += s.shape[0]
        return s

    den.score = score
    return den


# -- item 7: NaN never wins ------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [{0}, {1}, {2}])
def test_random_search_never_picks_a_nan_row(bad):
    den = nan_at(AnalyticDenoiser("ve", steps=4), bad)
    res = RandomSearch(n=3).run(den, 5)
    w = res.candidates[[c.seed for c in res.candidates].index(res.best_seed)]
    assert w.index not in bad and math.isfinite(res.best_score)


def test_paths_never_picks_a_nan_final_even_the_first():
    den = AnalyticDenoiser("ve", steps=6)
    p = PathsSearch(n=2, m=2, start=2, delta_f=1, delta_b=5)  # one hop: it finishes
    first_final = 0  # the hop's candidates are the only ones scored
    res = p.run(nan_at(den, {first_final}), 3)
    assert res.recipe["winner"]["candidate"] != first_final and math.isfinite(res.best_score)


def test_zero_order_with_every_score_nan_returns_its_first_candidate():
    den = nan_at(AnalyticDenoiser("ve", steps=4), set(range(100)))
    res = ZeroOrderSearch(n_neighbors=2, lam=0.5, iterations=3).run(den, 9)
    assert res.recipe["winner"]["candidate"] == 0
    assert torch.equal(res.best_noise, noise_batch(den.latent_shape, [9]))
    ref = AnalyticDenoiser("ve", steps=4).sample(noise_batch(den.latent_shape, [9]), den.last, [9])
    assert torch.equal(res.best_latent, ref)


# -- item 3: rank ensembles decide on the decision set, jointly --------------------------------------
def avg_ranks(col):
    out = torch.empty(len(col), dtype=torch.float64)
    for i, v in enumerate(col):
        out[i] = sum(1.0 for u in col if u < v) + 0.5 * (sum(1.0 for u in col if u == v) - 1) + 1
    return out


class MemberScored(AnalyticDenoiser):
    """Scores come as vectors of two member scores, from a script in scoring order; ``rank`` is the
    paper's ensemble: the mean over members of average ranks within the set given."""

    def __init__(self, script, **kw):
        super().__init__("ve", steps=3, **kw)
        self.script, self.ranked = list(script), []

    def score(self, x0, mid_x0=None):
        self.verifier_calls += x0.shape[0]
        rows, self.script = self.script[:x0.shape[0]], self.script[x0.shape[0]:]
        assert len(rows) == x0.shape[0], "the script ran out"
        return torch.tensor(rows, dtype=torch.float32)

    def rank(self, scores):
        self.ranked.append(scores.shape[0])
        return sum(avg_ranks(scores[:, k].tolist()) for k in range(scores.shape[1])) / scores.shape[1]


def test_zero_order_moves_to_a_neighbour_that_beats_the_pivot_on_every_member():
    # P(0,0), A(10,10), B(5,20): A is the pivot; D(11,11) beats A on both members, so it must win
    den = MemberScored([(0, 0), (10, 10), (5, 20), (11, 11), (1, 1)])
    res = ZeroOrderSearch(n_neighbors=2, lam=0.5, iterations=2).run(den, 1)
    assert res.recipe["restarts"] == []
    assert res.recipe["winner"]["candidate"] == 3
    assert set(den.ranked) == {3}  # each decision ranks its own set: the pivot and its two neighbours


def test_paths_top_n_ranks_each_hops_candidates_among_themselves():
    # n=1, m=3, two hops: the first hop's second copy is best on both members and must be kept
    script = [(5, 1), (9, 9), (1, 5), (3, 3), (4, 4), (2, 2)]
    den = MemberScored(script, mid_index=None)
    den.sigmas = torch.tensor([20.0, 5.0, 2.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    res = PathsSearch(n=1, m=3, start=1, delta_f=1, delta_b=3).run(den, 2)
    hop1 = [c for c in res.candidates if c.info["hop"] == 1]
    assert {c.parent for c in hop1} == {1}
    assert res.recipe["winner"]["candidate"] == 4 and set(den.ranked) == {3}


# -- item 2: the self-supervised score is never cos(f, f) ------------------------------------------
@pytest.mark.parametrize("start,df,db", [(1, 1, 2), (2, 1, 2), (2, 2, 3)])
def test_paths_never_scores_an_x0_against_itself(start, df, db):
    den = AnalyticDenoiser("ve", steps=10, mid_index=5)
    calls, inner = [], den.score

    def score(x0, mid_x0=None):
        calls.append((x0.clone(), None if mid_x0 is None else mid_x0.clone()))
        return inner(x0, mid_x0)

    den.score = score
    PathsSearch(n=2, m=2, start=start, delta_f=df, delta_b=db).run(den, 4)
    assert calls
    for x0, mid in calls:
        assert mid is not None
        for r in range(x0.shape[0]):
            assert not torch.allclose(x0[r], mid[r]), "mid_x0 is the scored x0 itself"


# -- item 4: the solver's step noise is not the re-noise draw ----------------------------------------
def _recording(den):
    seeds = []
    inner_sample, inner_denoise = den.sample, den.denoise

    def sample(noise, end, s, x0_at=None):
        seeds.extend(int(v) for v in s)
        return inner_sample(noise, end, s, x0_at)

    def denoise(x, a, b, s, x0_at=None):
        seeds.extend(int(v) for v in s)
        return inner_denoise(x, a, b, s, x0_at)

    den.sample, den.denoise = sample, denoise
    return seeds


@pytest.mark.parametrize("algo", ["paths", "zero_order"])
def test_row_seeds_are_not_the_draw_seeds(algo):
    den = AnalyticDenoiser("ve", steps=8, solver="euler_ancestral")
    seeds = _recording(den)
    s = (PathsSearch(n=2, m=2, start=3, delta_f=2, delta_b=3) if algo == "paths"
         else ZeroOrderSearch(n_neighbors=3, lam=0.5, iterations=3))
    res = s.run(den, 11)
    draws = {c.info["draw_seed"] for c in res.candidates if c.info.get("role", "copy") != "pivot"}
    assert draws and not draws & set(seeds), "a row's ancestral noise is seeded with its re-noise draw"


def test_replay_and_reconstruct_still_rebuild_winners_with_ancestral_solvers():
    den = AnalyticDenoiser("flow", steps=8, solver="euler_ancestral", mean_shift=0.3)
    res = PathsSearch(n=2, m=2, start=3, delta_f=2, delta_b=3).run(den, 6)
    assert torch.equal(replay(den, res.recipe), res.best_latent)
    res = ZeroOrderSearch(n_neighbors=3, lam=0.5, iterations=3).run(den, 6)
    w = res.recipe["winner"]
    noise = reconstruct_noise(den.latent_shape, w["pivot_seed"], w["draws"], 0.5)
    assert torch.equal(noise, res.best_noise)
    assert torch.equal(den.sample(noise, den.last, [w["row_seed"]]), res.best_latent)


# -- item 9: keep what the outputs need ------------------------------------------------------------
def test_zero_order_keeps_only_its_pivots_and_releases_the_rest():
    den = AnalyticDenoiser("ve", steps=6, mean_shift=0.3)
    released = []
    den.release = lambda x: released.extend(x.unbind(0))
    res = ZeroOrderSearch(n_neighbors=3, lam=0.5, iterations=5).run(den, 2)
    pivots = {c.index for c in res.candidates if c.info["role"] == "pivot"} | \
             {c.parent for c in res.candidates if c.parent is not None}
    last = res.recipe["iterations_run"]
    if last not in res.recipe["restarts"]:  # the last iteration moved: its best neighbour is a pivot
        nbs = [c for c in res.candidates if c.info["iteration"] == last and c.info["role"] == "neighbor"]
        pivots.add(max(nbs, key=lambda c: (c.score, -c.index)).index)
    assert sorted(res.final_candidates) == sorted(pivots)
    assert res.finals.shape[0] == len(pivots) < len(res.candidates)
    assert len(released) == len(res.candidates) - len(pivots)
    assert res.recipe["winner"]["candidate"] in res.final_candidates


def test_paths_releases_every_intermediate_x0_once_scored():
    den = AnalyticDenoiser("ve", steps=10)
    released = []
    den.release = lambda x: released.extend(x.unbind(0))
    p = PathsSearch(n=2, m=2, start=2, delta_f=1, delta_b=3)
    res = p.run(den, 3)
    inter = [c for c in res.candidates if c.stage != "final"]
    assert inter and len(released) == len(inter)
    assert res.finals.shape[0] == len(res.candidates) - len(inter)
