"""Search works: on the analytic model the selected sample's true score rises with the budget and
beats spending the same NFE on more denoising steps.

Set-up: Euler, 10 steps (T = 10 NFE per trajectory), an imperfect model (mean_shift 0.25), the
verifier = the true log-density under the rare target component (weight 0.15). Budgets 1x, 4x and
16x T; 24 run seeds. Margins (nats of mean log-density), stated here and asserted below:
  - rising: mean(4x) >= mean(1x) + RISE_4 and mean(16x) >= mean(4x) + RISE_16
  - versus no search at equal NFE (one sample with 4x / 16x the steps, same seeds):
    search(4x) >= steps(4x) + BEAT_4 and search(16x) >= steps(16x) + BEAT_16
"""
import pytest
import torch

from search import PathsSearch, RandomSearch, ZeroOrderSearch
from search.noise import noise_batch
from tests.analytic import AnalyticDenoiser

SEEDS = [1009 * s + 17 for s in range(24)]
STEPS = 10
MULTS = (1, 4, 16)
RISE_4, RISE_16 = 2.0, 2.0
BEAT_4, BEAT_16 = 4.0, 15.0

ALGOS = {
    "random": lambda: RandomSearch(n=10_000),
    "zero_order": lambda: ZeroOrderSearch(n_neighbors=4, lam=0.5, iterations=10_000),
    "paths": lambda: PathsSearch(n=16, m=4, start=4, delta_f=2, delta_b=4),
}
CONFIGS = [("ve", "euler"), ("flow", "heun")]


def make(param, solver, steps=STEPS):
    return AnalyticDenoiser(param, steps=steps, solver=solver, mean_shift=0.25)


def mean_search_score(algo, param, solver, mult):
    vals = []
    for s in SEEDS:
        den = make(param, solver)
        budget = mult * den.cost(0, den.last)
        res = ALGOS[algo]().run(den, s, max_batch=8, budget=budget)
        assert res.nfe <= budget
        vals.append(float(den.true_score(res.best_latent)[0]))
    return sum(vals) / len(vals)


def mean_more_steps_score(param, solver, mult):
    """No search: one sample per seed whose solver runs more steps for the same NFE."""
    base = make(param, solver)
    nfe = mult * base.cost(0, base.last)
    steps = STEPS
    while make(param, solver, steps + 1).cost(0, steps + 1) <= nfe:
        steps += 1
    den = make(param, solver, steps)
    assert den.cost(0, den.last) <= nfe
    x = den.sample(noise_batch(den.latent_shape, SEEDS), den.last, SEEDS)
    return float(den.true_score(x).mean())


@pytest.mark.parametrize("param,solver", CONFIGS)
@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_score_rises_with_budget_and_beats_more_steps(algo, param, solver):
    m = {k: mean_search_score(algo, param, solver, k) for k in MULTS}
    steps = {k: mean_more_steps_score(param, solver, k) for k in MULTS}
    msg = f"{algo} {param}/{solver}: search {m}, more steps {steps}"
    # 1x: every algorithm is the plain sample of the run seed
    assert m[1] == pytest.approx(steps[1]), msg
    assert m[4] >= m[1] + RISE_4, msg
    assert m[16] >= m[4] + RISE_16, msg
    assert m[4] >= steps[4] + BEAT_4, msg
    assert m[16] >= steps[16] + BEAT_16, msg


def test_budget_of_one_trajectory_is_the_stock_sample_for_every_algorithm():
    den = make("ve", "euler")
    plain = den.sample(noise_batch(den.latent_shape, [42]), den.last, [42])
    for algo in ALGOS.values():
        res = algo().run(make("ve", "euler"), 42, budget=STEPS)
        assert torch.equal(res.best_latent, plain)
        assert res.nfe == STEPS
