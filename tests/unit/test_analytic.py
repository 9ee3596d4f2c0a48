"""The analytic Gaussian-mixture test bed is itself correct (it is the yardstick for the rest)."""
import math

import pytest
import torch

from search.noise import noise_batch
from search.protocol import Denoiser
from tests.analytic import AnalyticDenoiser, default_mixture


def test_implements_protocol():
    assert isinstance(AnalyticDenoiser(), Denoiser)


@pytest.mark.parametrize("param", ["ve", "flow"])
def test_posterior_mean_matches_monte_carlo(param):
    """E[x0 | x_sigma] in closed form equals a Monte-Carlo posterior mean (self-normalised
    importance weights over prior samples) at a few test points."""
    mix = default_mixture()
    g = torch.Generator().manual_seed(0)
    x0 = mix.sample(200_000, g)
    for sigma in (0.3, 0.8):
        a = 1.0 if param == "ve" else 1.0 - sigma
        pts = a * mix.means[[0, 2]] + 0.4
        exact = mix.posterior_mean(pts, sigma, param)
        for p, e in zip(pts, exact):
            logw = -0.5 * (((p - a * x0) / sigma) ** 2).sum(-1)
            w = torch.softmax(logw, 0)
            mc = (w.unsqueeze(-1) * x0).sum(0)
            assert torch.allclose(mc, e, atol=0.05), (sigma, mc, e)


@pytest.mark.parametrize("param", ["ve", "flow"])
def test_fine_heun_samples_have_the_data_moments(param):
    den = AnalyticDenoiser(param, steps=40, solver="heun")
    seeds = list(range(3000))
    x = den.sample(noise_batch(den.latent_shape, seeds), den.last, seeds).double()
    mean, var = den.mixture.marginal_moments(0.0, param)
    se = (var / len(seeds)).sqrt()
    assert ((x.mean(0) - mean).abs() < 5 * se + 0.02).all(), (x.mean(0), mean)
    assert ((x.var(0) / var - 1).abs() < 0.12).all(), (x.var(0), var)
    # and about a fraction w_target of samples lands in the target component
    hit = (den.true_score(x) > -10).double().mean()
    assert abs(float(hit) - float(den.mixture.weights[0])) < 0.03


@pytest.mark.parametrize("solver", ["euler", "heun", "euler_ancestral"])
@pytest.mark.parametrize("param", ["ve", "flow"])
def test_cost_equals_counted_model_calls_and_x0_at_is_free(param, solver):
    den = AnalyticDenoiser(param, steps=8, solver=solver)
    calls = []
    inner = den.x0_model
    den.x0_model = lambda x, s: (calls.append(x.shape[0]), inner(x, s))[1]
    seeds = [3, 4, 5]
    noise = noise_batch(den.latent_shape, seeds)
    x = den.sample(noise, 5, seeds)
    assert sum(calls) == den.nfe == 3 * den.cost(0, 5)
    before = den.nfe
    y, x0 = den.denoise(x, 5, den.last, seeds, x0_at=6)
    assert den.nfe - before == 3 * den.cost(5, den.last) == sum(calls) - before
    # the captured prediction is what the model says for the state at index 6
    x6 = den.denoise(x, 5, 6, seeds)
    assert torch.equal(x0, den.predict_x0(x6, 6))
    full = den.sample(noise, den.last, seeds)
    assert torch.equal(full, y)  # splitting a trajectory changes nothing


def test_heun_costs_two_per_step_but_one_on_the_last():
    den = AnalyticDenoiser("ve", steps=6, solver="heun")
    assert den.cost(0, 6) == 2 * 5 + 1
    assert den.cost(0, 5) == 10


@pytest.mark.parametrize("param", ["ve", "flow"])
def test_ancestral_rows_depend_only_on_their_own_seed(param):
    den = AnalyticDenoiser(param, steps=8, solver="euler_ancestral")
    noise = noise_batch(den.latent_shape, [11, 12, 13])
    together = den.sample(noise, den.last, [11, 12, 13])
    alone = den.sample(noise[1:2], den.last, [12])
    assert torch.equal(together[1:2], alone)
    # the same starting noise with another row seed takes another path
    other = den.sample(noise[1:2], den.last, [99])
    assert not torch.allclose(other, alone)


def test_verifier_counts_and_biased_option():
    den = AnalyticDenoiser(verifier="biased", beta=2.0)
    x = torch.zeros(5, 4)
    x[:, 0] = 3.0
    s = den.score(x)
    assert den.verifier_calls == 5
    shifted = x + den.bias_direction.float()
    gain = den.score(shifted) - den.true_score(shifted).float()
    assert torch.allclose(gain, 2.0 * (shifted.double() @ den.bias_direction).float(), atol=1e-5)
    assert torch.allclose(s, den.true_score(x).float() + 2.0 * float(x[0].double() @ den.bias_direction))
    assert den.verifier_calls == 10  # true_score counts nothing
    assert math.isclose(float(den.true_score(x)[0]),
                        float(den.mixture.component_log_prob(x[:1], 0)[0]))


def test_uneven_mixture_target_is_rare_and_narrow():
    from tests.analytic import uneven_mixture
    mix = uneven_mixture()
    assert mix.weights.sum().item() == pytest.approx(1.0) and mix.weights[0] == mix.weights.min()
    assert mix.stds[0].max() < mix.stds[1:].min()
    x = mix.sample(20_000, torch.Generator().manual_seed(1))
    near = ((x - mix.means[0]).norm(dim=-1) < 0.5).double().mean()
    assert 0.02 < near < 0.08  # a plain sample lands near the target only rarely
    den = AnalyticDenoiser(mixture=mix)
    out = den.sample(noise_batch(den.latent_shape, [1, 2]), den.last, [1, 2])
    assert torch.isfinite(den.true_score(out)).all()
