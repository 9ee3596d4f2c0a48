"""Search algorithms: budgets and NFE accounting, batching/seed reproducibility, recipes,
progress events, the zero-order neighbourhood, and validation errors."""
import math

import pytest
import torch

from search import STRATEGIES, PathsSearch, RandomSearch, ZeroOrderSearch
from search.noise import derive_seed, noise_batch
from search.paths import replay
from search.zero_order import neighbor_noise, reconstruct_noise
from tests.analytic import AnalyticDenoiser


def small(**kw):
    return {"random": RandomSearch(n=7),
            "zero_order": ZeroOrderSearch(n_neighbors=3, lam=0.6, iterations=4),
            "paths": PathsSearch(n=3, m=2, start=3, delta_f=2, delta_b=3)} | kw


def counted(den):
    """Wrap the model and the verifier with independent counters."""
    box = {"model": 0, "scored": 0}
    inner_model, inner_score = den.x0_model, den.score

    def model(x, sigma):
        box["model"] += x.shape[0]
        return inner_model(x, sigma)

    def score(x0, mid_x0=None):
        box["scored"] += x0.shape[0]
        return inner_score(x0, mid_x0)

    den.x0_model, den.score = model, score
    return box


def test_strategies_registry():
    assert set(STRATEGIES) == {"random", "zero_order", "paths", "particles"}
    assert STRATEGIES["paths"] is PathsSearch


@pytest.mark.parametrize("algo", ["random", "zero_order", "paths"])
@pytest.mark.parametrize("solver", ["euler", "heun"])
@pytest.mark.parametrize("budget", [None, 8, 23, 45, 97, 400])
def test_reported_nfe_equals_counted_model_calls_and_stays_in_budget(algo, solver, budget):
    den = AnalyticDenoiser("ve", steps=8, solver=solver)
    one = den.cost(0, den.last)
    if budget is not None and budget < one:
        budget = one
    den.nfe, den.verifier_calls = 5, 2  # counters that do not start at zero
    box = counted(den)
    strat = small()[algo]
    res = strat.run(den, 3, max_batch=3, budget=budget)
    assert res.nfe == box["model"] == den.nfe - 5
    assert res.verifier_calls == box["scored"] == den.verifier_calls - 2
    assert res.verifier_calls == len(res.candidates)
    assert res.nfe <= strat.planned_nfe(den, budget)
    if budget is not None:
        assert res.nfe <= budget
    if algo != "zero_order":  # zero-order's plan is an upper bound (restarts)
        assert res.nfe == strat.planned_nfe(den, budget)
    assert all(b.nfe >= a.nfe for a, b in zip(res.candidates, res.candidates[1:]))
    assert res.candidates[-1].nfe == res.nfe


def test_budget_caps_the_search_below_its_settings():
    den = AnalyticDenoiser("ve", steps=10)
    res = ZeroOrderSearch(4, 0.5, iterations=100).run(den, 1, budget=10 * 13)
    assert len(res.candidates) == 13 and res.nfe == 130
    res = RandomSearch(100).run(AnalyticDenoiser("ve", steps=10), 1, budget=57)
    assert len(res.candidates) == 5 and res.nfe == 50
    p = PathsSearch(n=8, m=4, start=4, delta_f=2, delta_b=4)
    den = AnalyticDenoiser("ve", steps=10)
    n, m = p.fit(den, 150)
    assert p.plan_nfe(den, n, m) <= 150 < p.plan_nfe(den, 8, 4)
    assert p.run(den, 1, budget=150).nfe == p.plan_nfe(den, n, m)
    # between one trajectory and one path: best-of-k plain samples
    assert p.plan_nfe(den, 1, 1) == 4 + 14
    n, m = p.fit(den, 17)
    assert m == 0 and n == 1
    res = p.run(AnalyticDenoiser("ve", steps=10), 1, budget=17)
    assert res.nfe == 10 and res.recipe["m"] == 0
    assert torch.equal(replay(AnalyticDenoiser("ve", steps=10), res.recipe), res.best_latent)
    # a single path chooses nothing: with two trajectories' worth, best-of-2 is run instead
    assert p.fit(den, 20) == (2, 0) and p.fit(den, 18) == (1, 1)
    assert p.fit(den, 4 + 2 * 14) == (1, 2)


def outcome(res):
    return (res.best_latent, res.best_noise, res.best_score, res.best_seed, res.nfe,
            [(c.index, c.score, c.seed, c.stage, c.parent, c.nfe) for c in res.candidates], res.recipe)


def same(a, b):
    for x, y in zip(outcome(a), outcome(b)):
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y)
        else:
            assert x == y


@pytest.mark.parametrize("algo", ["random", "zero_order", "paths"])
@pytest.mark.parametrize("param,solver,mid", [("ve", "euler_ancestral", None), ("flow", "heun", None),
                                              ("flow", "euler_ancestral", 2), ("ve", "euler", 5)])
