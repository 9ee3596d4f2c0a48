"""Particle search: the review's findings (issue 17, items 1-7), each pinned by a test that failed
before its fix."""
import json
import math

import pytest
import torch

from search import ParticleSearch
from search.particles import ParticleReplay, ess, normalise
from tests.analytic import AnalyticDenoiser


def make(param="ve", solver="euler", **kw):
    return AnalyticDenoiser(param, steps=10, solver=solver, mean_shift=0.25, **kw)


def particles(**kw):
    return ParticleSearch(**{"n": 4, "resample_every": 3, "potential": "max", "lam": 10.0, **kw})


def recording(den):
    """Wrap ``den.score`` to record every (x0, mid_x0) pair it is given."""
    seen, real = [], den.score

    def score(x0, mid_x0=None):
        seen.append((x0.clone(), None if mid_x0 is None else mid_x0.clone()))
        return real(x0, mid_x0)

    den.score = score
    return seen


# ---- item 2: an x0 is never compared with itself ------------------------------------------------
@pytest.mark.parametrize("solver,mid,every", [(s, m, e) for s in ("euler", "euler_ancestral")
                                               for m, e in [(6, 3), (4, 3), (2, 3), (5, 2), (3, 2)]]
                         + [("euler_ancestral", 3, 1), ("euler_ancestral", 0, 1)])
def test_mid_x0_verifier_never_compares_an_x0_with_itself(solver, mid, every):
    den = make("flow", solver, mid_index=mid)
    seen = recording(den)
    ps = particles(resample_every=every)
    res = ps.run(den, 3)
    assert res.nfe == ps.planned_nfe(den) == den.nfe
    for x0, m in seen:
        assert m is not None
        for r in range(x0.shape[0]):
            assert not torch.equal(x0[r], m[r]), "an x0 prediction was scored against itself"


# ---- item 3: replay scores with the winner's own mid x0 ----------------------------------------
@pytest.mark.parametrize("solver", ["euler", "euler_ancestral"])
@pytest.mark.parametrize("mid", [2, 4, 8])
def test_replay_reports_the_searchs_score_with_a_mid_x0_verifier(solver, mid):
    res = particles(ess_min=1.0).run(make("flow", solver, mid_index=mid), 8)
    rec = json.loads(json.dumps(res.report()))["recipe"]
    den = make("flow", solver, mid_index=mid)
    out = ParticleReplay(recipe=rec).run(den, 0)
    assert torch.equal(out.best_latent, res.best_latent)
    assert out.best_score == res.best_score


# ---- item 5: equal weights are never resampled ---------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 5, 6, 7, 10, 14, 20, 33, 100, 1000])
def test_uniform_weights_have_ess_n(n):
    w = normalise(torch.full((n,), 0.7, dtype=torch.float64))
    assert ess(w) == n


@pytest.mark.parametrize("n", [5, 6, 10, 14, 20])
def test_equal_scores_with_threshold_one_do_not_resample(n):
    den = make()
    den.score = lambda x0, mid_x0=None: torch.full((x0.shape[0],), 0.25)
    res = particles(n=n, ess_min=1.0).run(den, 1)
    assert res.recipe["events"] and not any(e["resampled"] for e in res.recipe["events"])


# ---- item 4: λ is scale-free ---------------------------------------------------------------------
def affine(den, a, b):
    real = den.score
    den.score = lambda x0, mid_x0=None: a * real(x0, mid_x0).double() + b
    return den


@pytest.mark.parametrize("potential", ["max", "difference", "sum"])
@pytest.mark.parametrize("solver", ["euler", "euler_ancestral"])
@pytest.mark.parametrize("a,b", [(0.01, 0.3), (37.0, -120.0), (1.0, 1000.0)])
def test_affine_rescaling_of_the_verifier_leaves_weights_resampling_and_winner_unchanged(potential, solver, a, b):
    ps = particles(n=8, potential=potential, lam=1.0, ess_min=0.9)
    base = ps.run(make("ve", solver), 21)
    res = ps.run(affine(make("ve", solver), a, b), 21)
    e0, e1 = base.recipe["events"], res.recipe["events"]
    assert any(e["resampled"] for e in e0)
    for p, q in zip(e0, e1):
        assert q["weights"] == pytest.approx(p["weights"], rel=1e-6, abs=1e-12)
        assert (q["resampled"], q["ancestors"]) == (p["resampled"], p["ancestors"])
    assert res.recipe["winner"] == base.recipe["winner"]
    assert torch.equal(res.best_latent, base.best_latent)


# ---- item 6: the live best is the best finished score --------------------------------------------
@pytest.mark.parametrize("strategy", ["particles", "paths"])
def test_live_best_is_the_best_finished_score_and_intermediates_say_so(strategy):
    from search import PathsSearch
    events = []
    s = particles(n=4, ess_min=1.0) if strategy == "particles" else PathsSearch(n=2, m=2, start=3, delta_f=1,
                                                                                 delta_b=3)
    s.run(make("flow"), 5, progress=events.append)
    assert any(e["intermediate"] for e in events) and any(not e["intermediate"] for e in events)
    finals, inter = [], []
    for e in events:
        assert e["intermediate"] == (e["stage"] != "final")
        (inter if e["intermediate"] else finals).append(e["score"])
        assert e["best"] == (max(finals) if finals else -math.inf)
        assert e["best_intermediate"] == (max(inter) if inter else -math.inf)
