"""search.noise.renoise to sigma = 1 on a flow model: the state is pure noise, eps itself."""
import torch

from search.noise import renoise, seeded_noise


def test_flow_renoise_to_sigma_one_is_exactly_eps():
    x = seeded_noise([1, 4, 8, 8], 1) * 3.0
    eps = seeded_noise([1, 4, 8, 8], 2)
    assert torch.equal(renoise(x, 0.5, 1.0, eps, "flow"), eps)


def test_flow_renoise_to_sigma_one_ignores_a_non_finite_state():
    # r = 0 leaves nothing of x; 0 * inf must not turn the fresh noise into NaN
    x = torch.full((1, 4, 2, 2), float("inf"))
    eps = seeded_noise([1, 4, 2, 2], 3)
    out = renoise(x, 0.2, 1.0, eps, "flow")
    assert torch.isfinite(out).all() and torch.equal(out, eps)