def test_bit_identical_for_any_max_batch_and_repeatable(algo, param, solver, mid):
    def go(max_batch):
        den = AnalyticDenoiser(param, steps=8, solver=solver, mid_index=mid, mean_shift=0.3)
        return small()[algo].run(den, 77, max_batch=max_batch, budget=None)

    ref = go(1)
    for mb in (3, 8, 1):
        same(ref, go(mb))
    # a different seed gives a different search
    other = small()[algo].run(AnalyticDenoiser(param, steps=8, solver=solver, mid_index=mid, mean_shift=0.3), 1077)
    assert not torch.equal(other.best_latent, ref.best_latent)


@pytest.mark.parametrize("algo", ["random", "zero_order", "paths"])
def test_progress_once_per_scored_candidate(algo):
    events = []
    den = AnalyticDenoiser("ve", steps=8)
    res = small()[algo].run(den, 5, max_batch=3, budget=200, progress=events.append)
    assert len(events) == len(res.candidates) == res.verifier_calls
    assert [e["index"] for e in events] == list(range(len(events)))
    assert all(e["budget"] == 200 for e in events)
    best = [e["best"] for e in events]
    # the best of the finished samples (x0 predictions of paths are intermediate, not a best)
    assert best == sorted(best) and best[-1] == max(e["score"] for e in events if not e["intermediate"])
    assert all(0 < e["nfe"] <= 200 for e in events)


@pytest.mark.parametrize("param,solver", [("ve", "euler_ancestral"), ("flow", "euler")])
def test_zero_order_recipe_rebuilds_the_winner(param, solver):
    den = AnalyticDenoiser(param, steps=8, solver=solver, mean_shift=0.3)
    res = ZeroOrderSearch(3, 0.4, 12).run(den, 9, max_batch=4)
    w = res.recipe["winner"]
    noise = reconstruct_noise(den.latent_shape, w["pivot_seed"], w["draws"], res.recipe["lam"])
    assert torch.equal(noise, res.best_noise)
    assert torch.equal(den.sample(noise, den.last, [w["row_seed"]]), res.best_latent)
    assert (res.best_seed is None) == bool(w["draws"])
    assert float(den.score(res.best_latent)[0]) == res.best_score == max(c.score for c in res.candidates)


def test_zero_order_moves_and_restarts():
    den = AnalyticDenoiser("ve", steps=8, mean_shift=0.3)
    res = ZeroOrderSearch(n_neighbors=2, lam=0.3, iterations=30).run(den, 4)
    rec = res.recipe
    assert rec["restarts"], "30 iterations of 2 neighbours should hit a local optimum"
    moves = [c for c in res.candidates if c.info["role"] == "neighbor"]
    assert moves and all(c.parent is not None for c in moves)
    for k in rec["restarts"]:
        if k < rec["iterations_run"]:
            fresh = [c for c in res.candidates if c.info["iteration"] == k + 1 and c.info["role"] == "pivot"]
            assert len(fresh) == 1 and fresh[0].seed == derive_seed(4, k + 1, 0)
    assert {"iteration": 1, "seed": 4} == rec["pivots"][0]
    assert len(rec["pivots"]) == 1 + sum(1 for k in rec["restarts"] if k < rec["iterations_run"])
    # the pivot of each iteration (its neighbours' parent): a better neighbour replaces it, so
    # between restarts the pivot's score strictly rises, and at least one such move happened
    pivot_of = {}
    for c in moves:
        pivot_of.setdefault(c.info["iteration"], c.parent)
    moved = 0
    for k in range(2, rec["iterations_run"] + 1):
        if k - 1 in rec["restarts"] or k not in pivot_of or k - 1 not in pivot_of:
            continue
        prev, cur = res.candidates[pivot_of[k - 1]], res.candidates[pivot_of[k]]
        best_child = max((c for c in moves if c.info["iteration"] == k - 1), key=lambda c: c.score)
        assert cur.index == best_child.index and cur.score > prev.score
        moved += 1
    assert moved >= 1


@pytest.mark.parametrize("lam", [0.2, 0.5, 0.9])
def test_zero_order_neighbours_have_gaussian_norms(lam):
    """Neighbours of Gaussian pivots have the norm distribution of fresh Gaussian noise (two-sample
    Kolmogorov-Smirnov statistic below the 0.1% critical value), sit at the documented distance,
    and pull an atypical pivot's norm back towards the Gaussian shell."""
    D, n = 64, 4000
    g = torch.Generator().manual_seed(3)
    pivots = torch.randn(n, D, generator=g)
    nb = neighbor_noise(pivots, torch.randn(n, D, generator=g), lam)
    fresh = torch.randn(n, D, generator=g)
    a, b = nb.norm(dim=1).sort().values, fresh.norm(dim=1).sort().values
    grid = torch.cat([a, b])
    cdf_a = torch.searchsorted(a, grid, right=True).double() / n
    cdf_b = torch.searchsorted(b, grid, right=True).double() / n
    ks = float((cdf_a - cdf_b).abs().max())
    assert ks < 1.95 * math.sqrt(2 / n), ks
    dist2 = float(((nb - pivots) ** 2).sum(1).mean() / D)
    assert dist2 == pytest.approx(2 * (1 - math.sqrt(1 - lam * lam)), rel=0.05)
    big = 2.0 * pivots  # |p|^2 ~ 4D
    nb_big = neighbor_noise(big, torch.randn(n, D, generator=g), lam)
    expect = (1 - lam * lam) * 4 * D + lam * lam * D
    assert float((nb_big ** 2).sum(1).mean()) == pytest.approx(expect, rel=0.03)


@pytest.mark.parametrize("param,solver,mid", [("ve", "euler_ancestral", None), ("flow", "heun", 3),
                                              ("ve", "euler", 7)])
def test_paths_recipe_replays_the_winner(param, solver, mid):
    den = AnalyticDenoiser(param, steps=12, solver=solver, mid_index=mid, mean_shift=0.3)
    strat = PathsSearch(n=3, m=3, start=0.25, delta_f=2, delta_b=3)
    res = strat.run(den, 21, max_batch=4)
    rec = res.recipe
    assert rec["start_index"] == 3 and rec["hops"][-1][2] == den.last
    assert len(rec["winner"]["draws"]) == len(rec["hops"])
    assert torch.equal(replay(den, rec), res.best_latent)
    assert torch.equal(res.best_noise, noise_batch(den.latent_shape, [rec["winner"]["root_seed"]]))
    assert 21 <= rec["winner"]["root_seed"] < 24
    # lineage: the winner's parent chain visits one candidate per hop
    c = res.candidates[rec["winner"]["candidate"]]
    chain = [c]
    while chain[-1].parent is not None:
        chain.append(res.candidates[chain[-1].parent])
    assert [x.info["draw_seed"] for x in reversed(chain)] == rec["winner"]["draws"]
    assert res.best_score == c.score == max(res.candidates[i].score for i in res.final_candidates)
    # every generation keeps the top n of its n*m copies
    for h in range(len(rec["hops"]) - 1):
        gen = [x for x in res.candidates if x.info["hop"] == h]
        kids = {x.parent for x in res.candidates if x.info["hop"] == h + 1}
        top = sorted(gen, key=lambda x: (-x.score, x.index))[:3]
        assert kids == {x.index for x in top}


def test_paths_hops_clip_to_the_end():
    from search.paths import hop_plan
    assert hop_plan(10, 4, 2, 4) == [(4, 2, 6), (6, 4, 8), (8, 6, 10)]
    assert hop_plan(10, 4, 1, 5) == [(4, 3, 8), (8, 7, 10)]


BAD = [
    (lambda: RandomSearch(n=0), None, "n"),
    (lambda: ZeroOrderSearch(n_neighbors=0), None, "n_neighbors"),
    (lambda: ZeroOrderSearch(lam=-0.1), None, "lam"),
    (lambda: ZeroOrderSearch(lam=float("nan")), None, "lam"),
    (lambda: ZeroOrderSearch(lam=1.5), None, "lam"),
    (lambda: ZeroOrderSearch(iterations=0), None, "iterations"),
    (lambda: PathsSearch(n=0), None, "n \\(N"),
    (lambda: PathsSearch(m=0), None, "m \\(M"),
    (lambda: PathsSearch(delta_f=3, delta_b=3), None, "delta_b"),
    (lambda: PathsSearch(delta_f=3, delta_b=2), None, "delta_b"),
    (lambda: PathsSearch(delta_f=0, delta_b=2), None, "delta_f"),
    (lambda: PathsSearch(start=1, delta_f=2, delta_b=3), None, "start"),
    (lambda: PathsSearch(start=10), None, "start"),
    (lambda: PathsSearch(start=-1), None, "start"),
    (lambda: PathsSearch(start=1.5), None, "start"),
    (lambda: RandomSearch(n=3), 9, "budget"),
    (lambda: ZeroOrderSearch(), 9, "budget"),
    (lambda: PathsSearch(), 9, "budget"),
]


@pytest.mark.parametrize("make,budget,name", BAD)
def test_bad_settings_raise_value_error_naming_the_input(make, budget, name):
    den = AnalyticDenoiser("ve", steps=10)
    strat = make()
    with pytest.raises(ValueError, match=name):
        strat.validate(den, budget)
    with pytest.raises(ValueError, match=name):
        strat.run(den, 0, budget=budget)
    assert den.nfe == 0


@pytest.mark.parametrize("algo", ["random", "zero_order", "paths"])
def test_report_is_json_and_names_the_winner(algo):
    import json
    den = AnalyticDenoiser("flow", steps=8, solver="euler_ancestral")
    res = small()[algo].run(den, 12, max_batch=2)
    rep = json.loads(json.dumps(res.report()))
    assert rep["algorithm"] == algo
    assert rep["totals"] == {"nfe": res.nfe, "verifier_calls": res.verifier_calls, "candidates": len(res.candidates)}
    assert rep["best"]["score"] == res.best_score
    assert res.best_latent.shape == (1, *den.latent_shape) == res.best_noise.shape
